"""The backtest: replay the policy (``core.replay``), trade it with and without costs
(``core.simulator``), run the benchmarks beside it, and measure everything (``core.performance``).

Reported side by side, on the same days and the same starting capital:
- ``net`` / ``gross``: the platform's policy with and without costs;
- ``topk``: Qlib-style TopkDropout on the same forecasts (net of the same costs), so users see whether
  the optimiser adds anything over ranking;
- ``benchmarks.equal_weight``: every tradable name at 1/n, rebalanced on the same days (net);
- ``benchmarks.SPY``: SPY bought at the first trade's open and held (one commission). The bundled SPY
  series is unadjusted, so this is its **price return: dividends (about 2 % a year) are left out**.

With risk limits (``ReplayConfig.limits``) the drawdown stop, the stop-loss and the never-trade list
are replayed (``core.replay.replay_stops``) on the policy and on TopkDropout, each judged on its own net
account, so the two strategies compare under the same rules (TopkDropout still ranks against the names
it chose, not the ones the stops left it). ``gross`` and ``topk_gross`` trade the very rows their net
run decided, without costs: the cost drag is then costs alone, not a different set of stops. The
benchmarks (equal weight, SPY) are not stopped: they are what the market gave.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb

from quant_assets.core.costs import CostModel
from quant_assets.core.performance import information_coefficient, performance_metrics, relative_metrics
from quant_assets.core.replay import ModelFit, Replay, ReplayConfig, StoppedRun, replay_policy, replay_stops
from quant_assets.core.simulator import SimulationResult, simulate
from quant_assets.core.stops import DRAWDOWN_STOP, STOP_LOSS

TRADING_DAYS_PER_YEAR = 252
LIQUIDITY_WINDOW = 20  # days of dollar volume and volatility behind the impact estimate
SPY_NOTE = "SPY: price return only (the bundled series is unadjusted; dividends, ~2 %/yr, are not included)"
METRIC_ROWS = ("annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate")
STOP_ROWS = {"drawdown_stops": DRAWDOWN_STOP, "stop_loss_exits": STOP_LOSS}  # summary key -> rule counted


@dataclass(frozen=True)
class BacktestConfig:
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    costs: CostModel = field(default_factory=CostModel)
    capital: float = 1_000_000.0
    whole_shares: bool = False


@dataclass
class BacktestReport:
    config: BacktestConfig
    replay: Replay
    runs: dict[str, SimulationResult]  # net, gross, topk, topk_gross, equal_weight, SPY (when available)
    summary: dict[str, object]
    ic: dict[str, float]
    warnings: list[str]
    stops: dict[str, StoppedRun] = field(default_factory=dict)  # net, topk: with risk limits only

    @property
    def equity(self) -> pd.DataFrame:
        """Daily equity of every run, one column each (index date)."""
        return pd.DataFrame({name: run.equity["equity"] for name, run in self.runs.items()})

    def to_json(self) -> dict[str, object]:
        """The document ``quant backtest --json`` prints (see README, "Does it make money?")."""
        equity = self.equity
        net_trades = self.runs["net"].trades
        return {
            "summary": self.summary,
            "ic": self.ic,
            "turnover_annual": self.summary["net"]["turnover_annual"],
            "costs_total": self.summary["net"]["costs_total"],
            "models": [
                {
                    "decision_date": str(m.decision_date.date()),
                    "train_start": str(m.train_start.date()),
                    "train_end": str(m.train_end.date()),
                    "label_known_by": str(m.label_known_by.date()),
                    "rows": m.rows,
                    "sha256": m.fingerprint,
                }
                for m in self.replay.models
            ],
            "equity": [
                {"date": str(date.date()), **{k: _number(v) for k, v in row.items()}}
                for date, row in equity.iterrows()
            ],
            "trades": [
                {
                    "date": str(t.date.date()),
                    "symbol": t.symbol,
                    "shares": float(t.shares),
                    "price": float(t.price),
                    "cost": float(t.cost),
                }
                for t in net_trades.itertuples(index=False)
            ],
            "stops": [event.to_dict() for event in self.stops["net"].events] if "net" in self.stops else [],
            "warnings": self.warnings,
        }

    def metrics_table(self) -> str:
        """Markdown: one column per run, one row per headline metric."""
        columns = {"net": self.summary["net"], "gross": self.summary["gross"], "topk": self.summary["topk"]}
        columns.update(self.summary["benchmarks"])
        header = "| metric | " + " | ".join(columns) + " |"
        lines = [header, "| --- |" + " ---: |" * len(columns)]
        extra = tuple(STOP_ROWS) if self.stops else ()
        for metric in (*METRIC_ROWS, "turnover_annual", "costs_total", *extra):
            cells = [_format(metric, values.get(metric)) for values in columns.values()]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def headline(self) -> str:
        """One line: net, gross and the benchmarks' annual return and Sharpe (and the net run's stops)."""
        parts = [
            f"{name} {values['annual_return']:+.1%}/yr (Sharpe {values['sharpe']:.2f})"
            for name, values in (
                ("net", self.summary["net"]),
                ("gross", self.summary["gross"]),
                ("topk", self.summary["topk"]),
                *self.summary["benchmarks"].items(),
            )
        ]
        line = ", ".join(parts)
        if "net" in self.stops:
            net = self.summary["net"]
            line += f"; stops (net): {net['drawdown_stops']} drawdown, {net['stop_loss_exits']} stop-loss"
        return line


def _number(value: object) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _format(metric: str, value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if metric in ("sharpe", "sortino", "calmar"):
        return f"{value:.2f}"
    if metric in STOP_ROWS:
        return f"{value:d}"
    if metric == "costs_total":
        return f"${value:,.0f}"
    return f"{value:.2%}"


def wide_prices(bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Long bars -> wide ``open``, ``close`` and the liquidity estimates the impact model reads."""
    opens = bars.pivot(index="date", columns="symbol", values="open").sort_index()
    closes = bars.pivot(index="date", columns="symbol", values="close").sort_index()
    dollar_volume = (bars.assign(dv=bars["close"] * bars["volume"])
                     .pivot(index="date", columns="symbol", values="dv").sort_index())  # fmt: skip
    window = LIQUIDITY_WINDOW
    return {
        "open": opens,
        "close": closes,
        "adv": dollar_volume.rolling(window, min_periods=window // 2).mean(),
        "volatility": closes.pct_change(fill_method=None).rolling(window, min_periods=window // 2).std(),
    }


def _run_summary(run: SimulationResult, gross: dict[str, object] | None = None) -> dict[str, object]:
    """Metrics of one run; with its cost-free twin's summary, the cost drag too."""
    metrics = performance_metrics(run.returns)
    years = len(run.returns) / TRADING_DAYS_PER_YEAR
    metrics["turnover_annual"] = float(run.turnover.sum() / years) if years > 0 else float("nan")
    metrics["costs_total"] = run.total_costs
    if gross is not None:
        metrics["cost_drag_annual"] = float(gross["annual_return"] - metrics["annual_return"])
    return metrics


def spy_buy_and_hold(
    spy_bars: pd.DataFrame,
    first_decision: pd.Timestamp,
    market_dates: pd.DatetimeIndex,
    config: BacktestConfig,
) -> SimulationResult:
    """SPY bought with all the capital at the first trade's open, then held, on the universe's dates."""
    opens = spy_bars.set_index("date")[["open"]].rename(columns={"open": "SPY"}).reindex(market_dates)
    closes = spy_bars.set_index("date")[["close"]].rename(columns={"close": "SPY"}).reindex(market_dates)
    span = market_dates[market_dates >= first_decision]
    if closes.loc[span, "SPY"].isna().any():
        missing = span[closes.loc[span, "SPY"].isna().to_numpy()]
        raise ValueError(
            f"SPY has no bar on {len(missing)} of the backtest's {len(span)} dates "
            f"(first {missing[0].date()}): its file covers {spy_bars['date'].min().date()}.."
            f"{spy_bars['date'].max().date()}"
        )
    targets = pd.DataFrame({"SPY": [1.0]}, index=pd.DatetimeIndex([first_decision], name="date"))
    return simulate(
        targets, opens, closes, costs=config.costs, capital=config.capital, whole_shares=config.whole_shares
    )


def run_backtest(
    bars: pd.DataFrame,
    features: pd.DataFrame,
    training_rows: pd.DataFrame,
    feature_names: list[str],
    label: str,
    config: BacktestConfig,
    *,
    spy_bars: pd.DataFrame | None = None,
    on_model: Callable[[ModelFit, xgb.XGBRegressor], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestReport:
    """Replay, simulate every run, and summarise (see the module docstring)."""
    prices = wide_prices(bars)
    replay = replay_policy(
        features, training_rows, prices["close"], feature_names, label, config.replay,
        on_model=on_model, progress=progress,
    )  # fmt: skip
    if replay.targets["policy"].empty:
        raise ValueError("the policy made no targets on any decision date: " + "; ".join(replay.warnings[:3]))
    liquidity = {"average_dollar_volume": prices["adv"], "daily_volatility": prices["volatility"]}

    def trade(targets: pd.DataFrame, costs: CostModel, until: pd.Timestamp | None = None) -> SimulationResult:
        opens, closes = prices["open"].loc[:until], prices["close"].loc[:until]
        return simulate(
            targets, opens, closes, costs=costs, capital=config.capital, whole_shares=config.whole_shares,
            **liquidity,
        )  # fmt: skip

    if progress is not None:
        progress(f"backtest: simulating {len(replay.decision_dates)} rebalances with and without costs")
    limits = config.replay.limits
    stops: dict[str, StoppedRun] = {}
    runs: dict[str, SimulationResult] = {}
    for run, policy in (("net", "policy"), ("topk", "topk")):
        twin = "gross" if run == "net" else "topk_gross"
        if limits is None:
            runs[run] = trade(replay.targets[policy], config.costs)
            runs[twin] = trade(replay.targets[policy], CostModel.free())
            continue
        stopped = replay_stops(replay.targets[policy], prices["close"], limits,
                               lambda rows, until: trade(rows, config.costs, until))  # fmt: skip
        stops[run], runs[run] = stopped, stopped.result
        runs[twin] = trade(stopped.targets, CostModel.free())
        if progress is not None:
            counts = stopped.counts()
            progress(f"backtest: {run}: {counts[DRAWDOWN_STOP]} drawdown stop(s), {counts[STOP_LOSS]} "
                     f"stop-loss exit(s) ({stopped.simulations} simulations)")  # fmt: skip
    runs["equal_weight"] = trade(replay.targets["equal_weight"], config.costs)
    runs = {name: runs[name] for name in ("net", "gross", "topk", "topk_gross", "equal_weight")}
    warnings = list(replay.warnings)
    warnings.extend(runs["net"].warnings)
    if spy_bars is not None and not spy_bars.empty:
        try:
            runs["SPY"] = spy_buy_and_hold(
                spy_bars, replay.decision_dates[0], pd.DatetimeIndex(prices["close"].index), config
            )
            warnings.append(SPY_NOTE)
        except ValueError as error:
            warnings.append(f"SPY benchmark left out: {error}")
    else:
        warnings.append("SPY benchmark left out: no SPY bars given")

    gross = _run_summary(runs["gross"])
    net = _run_summary(runs["net"], gross)
    topk = _run_summary(runs["topk"], _run_summary(runs["topk_gross"]))
    benchmarks = {"equal_weight": _run_summary(runs["equal_weight"])}
    if "SPY" in runs:
        benchmarks["SPY"] = _run_summary(runs["SPY"])
    for name in benchmarks:
        net[f"vs_{name}"] = relative_metrics(runs["net"].returns, runs[name].returns)
        topk[f"vs_{name}"] = relative_metrics(runs["topk"].returns, runs[name].returns)
    if stops:
        for key, rule in STOP_ROWS.items():
            net[key] = gross[key] = stops["net"].counts()[rule]
            topk[key] = stops["topk"].counts()[rule]
    summary = {
        "net": net,
        "gross": gross,
        "topk": topk,
        "benchmarks": benchmarks,
        "span": {
            "first_decision": str(replay.decision_dates[0].date()),
            "last_decision": str(replay.decision_dates[-1].date()),
            "decisions": len(replay.decision_dates),
            "models": len(replay.models),
            "symbols": int(bars["symbol"].nunique()),
            "capital": config.capital,
        },
    }
    lags = max(int(np.ceil(config.replay.horizon_days / config.replay.rebalance_days)) - 1, 0)
    ic = information_coefficient(replay.predictions, overlap_lags=lags)
    if limits is not None:
        summary["risk_limits"] = {
            "drawdown_stop": dataclasses.asdict(limits.drawdown_stop),
            "stop_loss": dataclasses.asdict(limits.stop_loss),
            "never_trade": sorted(limits.never_trade),
        }
    return BacktestReport(config, replay, runs, summary, ic, warnings, stops)
