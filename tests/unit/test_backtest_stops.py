"""The backtest replays the stops (``core.replay.replay_stops``): a drawdown stop in a planted crash
that lifts after its recovery days, a stop-loss exit at the next open with its cooldown, never-trade
names never held, causality, neutral limits that change nothing, and the whole backtest's report."""

import numpy as np
import pandas as pd
import pytest
from synthetic_markets import gbm_bars

from quant_assets.core.backtest import BacktestConfig, run_backtest
from quant_assets.core.costs import CostModel
from quant_assets.core.features import FEATURE_COLUMNS, build_features
from quant_assets.core.labels import forward_returns, label_column
from quant_assets.core.limits import DrawdownStop, RiskLimits, StopLoss
from quant_assets.core.policy import PolicyConfig
from quant_assets.core.replay import ReplayConfig, replay_stops
from quant_assets.core.simulator import simulate
from quant_assets.core.stops import COOLDOWN, DRAWDOWN_RELEASE, DRAWDOWN_STOP, NEVER_TRADE, STOP_LOSS

DATES = pd.bdate_range("2021-01-04", periods=160)
NO_STOP_LOSS = StopLoss(from_entry=1.0, from_high=1.0, cooldown_days=0)  # a close > 0 never loses 100 %
NO_DRAWDOWN_STOP = DrawdownStop(max_drawdown=1.0, target_fraction=0.0, recovery_days=1)


