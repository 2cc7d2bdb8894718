"""pandera schemas: the contracts between layers of the graph.

A schema here is used twice: row-level checks decide which bars are quarantined, and the same
schema, validated whole, is the blocking asset check that guards everything downstream.
"""

from __future__ import annotations

import pandera.pandas as pa

BAR_COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")


def _ohlc_consistent(df):
    """low <= min(open, close) and max(open, close) <= high, row by row."""
    lower = df[["open", "close"]].min(axis=1)
    upper = df[["open", "close"]].max(axis=1)
    return (df["low"] <= lower) & (upper <= df["high"])


_positive_price = pa.Column(float, pa.Check.gt(0), nullable=False)

VALID_BARS_SCHEMA = pa.DataFrameSchema(
    {
        "symbol": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        "date": pa.Column("datetime64[ns]", nullable=False),
        "open": _positive_price,
        "high": _positive_price,
        "low": _positive_price,
        "close": _positive_price,
        "volume": pa.Column(float, pa.Check.ge(0), nullable=False),
        # After corporate-action adjustment (core/corporate_actions.py) the prices as traded stay beside
        # the adjusted ones, with the factors that link them; frames from before adjustment lack them.
        **{
            f"raw_{c}": pa.Column(float, pa.Check.ge(0), nullable=False, required=False)
            for c in ("open", "high", "low", "close", "volume")
        },
        "price_factor": pa.Column(float, pa.Check.gt(0), nullable=False, required=False),
        "volume_factor": pa.Column(float, pa.Check.gt(0), nullable=False, required=False),
    },
    checks=[
        pa.Check(
            _ohlc_consistent,
            error="OHLC inconsistent: need low <= min(open, close) <= max(open, close) <= high",
        )
    ],
    unique=["symbol", "date"],
    strict=True,
    ordered=False,
    coerce=False,
    name="ValidBars",
    description="Daily bars that passed validation: one row per (symbol, date), finite positive prices.",
)


def technical_features_schema(feature_columns: tuple[str, ...] | None = None) -> pa.DataFrameSchema:
    """Features per (symbol, date): NaN is allowed (short histories), infinities are not.

    Without ``feature_columns`` every column besides symbol and date must be such a float: the type of a
    feature set chosen by configuration (its exact columns are checked where it is built)."""
    finite_or_nan = pa.Check(
        lambda s: ~s.isin([float("inf"), float("-inf")]), element_wise=False, error="infinite value"
    )
    return pa.DataFrameSchema(
        {
            "symbol": pa.Column(str, nullable=False),
            "date": pa.Column("datetime64[ns]", nullable=False),
            **(
                {name: pa.Column(float, finite_or_nan, nullable=True) for name in feature_columns}
                if feature_columns is not None
                else {r"^(?!symbol$|date$).+$": pa.Column(float, finite_or_nan, nullable=True, regex=True)}
            ),
        },
        unique=["symbol", "date"],
        strict=True,
        name="TechnicalFeatures",
    )


def labels_schema(label: str) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "symbol": pa.Column(str, nullable=False),
            "date": pa.Column("datetime64[ns]", nullable=False),
            label: pa.Column(float, pa.Check.gt(-1.0), nullable=False),
            "exit_date": pa.Column("datetime64[ns]", nullable=False),
        },
        checks=pa.Check(lambda f: f["exit_date"] > f["date"], error="exit_date must be after date"),
        unique=["symbol", "date"],
        strict=True,
        name="ForwardReturnLabels",
    )
