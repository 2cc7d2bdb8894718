"""The HTTP API as one FastAPI app, mounted on the BentoML service (which owns the model and stores).

Every error is ``{"error": <what to do>, "detail": [...]?}`` with a 4xx a person can act on; a 5xx only
for a real fault (its traceback goes to the server log, never to the client). Feast is only touched from
the event loop (async routes) so its SQLite connection is never shared between threads.

The trading reads (``/api/risk``, ``/api/positions``, ``/api/orders``) are the views the CLI shows
(``quant_assets.trading_views``), read fresh on every request from what the trading cycle stored; posted
weights are judged by the same risk limits as the cycle's targets.
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, TypeVar

import anyio.to_thread
import pandas as pd
import sqlalchemy as sa
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException

from bentos.api_models import (
    FLOAT32_MAX,
    ORDER_STATUSES,
    UNION_TAGS,
    Bar,
    BarsBody,
    BatchPredictions,
    BatchPredictRequest,
    ErrorBody,
    IngestRefused,
    IngestResult,
    LimitBreach,
    LimitsBreached,
    ModelInfo,
    Orders,
    OrderStatus,
    PortfolioUpdate,
    PortfolioVersion,
    Positions,
    PredictBody,
    Prediction,
    RejectedBar,
    RiskReport,
)
from bentos.forecaster import Forecaster
from bentos.freshness import FeatureClock
from bentos.json_errors import error_message
from bentos.landing import land_bars
from bentos.observability import ApiMetrics, MetricsMiddleware
from bentos.portfolios import PortfolioStore, weight_problems
from bentos.registry import ModelRegistryView, RegistryUnavailable, UnknownModel
from bentos.security import API_KEY_HEADER, ApiKeys, AuthError
from quant_assets.core.limit_checks import LimitResult
from quant_assets.core.limits import RiskLimitsError
from quant_assets.core.validation import split_valid_bars
from quant_assets.sources.landing_zone import LandingZone
from quant_assets.trading_views import judge_weights, orders_view, positions_view, risk_view

logger = logging.getLogger("quant_forecaster")


class ApiError(Exception):
    def __init__(self, status: int, message: str, detail: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


@dataclass
class Backend:
    """What the routes need, built once per worker by the service."""

    forecaster: Forecaster
    clock: FeatureClock
    keys: ApiKeys
    portfolios: PortfolioStore
    landing: LandingZone
    registry: ModelRegistryView
    metrics: ApiMetrics
    max_weight: float
    weight_tolerance: float
    lake_dir: Path  # the pipeline's lake: portfolio_risk.json, trading_targets.json
    ledger_url: str  # the trading cycle's ledger (SQLAlchemy URL)
    risk_limits_file: Path  # the risk limits the trading cycle applies
    risk_inputs_file: Path  # closes and book weights the last trading cycle left for judging weights


T = TypeVar("T")


def readable_ledger(url: str) -> str:
    """The ledger to read: an SQLite file that does not exist yet (no trading cycle has run) is read as an
    empty in-memory ledger, so a GET answers the same empty views and never creates the file."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return "sqlite://"
    return url


def _from_ledger(read: Callable[..., T], *args: object) -> T:
    """``read(*args)``; a ledger database that does not answer is a 503 (retry), not a bare 500."""
    try:
        return read(*args)
    except sa.exc.OperationalError as exc:
        logger.error("the trading ledger could not be read", exc_info=True)
        raise ApiError(503, "the trading ledger could not be read (QUANT_LEDGER_URL); retry later") from exc


def _breach(result: LimitResult) -> LimitBreach:
    return LimitBreach(
        limit=result.limit, value=result.value, threshold=result.threshold, reason=result.reason
    )


_ERROR_MEANINGS = {
    400: "The features do not fit the model: not as many as it has, or beyond float32 range",
    401: "No API key: send one in the X-API-Key header",
    403: "The API key is not valid here, or this server has no keys configured (writes disabled)",
    404: "Not found",
    422: "The request breaks a rule of this document (detail names each field), or its body is not JSON",
    503: "The service is starting (retry when /readyz answers 200)",
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": f'ApiKey header="{API_KEY_HEADER}"',
        "schema": {"type": "string"},
    }
}
# Operation ids: the targets of the document's links (and the names of generated client methods).
MODEL_INFO = "model_info"
CURRENT_PORTFOLIO = "current_portfolio"
_LINK_TO_MODEL = {
    "operationId": MODEL_INFO,
    "parameters": {"model_id": "$response.body#/model_version"},
    "description": "The model version that produced this answer",
}