def market(closes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Opens at the previous close (no overnight gap), so a fill's price is known by hand."""
    return closes.shift(1).fillna(closes.iloc[0]), closes


def rebalanced(symbols: list[str], weight: float, first: int, every: int = 5, dates=DATES) -> pd.DataFrame:
    days = dates[first:-1:every]
    return pd.DataFrame(weight, index=days, columns=symbols).rename_axis("date")


FREE = CostModel.free()


def replay(targets, opens, closes, limits, costs=FREE, capital=100_000.0):
    def until(rows: pd.DataFrame, end: pd.Timestamp):
        return simulate(rows, opens.loc[:end], closes.loc[:end], costs=costs, capital=capital)

    return replay_stops(targets, closes, limits, until)


def test_a_drawdown_stop_triggers_in_a_crash_and_trading_resumes_after_its_recovery_days():
    t = np.arange(len(DATES))
    crash = np.where((t >= 60) & (t < 70), 0.96, 1.0).cumprod()  # -4 % a day for ten days: about -33 %
    closes = pd.DataFrame({s: 100 * (1 + 0.001 * (i + 1)) ** t * crash for i, s in enumerate("ABCDE")},
                          index=DATES)  # fmt: skip
    opens, closes = market(closes)
    targets = rebalanced(list("ABCDE"), 0.19, first=10)
    limits = RiskLimits(drawdown_stop=DrawdownStop(0.15, 0.0, 15), stop_loss=NO_STOP_LOSS)
    run = replay(targets, opens, closes, limits)

    # Up to the trigger the account is the plain policy's: the trigger is its first 15 % fall from a peak.
    plain = simulate(targets, opens, closes, costs=CostModel.free(), capital=100_000.0).equity["equity"]
    trigger = int(np.argmax((plain / plain.cummax() <= 0.85).to_numpy())) + DATES.get_loc(plain.index[0])
    assert 60 < trigger < 70  # inside the crash window
    assert [(e.date, e.rule) for e in run.events] == [
        (DATES[trigger], DRAWDOWN_STOP),
        (DATES[trigger + 15], DRAWDOWN_RELEASE),
    ]
    held = run.result.positions.sum(axis=1)
    assert held.loc[DATES[trigger]] > 0  # decided at the close, sold at the next open
    assert (held.loc[DATES[trigger + 1] : DATES[trigger + 15]] == 0).all()  # 15 market days in cash
    assert held.loc[DATES[trigger + 16]] > 0  # lifted at the close of day trigger + 15, bought back next open
    assert (run.targets.loc[DATES[trigger]] == 0).all()  # its own row: the trigger was no rebalance day
    equity = run.result.equity["equity"]
    assert equity.loc[DATES[trigger + 1] : DATES[trigger + 15]].nunique() == 1  # cash earns nothing
    # When it lifted the account was still over 15 % below its old peak: only the reset peak keeps it
    # from triggering again at once, and it did not.
    assert equity.loc[DATES[trigger + 15]] < 0.85 * equity.loc[: DATES[trigger]].max()


def test_a_stop_loss_sells_at_the_next_open_and_the_name_sits_out_its_cooldown():
    t = np.arange(len(DATES))
    closes = pd.DataFrame(100.0, index=DATES, columns=list("ABCD"))
    closes["A"] = 100 * 0.97 ** np.clip(t - 30, 0, 10)  # falls 3 % a day from day 31 to day 40
    opens, closes = market(closes)
    targets = rebalanced(list("ABCD"), 0.24, first=10)  # A is wanted at every rebalance
    costs = CostModel(commission_bps=0, slippage_bps=5)
    limits = RiskLimits(drawdown_stop=NO_DRAWDOWN_STOP, stop_loss=StopLoss(0.15, 0.25, 10))
    run = replay(targets, opens, closes, limits, costs=costs)

    trades = run.result.trades
    entry = trades[(trades["symbol"] == "A") & (trades["shares"] > 0)].iloc[0]
    assert entry["date"] == DATES[11] and entry["price"] == pytest.approx(100.05)  # bought with slippage
    # 15 % below the 100.05 paid is 85.04: day 35 closes at 85.87, day 36 at 83.30, the first beyond.
    assert closes["A"].iloc[35] > 0.85 * 100.05 > closes["A"].iloc[36]
    exits = [e for e in run.events if e.rule == STOP_LOSS]
    assert [(e.date, e.symbol) for e in exits] == [(DATES[36], "A")]
    assert (
        f"A: close 83.30 is 16.7% below its entry 100.05 on {DATES[11].date()} (limit 15.0%)"
        in exits[0].reason
    )
    sale = trades[(trades["symbol"] == "A") & (trades["date"] == DATES[37])].iloc[0]  # all of it, at the open
    assert sale["shares"] == pytest.approx(-run.result.positions["A"].loc[DATES[36]])
    assert sale["price"] == pytest.approx(closes["A"].iloc[36] * (1 - 5e-4))
    a = run.result.positions["A"]
    # Barred at the rebalances of days 40 and 45 (cooldown of 10 market days from day 36); the rebalance of
    # day 50 buys it back at the open of day 51.
    assert (a.loc[DATES[37] : DATES[50]] == 0).all() and a.loc[DATES[51]] > 0
    assert [(e.date, e.symbol) for e in run.events if e.rule == COOLDOWN] == [
        (DATES[40], "A"),
        (DATES[45], "A"),
    ]
    # A's weight went to cash, not to the others: they keep their shares through the exit.
    others = run.result.positions[list("BCD")]
    np.testing.assert_allclose(others.loc[DATES[37]], others.loc[DATES[36]], rtol=1e-9)


def test_never_trade_names_are_never_held_and_their_weight_stays_in_cash():
    rng = np.random.default_rng(2)
    closes = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(DATES), 4)), axis=0)),
                          index=DATES, columns=["A", "B", "X", "Y"])  # fmt: skip
    opens, closes = market(closes)
    targets = rebalanced(["A", "B", "X", "Y"], 0.25, first=5)
    limits = RiskLimits(
        drawdown_stop=NO_DRAWDOWN_STOP, stop_loss=NO_STOP_LOSS, never_trade=frozenset({"X", "Y"})
    )
    run = replay(targets, opens, closes, limits)
    assert (run.result.positions[["X", "Y"]] == 0).all().all()
    assert set(run.result.trades["symbol"]) == {"A", "B"}
    np.testing.assert_allclose(run.result.weights[["A", "B"]], 0.25)  # not raised to 0.5 each
    never = [e for e in run.events if e.rule == NEVER_TRADE]
    assert len(never) == 2 * len(targets) and never[0].reason.endswith("target 25.00% dropped")


