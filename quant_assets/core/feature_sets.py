"""Feature sets by name: what a model sees is chosen by configuration, never by editing an asset.

A feature set is a function from long OHLCV bars to ``symbol, date, *columns`` (one row per bar, causal:
the value at t uses bars up to t only) and its column names. Two ship: ``technical_v1`` (16 TA-Lib
indicators, ``core.features``) and ``alpha158`` (157 Qlib-style columns, ``core.alpha_features``).
Add one with :func:`register_feature_set`; the prefix-invariance test in tests/unit runs on every
registered set, so a set that peeks ahead fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from quant_assets.core.alpha_features import ALPHA_FEATURE_COLUMNS, build_alpha_features
from quant_assets.core.features import FEATURE_COLUMNS, build_features

FeatureFunction = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class FeatureSet:
    name: str
    build: FeatureFunction
    columns: tuple[str, ...]
    description: str = ""


FEATURE_SETS: dict[str, FeatureSet] = {}


def register_feature_set(
    name: str, build: FeatureFunction, columns: tuple[str, ...] | list[str], description: str = ""
) -> FeatureSet:
    """Make ``build`` available as ``name`` (``quant train --features NAME``, ``QUANT_FEATURE_SET``)."""
    if not name.isidentifier():
        raise ValueError(f"a feature set name must be a plain identifier, got {name!r}")
    columns = tuple(columns)
    if len(set(columns)) != len(columns) or {"symbol", "date"} & set(columns):
        raise ValueError(f"feature set {name!r}: columns must be unique and not 'symbol' or 'date'")
    FEATURE_SETS[name] = FeatureSet(name, build, columns, description)
    return FEATURE_SETS[name]


def feature_set(name: str) -> FeatureSet:
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise ValueError(f"unknown feature set {name!r}; known: {', '.join(sorted(FEATURE_SETS))}") from None


def build_feature_set(name: str, bars: pd.DataFrame) -> pd.DataFrame:
    """The named set's features for ``bars``, checked to have exactly its declared columns."""
    chosen = feature_set(name)
    frame = chosen.build(bars)
    expected = ["symbol", "date", *chosen.columns]
    if list(frame.columns) != expected:
        raise ValueError(
            f"feature set {name!r} returned columns {list(frame.columns)[:8]}..., not {expected[:8]}..."
        )
    return frame


register_feature_set("technical_v1", build_features, FEATURE_COLUMNS, "16 TA-Lib indicators (the default)")
register_feature_set(
    "alpha158", build_alpha_features, ALPHA_FEATURE_COLUMNS, "157 Qlib Alpha158-style columns"
)
