"""Request and response bodies of the HTTP API (pydantic): the one place the API's rules are written.

The OpenAPI document is generated from these types, so every rule enforced here is also in the document
(patterns, lengths, ranges, required fields). Bodies forbid unknown fields so a typo (``symbl``) is a 422
naming it rather than a silently ignored key; numbers must be JSON numbers (``"1.5"`` or ``true`` are
refused, as the document says) and dates ``YYYY-MM-DD`` strings. Domain rules on bars (OHLC order,
weekend, future dates) are judged per row by the shared validation in ``quant_assets.core.validation``;
portfolio rules JSON Schema cannot state (weights sum to 1, symbols the online store knows, the trading
cycle's risk limits) are listed in the operation's 422 description.

Two bounds belong to the deployment, not the code: the model's feature count and the weight cap
(``QUANT_MAX_WEIGHT``). :data:`SERVING` holds them once a worker has loaded its model, and the document
states them from then on (``features`` has exactly that many items, weights at most the cap).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from quant_assets.brokers.base import FINAL_STATUSES, OPEN_STATUSES
from quant_assets.core.limit_checks import LIMIT_NAMES

# Letters, digits, '.' and '-' (BRK.B, BF-B), at most 16 characters; case-insensitive (upper-cased).
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$"
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN, to_upper=True)]
MAX_BATCH_SYMBOLS = 1000
MAX_BARS_PER_REQUEST = 5000
MAX_PORTFOLIO_NAMES = 1000
MAX_FEATURES = 256  # before a model is loaded; then exactly the model's count
# The model computes in float32: a feature beyond its range would become infinite there.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Bars are dated 1800-01-01 to 2200-12-31: earlier or later cannot be real, and would not fit the
# platform's timestamps (pandas: 1677-2262). The year range is the pattern; the calendar, pydantic's.
EARLIEST_DATE, LATEST_DATE = dt.date(1800, 1, 1), dt.date(2200, 12, 31)
DATE_PATTERN = r"^(18|19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$|^2200-[0-9]{2}-[0-9]{2}$"
_DATE = re.compile(DATE_PATTERN)
DEFAULT_MAX_WEIGHT = 0.10  # QUANT_MAX_WEIGHT's default
# The first ten names of the demo universe (universe.yaml), for the example portfolio.
EXAMPLE_SYMBOLS = ("AAPL", "AMZN", "ADBE", "AAL", "ABT", "ACN", "AIG", "AMGN", "AMD", "AXP")


@dataclass
class ServingBounds:
    """The deployment's own bounds, set by each worker once its model is loaded (None before)."""

    feature_count: int | None = None
    max_weight: float | None = None


SERVING = ServingBounds()


class _Stated:
    """JSON Schema keywords whose values are read when the document is generated (from :data:`SERVING`).

    Pydantic calls this for every document it generates, so ``/docs.json`` states this server's bounds.
    """

    def __init__(self, **keywords: Callable[[], Any]) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        for keyword, value in self.keywords.items():
            if (resolved := value()) is not None:
                schema[keyword] = resolved
        return schema


def _iso_date(value: object) -> object:
    if isinstance(value, str) and not _DATE.fullmatch(value):
        raise ValueError(f"dates are YYYY-MM-DD, from {EARLIEST_DATE} to {LATEST_DATE}")
    if not isinstance(value, str | dt.date) or isinstance(value, dt.datetime):
        raise ValueError("dates are strings, YYYY-MM-DD")
    return value


BarDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    Field(json_schema_extra={"pattern": DATE_PATTERN}),
]
Number = Annotated[float, Strict()]
Feature = Annotated[
    float, Strict(), Field(json_schema_extra={"minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX})
]
Weight = Annotated[
    float,
    Strict(),
    _Stated(minimum=lambda: 0, maximum=lambda: SERVING.max_weight if SERVING.max_weight else 1),
]


def _finite_or_none(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# A measured figure in an answer: a value that could not be computed (NaN, inf) is null, which JSON can carry.
Figure = Annotated[float | None, BeforeValidator(_finite_or_none)]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(Closed):
    symbol: Symbol = Field(description="Ticker symbol, e.g. AAPL (case-insensitive)")
    features: (
        Annotated[
            list[Feature | None],
            Field(max_length=MAX_FEATURES),
            _Stated(minItems=lambda: SERVING.feature_count, maxItems=lambda: SERVING.feature_count),
        ]
        | None
    ) = Field(
        default=None,
        description="Optional feature values in the model's feature order (null = missing), finite and "
        "within float32 range; exactly as many as the model has (minItems/maxItems once it is loaded). "
        "Omit to read the newest features from the Feast online store",
    )


class BatchPredictRequest(Closed):
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


class Bar(Closed):
    symbol: Symbol
    date: BarDate = Field(description=f"Trading date, YYYY-MM-DD ({EARLIEST_DATE} to {LATEST_DATE})")
    open: Number | None
    high: Number | None
    low: Number | None
    close: Number | None
    volume: Number | None


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


class IngestRefused(IngestResult):
    """The answer when no bar passed the rules: the 422 error, with the verdict on every row."""

    error: str


def example_weights(cap: float) -> dict[str, float] | None:
    """Equal weights over as few demo names as the cap allows (None if more than ten are needed)."""
    names = math.ceil(1 / cap - 1e-9)
    return {s: 1 / names for s in EXAMPLE_SYMBOLS[:names]} if names <= len(EXAMPLE_SYMBOLS) else None


def _portfolio_example(schema: dict, _: type) -> None:
    weights = example_weights(SERVING.max_weight or DEFAULT_MAX_WEIGHT)
    if weights:
        schema["examples"] = [{"weights": weights}]


class PortfolioUpdate(Closed):
    # The example respects this server's cap, so it is a valid update wherever the demo names are known.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_portfolio_example)

    weights: dict[Symbol, Weight] = Field(
        min_length=1,
        max_length=MAX_PORTFOLIO_NAMES,
        # Pydantic states the key pattern as patternProperties; other keys are not allowed either.
        json_schema_extra={"additionalProperties": False},
        description="Long-only weights by symbol: each 0 <= w <= the cap (QUANT_MAX_WEIGHT), summing to 1 "
        "(within QUANT_WEIGHT_SUM_TOLERANCE), each symbol once (case-insensitive) and known to the online "
        "store",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_symbol_twice(cls, data: object) -> object:
        """``aapl`` and ``AAPL`` are one symbol; a dict would silently keep only the last weight."""
        weights = data.get("weights") if isinstance(data, dict) else None
        if isinstance(weights, dict):
            seen: set[str] = set()
            for key in weights:
                name = str(key).upper()
                if name in seen:
                    raise PydanticCustomError(
                        "duplicate_symbol",
                        "weights: symbol {name} is given more than once (symbols are case-insensitive)",
                        {"name": name},
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
    model_id: str = Field(description="The id asked for")
    version: str = Field(description="MLflow registry version number")
    status: Literal["champion", "challenger", "registered"] = Field(
        description="The alias the version holds in the MLflow registry, or registered"
    )
    serving: bool = Field(description="Whether this server answers with this version")
    aliases: list[str]
    last_updated: str
    metrics: dict[str, float]


class LimitBreach(BaseModel):
    limit: Literal[LIMIT_NAMES] = Field(description="The risk limit (risk_limits.yaml)")  # type: ignore[valid-type]
    value: Figure = Field(description="The measured figure (null: it could not be measured)")
    threshold: Figure = Field(description="The limit's value")
    reason: str = Field(description="What is wrong, naming the symbols at fault")


class VarRow(BaseModel):
    method: Literal["historical", "parametric"]
    confidence: float = Field(description="0.95 or 0.99")
    days: int = Field(description="Holding period in trading days: 1 or the forecast horizon")
    var: Figure = Field(description="Value at risk, a loss as a positive fraction of value")
    cvar: Figure = Field(description="Expected loss beyond the VaR, a positive fraction of value")


class StressWindow(BaseModel):
    days: int = Field(description="Window length in trading days")
    start: str
    end: str
    return_: Figure = Field(alias="return", description="Compounded return of the worst window")


class LimitVerdict(LimitBreach):
    passed: bool


class LimitReport(BaseModel):
    as_of: str = Field(description="Decision date of the trading cycle that judged its targets")
    results: dict[str, LimitVerdict] = Field(description="One result per risk limit, by name")


class RiskReport(BaseModel):
    """Today's target weights measured on the past returns of the names they hold (``core.risk``)."""

    as_of: str = Field(description="Last date of the price history measured")
    days: int = Field(description="Days of simulated returns measured")
    volatility: Figure = Field(description="Annualised (x sqrt(252)) std of daily returns")
    gross_exposure: Figure
    net_exposure: Figure
    largest_weight: Figure
    largest_name: str
    effective_names: Figure = Field(description="1 / sum(w^2), the inverse Herfindahl index")
    var: list[VarRow]
    stress: list[StressWindow] = Field(description="The worst 1, 5 and 21-day windows, with their dates")
    beta_spy: Figure = Field(description="Beta to SPY (null when too few common days)")
    paper_account_drawdown: Figure = Field(
        description="The paper account's fall from its peak equity, a fraction (null before any mark)"
    )
    limits: LimitReport | None = Field(
        description="The risk limits' verdict on the last trading cycle's targets (null before one ran)"
    )


class Position(BaseModel):
    symbol: str
    shares: float
    price: Figure = Field(description="Newest mark's price (null: never marked)")
    value: Figure
    weight: Figure = Field(description="Share of the account's equity")


class EquityPoint(BaseModel):
    date: str
    equity: float


class Positions(BaseModel):
    """The paper account from the platform's trading ledger (empty before the first trading cycle)."""

    as_of: str | None = Field(description="Date of the newest mark (null before any)")
    cash: float
    equity: float
    positions: list[Position]
    drawdown: Figure = Field(description="Fall from peak equity, a fraction (null before any mark)")
    equity_history: list[EquityPoint] = Field(description="One point per marked date")


# An order's newest state as Alpaca names them; ``open`` asks for every state that is not final.
ORDER_STATUSES = ("open", *sorted(OPEN_STATUSES), *sorted(FINAL_STATUSES))
OrderStatus = Literal[ORDER_STATUSES]  # type: ignore[valid-type]


class Order(BaseModel):
    client_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    shares: int = Field(description="Whole shares ordered")
    status: str = Field(description="Newest state: " + ", ".join(ORDER_STATUSES[1:]))
    filled_shares: float
    average_fill_price: Figure
    commission: float = Field(description="Dollars charged so far")
    as_of: str | None = Field(description="Decision date; the order fills at the next open")
    portfolio_version: str | None
    reason: str | None = Field(description="Why it was rejected, canceled or expired, in the broker's words")
    updated_at: str | None = Field(description="When its newest state was recorded (UTC)")


class Orders(BaseModel):
    orders: list[Order] = Field(description="Oldest first")


class FieldError(Closed):
    loc: list[str] = Field(description="Where: body, then keys and positions, e.g. [body, 0, open]")
    msg: str
    type: str


class ErrorBody(Closed):
    """Every error the API answers: what is wrong and what to do; field errors listed for a 422."""

    error: str
    detail: list[FieldError] | None = None


class LimitsBreached(ErrorBody):
    """Weights refused by the risk limits: every breach, with its figure and threshold."""

    breaches: list[LimitBreach] = Field(min_length=1)


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