def test_neutral_limits_trade_exactly_the_policys_targets():
    rng = np.random.default_rng(5)
    closes = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (len(DATES), 6)), axis=0)),
                          index=DATES, columns=list("ABCDEF"))  # fmt: skip
    opens = closes * np.exp(rng.normal(0, 0.003, closes.shape))
    targets = pd.DataFrame(rng.dirichlet(np.ones(6), 30) * 0.95, index=DATES[5:155:5], columns=list("ABCDEF"))
    costs = CostModel(commission_bps=2, min_commission=1.0, slippage_bps=5)
    run = replay(targets, opens, closes, RiskLimits(drawdown_stop=NO_DRAWDOWN_STOP, stop_loss=NO_STOP_LOSS),
                 costs=costs)  # fmt: skip
    plain = simulate(targets, opens, closes, costs=costs, capital=100_000.0)
    assert run.events == [] and run.simulations == 2  # the first horizon, then the rest in one more
    pd.testing.assert_frame_equal(run.targets, targets.rename_axis("date"), check_freq=False)
    pd.testing.assert_frame_equal(run.result.equity, plain.equity)
    pd.testing.assert_frame_equal(run.result.trades, plain.trades)


def test_prices_and_targets_after_t_change_no_stop_or_trade_up_to_t():
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-01", periods=300)
    closes = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.025, (300, 8)), axis=0)),
                          index=dates, columns=[f"S{i}" for i in range(8)])  # fmt: skip
    opens = closes.shift(1).fillna(closes.iloc[0]) * np.exp(rng.normal(0, 0.004, closes.shape))
    targets = pd.DataFrame(
        rng.dirichlet(np.ones(8), 56) * 0.97, index=dates[20:300:5], columns=closes.columns
    )
    limits = RiskLimits(drawdown_stop=DrawdownStop(0.08, 0.3, 10), stop_loss=StopLoss(0.1, 0.15, 5),
                        never_trade=frozenset({"S7"}))  # fmt: skip
    costs = CostModel(commission_bps=1, slippage_bps=5)
    run = replay(targets, opens, closes, limits, costs=costs)

    cut = dates[150]
    later = closes.index > cut
    shock = np.exp(rng.normal(0, 0.1, (later.sum(), 8)))
    shocked_closes, shocked_opens = closes.copy(), opens.copy()
    shocked_closes.loc[later] *= shock
    shocked_opens.loc[later] *= shock
    shocked_targets = targets.copy()
    shocked_targets.loc[targets.index > cut] = rng.dirichlet(np.ones(8), (targets.index > cut).sum()) * 0.9
    again = replay(shocked_targets, shocked_opens, shocked_closes, limits, costs=costs)

    def upto(events):
        return [e for e in events if e.date <= cut]

    assert {e.rule for e in upto(run.events)} >= {DRAWDOWN_STOP, STOP_LOSS}  # the rules fired before t
    assert upto(run.events) == upto(again.events)
    pd.testing.assert_frame_equal(run.targets.loc[:cut], again.targets.loc[:cut])
    old, new = run.result.trades, again.result.trades
    pd.testing.assert_frame_equal(old[old["date"] <= cut], new[new["date"] <= cut])
    pd.testing.assert_frame_equal(run.result.equity.loc[:cut], again.result.equity.loc[:cut])
    # ... and the change after t does change what the stops did after t.
    assert [e for e in run.events if e.date > cut] != [e for e in again.events if e.date > cut]


# --- the whole backtest ---------------------------------------------------------------------------------

FAST_MODEL = {"n_estimators": 40, "max_depth": 3, "learning_rate": 0.1}
LABEL = label_column(5)
CRASH_START, CRASH_DAYS = 330, 8
LIMITS = RiskLimits(drawdown_stop=DrawdownStop(0.12, 0.0, 10), stop_loss=StopLoss(0.15, 0.25, 5))


def crashed_bars() -> pd.DataFrame:
    """Six random walks that all fall 5 % a day for eight days (about -34 %) from day 330."""
    bars = gbm_bars(6, 420, seed=13)
    dates = np.sort(bars["date"].unique())
    day = np.searchsorted(dates, bars["date"].to_numpy())
    factor = 0.95 ** np.clip(day - CRASH_START + 1, 0, CRASH_DAYS)
    for column in ("open", "high", "low", "close"):
        bars[column] = bars[column] * factor
    return bars