def _errors(*statuses: int, **meanings: str) -> dict[int | str, dict]:
    """Documented error answers: the shared ``ErrorBody``; ``meanings`` overrides a description
    (keyed ``e404`` and so on)."""
    responses: dict[int | str, dict] = {}
    for status in statuses:
        response = {
            "model": ErrorBody,
            "description": meanings.get(f"e{status}", _ERROR_MEANINGS[status]),
        }
        if status == 401:
            response["headers"] = _WWW_AUTHENTICATE
        responses[status] = response
    return responses


def _readable(errors: list[dict]) -> tuple[str, list[dict]]:
    """Pydantic errors as ``body.weights.AAPL: Input should be a valid number`` (union tags removed)."""
    detail = []
    for e in errors:
        loc = [str(part) for part in e.get("loc", ()) if part not in UNION_TAGS]
        detail.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    message = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in detail[:5])
    if len(detail) > 5:
        message += f"; and {len(detail) - 5} more"
    return message, detail


def build_app() -> FastAPI:
    app = FastAPI(
        title="quant-assets API",
        version="1",
        docs_url=None,  # the service serves the whole OpenAPI document at /docs.json and its UI at /
        redoc_url=None,
        openapi_url=None,
    )
    app.state.backend = None
    app.add_middleware(
        MetricsMiddleware, get_metrics=lambda: app.state.backend.metrics if app.state.backend else None
    )

    def backend() -> Backend:
        if app.state.backend is None:
            raise ApiError(503, "the service is starting; retry when /readyz answers 200")
        return app.state.backend

    async def writer(
        api_key: Annotated[
            str | None,
            Depends(APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Write endpoints only")),
        ],
    ) -> str:
        """The fingerprint of a valid key. A dependency, so the key is checked before the body is read:
        without a valid key the answer is 401/403 whatever was sent."""
        return backend().keys.check(api_key)

    Writer = Annotated[str, Depends(writer)]

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            ErrorBody(error=exc.message, detail=exc.detail).model_dump(exclude_none=True), exc.status
        )

    @app.exception_handler(AuthError)
    async def _auth_error(_: Request, exc: AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, detail = _readable(list(exc.errors()))
        return JSONResponse({"error": message, "detail": detail}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 400:  # FastAPI's own: a body it could not decode (not UTF-8, not JSON)
            return JSONResponse({"error": f"the body could not be read as JSON: {exc.detail}"}, 422)
        if exc.status_code in (404, 405) and exc.detail == HTTPStatus(exc.status_code).phrase:
            message = error_message(exc.status_code, request.method, headers.get("Allow"))
        else:
            message = str(exc.detail)
        return JSONResponse({"error": message}, exc.status_code, headers=headers or None)

    def predictions(b: Backend, rows: list[tuple[str, list[float], object]], source: str) -> list[Prediction]:
        f = b.forecaster
        values, confidences = f.predict([r[1] for r in rows])
        out = []
        for (symbol, _, event_time), value, confidence in zip(rows, values, confidences, strict=True):
            if source == "online":
                age, stale, warnings = b.clock.judge(event_time)
                b.metrics.feature_age.labels(f.model_version).observe(age if age is not None else math.inf)
                if stale:
                    b.metrics.stale.labels(f.model_version).inc()
                as_of = event_time.isoformat() if event_time is not None else None
            else:
                age, stale, warnings, as_of = None, None, [], None
            out.append(
                Prediction(
                    symbol=symbol,
                    prediction=float(value),
                    confidence=float(confidence),
                    model_version=f.model_version,
                    as_of=as_of,
                    horizon_days=f.horizon_days,
                    feature_age_days=age,
                    stale=stale,
                    warnings=warnings,
                )
            )
        b.metrics.predictions.labels(f.model_version, source).inc(len(out))
        return out

    @app.post(
        "/api/predict",
        operation_id="predict",
        response_model=Prediction | BatchPredictions,
        responses={
            200: {"description": "The forecast(s)", "links": {"AnsweringModel": _LINK_TO_MODEL}},
            **_errors(
                400,
                404,
                422,
                503,
                e404="No online features for the symbol (or for any of the symbols)",
            ),
        },
        tags=["forecasts"],
    )
    async def predict(
        body: Annotated[
            PredictBody,
            Body(
                openapi_examples={
                    "online": {
                        "summary": "One symbol, features from the online store",
                        "value": {"symbol": "AAPL"},
                    },
                    "batch": {
                        "summary": "Many symbols (unknown ones are listed, not fatal)",
                        "value": {"symbols": ["AAPL", "AMZN", "ZZZZ"]},
                    },
                }
            ),
        ],
    ) -> Prediction | BatchPredictions:
        """Forecast from the online store (``{symbol}``), from given features (``{symbol, features}``),
        or for many symbols (``{symbols: [...]}``). Stale online features are flagged, not hidden."""
        b = backend()
        f = b.forecaster
        if isinstance(body, BatchPredictRequest):
            symbols = list(dict.fromkeys(body.symbols))
            found = f.online_features(symbols)
            unknown = [s for s in symbols if s not in found]
            if not found:
                raise ApiError(404, f"no online features for any of: {', '.join(unknown)}")
            rows = [(s, found[s].values, found[s].event_time) for s in symbols if s in found]
            return BatchPredictions(
                model_version=f.model_version,
                predictions=predictions(b, rows, "online"),
                unknown_symbols=unknown,
            )
        if body.features is None:
            found = f.online_features([body.symbol])
            if body.symbol not in found:
                raise ApiError(
                    404,
                    f"no online features for symbol {body.symbol!r}; is it in the universe and materialised?",
                )
            online = found[body.symbol]
            return predictions(b, [(body.symbol, online.values, online.event_time)], "online")[0]
        expected = len(f.feature_names)
        if len(body.features) != expected:
            raise ApiError(
                400,
                f"features: expected {expected} values in this order: {', '.join(f.feature_names)}; "
                f"got {len(body.features)}",
            )
        # The model computes in float32: a value beyond its range would become infinite there.
        bad = [
            f.feature_names[i]
            for i, v in enumerate(body.features)
            if v is not None and not (math.isfinite(v) and abs(v) <= FLOAT32_MAX)
        ]
        if bad:
            raise ApiError(
                400,
                "features: values must be finite numbers within float32 range (|x| <= 3.4e38) or null "
                f"(missing); not: {', '.join(bad)}",
            )
        values = [math.nan if v is None else float(v) for v in body.features]
        return predictions(b, [(body.symbol, values, None)], "request")[0]

    @app.post(
        "/api/data",
        operation_id="ingest_bars",
        response_model=IngestResult,
        status_code=202,
        responses={
            202: {"description": "Some bars were accepted and landed; the rest are listed with reasons"},
            **_errors(401, 403, 503),
            422: {
                "model": ErrorBody | IngestRefused,
                "description": "The body breaks a rule of the schema (ErrorBody, detail names each field), "
                "or no bar passed the ingestion rules: missing or non-finite values, non-positive prices, "
                "negative volume, OHLC order, future or weekend dates (IngestRefused, every row's reason; "
                "nothing written)",
            },
        },
        tags=["data"],
    )
    def ingest_bars(body: Annotated[BarsBody, Body()], _: Writer) -> IngestResult | JSONResponse:
        """Daily bars (one or a list) checked with the ingestion rules; accepted rows land in the landing
        zone for the pipeline. 202 when any row was accepted, 422 (with every row's reason) when none was.
        Of duplicate (symbol, date) rows the last one wins."""
        b = backend()
        bars: list[Bar] = body if isinstance(body, list) else [body]
        frame = pd.DataFrame([bar.model_dump() for bar in bars])
        frame["date"] = pd.to_datetime(frame["date"])
        for column in ("open", "high", "low", "close", "volume"):
            frame[column] = frame[column].astype(float)
        frame.insert(0, "row", range(len(frame)))
        valid, quarantined = split_valid_bars(frame)
        rejected = [
            RejectedBar(
                row=int(r.row), symbol=str(r.symbol), date=r.date.date().isoformat(), reason=str(r.reason)
            )
            for r in quarantined.sort_values("row").itertuples()
        ]
        key = land_bars(valid, b.landing) if len(valid) else None
        result = IngestResult(
            accepted=len(valid),
            rejected=rejected,
            landing_file=key,
            landing_uri=None if key is None else b.landing.location(key),
        )
        logger.info(
            "POST /api/data: %d bar(s) accepted, %d rejected -> %s",
            result.accepted, len(rejected), result.landing_uri or "nothing written",
        )  # fmt: skip
        if key is None:
            reasons = "; ".join(f"row {r.row}: {r.reason}" for r in rejected[:5])
            refused = IngestRefused(**result.model_dump(), error=f"no bar was accepted: {reasons}")
            return JSONResponse(refused.model_dump(), 422)
        return result

    @app.post(
        "/api/portfolio/update",
        operation_id="update_portfolio",
        response_model=PortfolioVersion,
        status_code=201,
        responses={
            201: {
                "description": "Stored as a new version, which is now the current portfolio",
                "links": {
                    "CurrentPortfolio": {
                        "operationId": CURRENT_PORTFOLIO,
                        "description": "The version just stored is the current one (until the next update)",
                    },
                    "ServingModel": _LINK_TO_MODEL,
                },
            },
            **_errors(
                401,
                403,
                503,
                e503="The service is starting, or its risk limits file cannot be read (nothing is stored "
                "unjudged)",
            ),
            422: {
                "model": ErrorBody | LimitsBreached,
                "description": "The body breaks a rule of the schema, or the weights do not sum to 1 (within "
                "QUANT_WEIGHT_SUM_TOLERANCE) or name symbols the online store has no features for; every "
                "problem is listed (ErrorBody). Or they pass those but break the trading cycle's risk "
                "limits (risk_limits.yaml: max_weight, min_names, max_var_95_1d, max_turnover, "
                "never_trade): LimitsBreached lists every breach with its figure and threshold",
            },
        },
        tags=["portfolio"],
    )
    async def update_portfolio(
        body: PortfolioUpdate, submitted_by: Writer
    ) -> PortfolioVersion | JSONResponse:
        """Store target weights as a new version: known symbols, 0 <= w <= cap, summing to 1, within the
        risk limits the trading cycle applies (VaR and turnover measured on what its last run left)."""
        b = backend()
        known = b.forecaster.online_features(list(body.weights))
        problems = weight_problems(body.weights, known, b.max_weight, b.weight_tolerance)
        if problems:
            raise ApiError(422, "; ".join(problems))
        try:
            breached = await anyio.to_thread.run_sync(
                judge_weights, body.weights, b.risk_limits_file, b.risk_inputs_file
            )
        except RiskLimitsError as exc:
            logger.error("POST /api/portfolio/update: the risk limits cannot be read: %s", exc)
            raise ApiError(503, f"the risk limits cannot be read, so no weights are stored: {exc}") from exc
        if breached:
            refused = LimitsBreached(
                error=f"the weights break the risk limits of {b.risk_limits_file.name}: "
                + "; ".join(f"{r.limit}: {r.reason}" for r in breached),
                breaches=[_breach(r) for r in breached],
            )
            logger.info(
                "POST /api/portfolio/update by %s refused by the risk limits: %s",
                submitted_by, ", ".join(r.limit for r in breached),
            )  # fmt: skip
            return JSONResponse(refused.model_dump(mode="json", exclude={"detail"}), 422)
        record = await anyio.to_thread.run_sync(
            b.portfolios.save, body.weights, submitted_by, b.forecaster.model_version
        )
        logger.info(
            "POST /api/portfolio/update: version %d stored (%d names) by %s",
            record["version"], len(record["weights"]), submitted_by,
        )  # fmt: skip
        return PortfolioVersion(**record)

    @app.get(
        "/api/portfolio",
        operation_id=CURRENT_PORTFOLIO,
        response_model=PortfolioVersion,
        responses={
            200: {"description": "The newest version", "links": {"ServingModel": _LINK_TO_MODEL}},
            **_errors(404, 503, e404="No portfolio has been stored yet"),
        },
        tags=["portfolio"],
    )
    def current_portfolio() -> PortfolioVersion:
        """The newest stored portfolio version (``POST /api/portfolio/update`` stores one)."""
        record = backend().portfolios.current()
        if record is None:
            raise ApiError(404, "no portfolio has been stored yet; POST /api/portfolio/update first")
        return PortfolioVersion(**record)

    @app.get(
        "/api/risk",
        operation_id="risk_report",
        response_model=RiskReport,
        responses={
            200: {"description": "Today's risk report, the limits' last verdict and the account's drawdown"},
            **_errors(
                404,
                503,
                e404="No risk report yet: the pipeline has not measured portfolio_risk",
                e503="The service is starting, or the trading ledger does not answer",
            ),
        },
        tags=["trading"],
    )
    def risk_report() -> RiskReport:
        """Risk of today's target weights (VaR/CVaR, volatility, beta to SPY, exposure, the worst
        windows), the risk limits' verdict on the last trading cycle's targets and the paper account's
        drawdown; the same report as ``quant risk``."""
        b = backend()
        try:
            report = _from_ledger(risk_view, b.lake_dir, readable_ledger(b.ledger_url))
        except FileNotFoundError as exc:
            raise ApiError(404, str(exc)) from exc
        return RiskReport(**report)

    @app.get(
        "/api/positions",
        operation_id="positions",
        response_model=Positions,
        responses={
            200: {"description": "The paper account (empty before the first trading cycle)"},
            **_errors(503, e503="The service is starting, or the trading ledger does not answer"),
        },
        tags=["trading"],
    )
    def positions() -> Positions:
        """Positions at the newest mark, cash, equity, drawdown and the equity history, from the
        platform's trading ledger."""
        return Positions(**_from_ledger(positions_view, readable_ledger(backend().ledger_url)))

    @app.get(
        "/api/orders",
        operation_id="list_orders",
        response_model=Orders,
        responses={
            200: {"description": "The orders with their newest state (none before the first trading cycle)"},
            **_errors(
                422,
                503,
                e422=f"status is not one of: {', '.join(ORDER_STATUSES)}",
                e503="The service is starting, or the trading ledger does not answer",
            ),
        },
        tags=["trading"],
    )
    def list_orders(
        # Not ``| None``: the document states an enum, not a nullable one (there is no null in a query).
        status: Annotated[
            OrderStatus,
            Query(description="Only orders in this state; open: every state that is not final"),
        ] = None,  # type: ignore[assignment]
    ) -> Orders:
        """Every order the trading cycle recorded, oldest first, with its newest state."""
        return Orders(orders=_from_ledger(orders_view, readable_ledger(backend().ledger_url), status))

    @app.get(
        "/api/model/{model_id}",
        operation_id=MODEL_INFO,
        response_model=ModelInfo,
        responses={
            200: {
                "description": "The model version",
                "links": {
                    "SameVersionByNumber": {
                        "operationId": MODEL_INFO,
                        "parameters": {"model_id": "$response.body#/version"},
                        "description": "The same version, asked for by its number",
                    }
                },
            },
            **_errors(
                404,
                422,
                503,
                e404="No such model id: not current, champion, challenger or a version number (3 or v3), "
                "or no version holds that alias, or no such version",
                e503="The service is starting, or the MLflow registry cannot be read",
            ),
        },
        tags=["models"],
    )
    def model_info(
        model_id: Annotated[
            str,
            PathParam(
                min_length=1,
                max_length=64,
                description="current (the version this server answers with), champion, challenger, or a "
                "version number (3 or v3); case-insensitive",
                openapi_examples={
                    "current": {"summary": "The version this server answers with", "value": "current"},
                    "champion": {"summary": "The version holding the champion alias", "value": "champion"},
                    "challenger": {"summary": "The newest candidate", "value": "challenger"},
                    "version": {"summary": "A registry version number", "value": "1"},
                    "v_version": {"summary": "The same, with a v", "value": "v1"},
                },
            ),
        ],
    ) -> ModelInfo:
        """A registered model version: its status (champion/challenger), last update and metrics.
        ``current`` is the version this server answers with."""
        b = backend()
        try:
            return ModelInfo(**b.registry.describe(model_id, b.forecaster.model_version))
        except UnknownModel as exc:
            raise ApiError(404, str(exc)) from exc
        except RegistryUnavailable as exc:
            raise ApiError(503, str(exc)) from exc

    return app
