"""Request and response bodies of the HTTP API (pydantic), shared by the routes and the OpenAPI document.

Bodies forbid unknown fields so a typo (``symbl``) is a 422 naming it rather than a silently ignored key.
Structural problems (types, missing fields) fail the request; domain rules on bars (OHLC order, weekend,
future dates) are judged per row by the shared validation in ``quant_assets.core.validation``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# Letters, digits, '.' and '-' (BRK.B, BF-B), at most 16 characters; stripped, then upper-cased.
Symbol = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$"),
    AfterValidator(str.upper),
]
MAX_BATCH_SYMBOLS = 1000
MAX_BARS_PER_REQUEST = 5000
MAX_PORTFOLIO_NAMES = 1000
# Bars outside these dates cannot be real and would not fit the platform's timestamps (pandas: 1677-2262).
EARLIEST_DATE, LATEST_DATE = dt.date(1800, 1, 1), dt.date(2200, 12, 31)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(Strict):
    symbol: Symbol = Field(description="Ticker symbol, e.g. AAPL (case-insensitive)")
    features: list[float | None] | None = Field(
        default=None,
        max_length=256,
        description="Optional feature values in the model's feature order (null = missing); "
        "omit to read the newest features from the Feast online store",
    )


class BatchPredictRequest(Strict):
    symbols: list[Symbol] = Field(
        min_length=1, max_length=MAX_BATCH_SYMBOLS, description="Symbols to forecast from the online store"
    )


class Prediction(BaseModel):
    symbol: str
    prediction: float = Field(description="Expected simple return over horizon_days trading days")
    confidence: float = Field(description="Calibrated probability that the predicted direction is right")
    model_version: str = Field(description="MLflow registry version of the model that answered")
    as_of: str | None = Field(
        description="Event time of the online features used (null for request features)"
    )
    horizon_days: int
    feature_age_days: int | None = Field(
        description="Calendar days between as_of and the freshness reference date (null for request features)"
    )
    stale: bool | None = Field(
        description="True when the online features are older than the freshness window; the forecast is "
        "still returned, but should not be acted on blindly (null for request features)"
    )
    warnings: list[str] = Field(default_factory=list)


class BatchPredictions(BaseModel):
    model_version: str
    predictions: list[Prediction]
    unknown_symbols: list[str] = Field(description="Requested symbols the online store has no features for")


class Bar(Strict):
    symbol: Symbol
    date: dt.date = Field(
        ge=EARLIEST_DATE, le=LATEST_DATE, description="Trading date, YYYY-MM-DD (1800-01-01 to 2200-12-31)"
    )
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


class RejectedBar(BaseModel):
    row: int = Field(description="Position of the bar in the request (0 for a single bar)")
    symbol: str
    date: str
    reason: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[RejectedBar]
    landing_file: str | None = Field(
        description="Key of the file written in the landing zone, e.g. api/<stamp>-<uuid>.csv "
        "(null when nothing was accepted)"
    )
    landing_uri: str | None = Field(
        default=None, description="Where that file is: a path or s3://bucket/key (null when nothing accepted)"
    )


class PortfolioUpdate(Strict):
    weights: dict[Symbol, float] = Field(
        min_length=1, max_length=MAX_PORTFOLIO_NAMES, description="Long-only weights by symbol, summing to 1"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_symbol_twice(cls, data: object) -> object:
        """``aapl`` and ``AAPL`` are one symbol; a dict would silently keep only the last weight."""
        weights = data.get("weights") if isinstance(data, dict) else None
        if isinstance(weights, dict):
            seen: set[str] = set()
            for key in weights:
                name = str(key).strip().upper()
                if name in seen:
                    raise ValueError(
                        f"weights: symbol {name} is given more than once (symbols are case-insensitive)"
                    )
                seen.add(name)
        return data


class PortfolioVersion(BaseModel):
    version: int
    weights: dict[str, float]
    updated_at: str
    submitted_by: str = Field(description="Fingerprint of the API key that stored it (never the key)")
    model_version: str = Field(description="Model version served when the weights were stored")


class ModelInfo(BaseModel):
    model_id: str
    version: str
    status: str = Field(description="champion, challenger or registered (in the MLflow registry)")
    serving: bool = Field(description="Whether this server answers with this version")
    aliases: list[str]
    last_updated: str
    metrics: dict[str, float]


class ErrorBody(BaseModel):
    error: str
    detail: list[dict] | None = None


def _discriminate_predict(body: object) -> str | None:
    """``{"symbols": [...]}`` is the batch form; any other object is a single request."""
    if isinstance(body, dict):
        return "batch" if "symbols" in body else "single"
    if isinstance(body, BaseModel):
        return "batch" if isinstance(body, BatchPredictRequest) else "single"
    return None


def _discriminate_bars(body: object) -> str | None:
    if isinstance(body, list):
        return "bars"
    if isinstance(body, dict | BaseModel):
        return "bar"
    return None


PredictBody = Annotated[
    Annotated[PredictRequest, Tag("single")] | Annotated[BatchPredictRequest, Tag("batch")],
    Discriminator(
        _discriminate_predict,
        custom_error_type="invalid_body",
        custom_error_message="the body must be an object: {symbol, features?} or {symbols: [...]}",
    ),
]
BarsBody = Annotated[
    Annotated[Bar, Tag("bar")]
    | Annotated[list[Bar], Tag("bars"), Field(min_length=1, max_length=MAX_BARS_PER_REQUEST)],
    Discriminator(
        _discriminate_bars,
        custom_error_type="invalid_body",
        custom_error_message="the body must be one bar (an object) or a list of bars",
    ),
]
UNION_TAGS = ("single", "batch", "bar", "bars")