def backtest(bars: pd.DataFrame, limits: RiskLimits | None):
    replay = ReplayConfig(warmup_days=250, retrain_days=63, params=FAST_MODEL, limits=limits,
                          policy=PolicyConfig(max_weight=0.25, min_history=60, lookback=120))  # fmt: skip
    features = build_features(bars)
    rows = features.merge(forward_returns(bars, 5), on=["symbol", "date"])
    cfg = BacktestConfig(replay=replay, costs=CostModel(commission_bps=1, slippage_bps=5))
    return run_backtest(bars, features, rows, list(FEATURE_COLUMNS), LABEL, cfg)


@pytest.fixture(scope="module")
def crash_backtests():
    bars = crashed_bars()
    return bars, backtest(bars, None), backtest(bars, LIMITS)


def test_without_limits_the_backtest_trades_the_policys_targets_as_before(crash_backtests):
    bars, plain, _ = crash_backtests
    assert plain.stops == {} and plain.to_json()["stops"] == []
    assert "drawdown_stops" not in plain.metrics_table() and "stops" not in plain.headline()
    opens = bars.pivot(index="date", columns="symbol", values="open")
    closes = bars.pivot(index="date", columns="symbol", values="close")
    dollar_volume = bars.assign(dv=bars["close"] * bars["volume"]).pivot(
        index="date", columns="symbol", values="dv"
    )
    volatility = closes.pct_change(fill_method=None).rolling(20, min_periods=10).std()
    direct = simulate(plain.replay.targets["policy"], opens, closes, costs=plain.config.costs,
                      average_dollar_volume=dollar_volume.rolling(20, min_periods=10).mean(),
                      daily_volatility=volatility)  # fmt: skip
    pd.testing.assert_frame_equal(plain.runs["net"].equity, direct.equity)


def test_the_backtest_stops_the_policy_in_the_crash_and_reports_it(crash_backtests):
    _, plain, report = crash_backtests
    dates = pd.DatetimeIndex(report.equity.index)
    first_decision = dates[0]
    market = pd.DatetimeIndex(np.sort(crashed_bars()["date"].unique()))
    crash = market[CRASH_START : CRASH_START + CRASH_DAYS]
    events = report.stops["net"].events
    triggers = [e.date for e in events if e.rule == DRAWDOWN_STOP]
    assert triggers and crash[0] <= triggers[0] <= crash[-1] and triggers[0] > first_decision
    at = market.get_loc(triggers[0])
    assert (DRAWDOWN_RELEASE, market[at + 10]) in [(e.rule, e.date) for e in events]
    held = report.runs["net"].positions.sum(axis=1)
    assert (held.loc[market[at + 1] : market[at + 10]] == 0).all() and (held.loc[market[at + 11] :] > 0).any()
    # The same decisions; the benchmark is not stopped; gross trades the net run's rows without costs.
    for policy in ("policy", "topk", "equal_weight"):
        pd.testing.assert_frame_equal(plain.replay.targets[policy], report.replay.targets[policy])
    pd.testing.assert_series_equal(plain.equity["equal_weight"], report.equity["equal_weight"])
    assert not plain.equity["net"].equals(report.equity["net"])
    gross = report.runs["gross"]
    assert (gross.positions.loc[market[at + 1] : market[at + 10]].sum(axis=1) == 0).all()
    assert "topk" in report.stops and DRAWDOWN_STOP in {e.rule for e in report.stops["topk"].events}
    # The report: every event in the JSON, counted in the summary, the table and the headline.
    doc = report.to_json()
    assert doc["stops"] == [e.to_dict() for e in events]
    counts = report.stops["net"].counts()
    net = report.summary["net"]
    assert net["drawdown_stops"] == counts[DRAWDOWN_STOP] == len(triggers)
    assert net["stop_loss_exits"] == counts[STOP_LOSS]
    assert f"| drawdown_stops | {len(triggers)} | {len(triggers)} |" in report.metrics_table()
    assert f"stops (net): {len(triggers)} drawdown, {counts[STOP_LOSS]} stop-loss" in report.headline()
    assert report.summary["risk_limits"]["drawdown_stop"] == {"max_drawdown": 0.12, "target_fraction": 0.0,
                                                              "recovery_days": 10}  # fmt: skip
