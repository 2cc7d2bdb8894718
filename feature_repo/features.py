"""Feast definitions: the `symbol` entity, the technical feature view and the feature service.

Training reads these features only through ``get_historical_features`` and serving only through
``get_online_features`` on the same FeatureService, so both paths see one definition.

The objects are built by a function so the platform can point the offline source at any state
directory; the module-level objects below are what ``feast apply`` picks up by hand.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

# Keep in step with quant_assets.core.features.FEATURE_COLUMNS (a test asserts they are equal).
TECHNICAL_FEATURES = (
    "ret_1d", "ret_5d", "ret_20d", "close_sma_20", "close_sma_50", "close_ema_20", "rsi_14",
    "macd", "macd_signal", "macd_hist", "bb_width_20", "bb_pctb_20", "atr_14_pct", "obv_slope_20",
    "volatility_20", "volume_ratio_20",
)  # fmt: skip

FEATURE_SERVICE_NAME = "technical_v1"
# A feature older than this is not joined: a week covers weekends and market holidays.
FEATURE_TTL = timedelta(days=7)


def offline_features_path(quant_home: str | os.PathLike) -> Path:
    return Path(quant_home) / "feast" / "offline" / "technical_features.parquet"


def build_feature_definitions(
    quant_home: str | os.PathLike,
    feature_names: tuple[str, ...] | list[str] = TECHNICAL_FEATURES,
    service_name: str = FEATURE_SERVICE_NAME,
) -> dict[str, object]:
    """Entity, source, view and service reading the offline Parquet under ``quant_home``.

    The platform passes the columns of its configured feature set (``QUANT_FEATURE_SET``) and names the
    service after it; by hand (``feast apply``) the default is ``technical_v1``."""
    symbol = Entity(
        name="symbol",
        join_keys=["symbol"],
        value_type=ValueType.STRING,
        description="Ticker symbol, upper case",
    )
    source = FileSource(
        name="technical_features_source",
        path=str(offline_features_path(quant_home)),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        description="Daily technical indicators; event_timestamp = trading date (known at its close).",
    )
    view = FeatureView(
        name="technical_features",
        entities=[symbol],
        ttl=FEATURE_TTL,
        schema=[Field(name=name, dtype=Float64) for name in feature_names],
        source=source,
        online=True,
        description="TA-Lib indicators computed per symbol from validated daily bars.",
    )
    service = FeatureService(
        name=service_name,
        features=[view],
        description="Features of the return forecaster, for training and serving.",
    )
    return {"symbol": symbol, "source": source, "view": view, "service": service}


_defaults = build_feature_definitions(
    os.environ.get("QUANT_HOME", Path(__file__).resolve().parent.parent / ".quant")
)
symbol = _defaults["symbol"]
technical_features_source = _defaults["source"]
technical_features = _defaults["view"]
technical_v1 = _defaults["service"]
