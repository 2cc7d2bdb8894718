"""The simulator: next-open timing, cost accounting to the cent, reconciliation, no leverage, delistings."""

import numpy as np
import pandas as pd
import pytest

from quant_assets.core.costs import CostModel
from quant_assets.core.simulator import simulate

DATES = pd.bdate_range("2021-01-04", periods=8)


def frame(values: dict[str, list[float]], dates=DATES) -> pd.DataFrame:
    return pd.DataFrame(values, index=dates[: len(next(iter(values.values())))])


def test_two_names_by_hand():
    """Decided at day 0's close, bought at day 1's open, marked at closes; costs by hand."""
    opens = frame({"A": [10, 11, 12, 12], "B": [20, 20, 22, 24]})
    closes = frame({"A": [10, 12, 12, 13], "B": [20, 21, 22, 25]})
    targets = pd.DataFrame({"A": [0.5], "B": [0.5]}, index=DATES[:1])
    costs = CostModel(commission_bps=10, slippage_bps=0)
    result = simulate(targets, opens, closes, costs=costs, capital=1000.0)
    # Day 1 open: 500 / 11 shares of A (the smaller order goes first; ties keep column order), then B
    # with the cash left: 1000 - 500 - 0.50 commission = 499.50 covers 499.50 / 1.001 of notional.
    a, b = 500 / 11, 499.5 / 1.001 / 20
    assert result.positions.loc[DATES[1], "A"] == pytest.approx(a)
    assert result.positions.loc[DATES[1], "B"] == pytest.approx(b)
    cash = 0.0  # fully invested: the last buy is cut to what the cash covers, never beyond
    assert result.equity["cash"].iloc[0] == 1000  # day 0: decided, nothing traded yet
    assert result.equity.loc[DATES[1], "cash"] == pytest.approx(cash)
    assert result.equity.loc[DATES[1], "equity"] == pytest.approx(cash + a * 12 + b * 21)
    assert result.equity.loc[DATES[3], "equity"] == pytest.approx(cash + a * 13 + b * 25)
    assert result.total_costs == pytest.approx(0.5 + 0.001 * 499.5 / 1.001)
    assert list(result.trades["date"]) == [DATES[1], DATES[1]]


def test_a_gap_known_at_the_close_cannot_be_traded():
    """The close-to-open jump after a decision is not earned: the fill is at the jumped open."""
    opens = frame({"A": [100, 110, 110, 110]})
    closes = frame({"A": [100, 110, 110, 110]})
    opens.iloc[1] = 110  # known 'up' at day 0's close; all of the move happens overnight
    targets = pd.DataFrame({"A": [1.0]}, index=DATES[:1])
    result = simulate(targets, opens, closes, costs=CostModel.free(), capital=1000.0)
    assert result.equity["equity"].iloc[-1] == pytest.approx(1000.0)  # no profit from the gap
    # Had the simulator filled at day 0's close (100), the same targets would have made 10 %.
    assert result.trades["price"].iloc[0] == 110


def test_a_move_after_the_next_open_is_earned_and_a_late_fill_misses_it():
    opens = frame({"A": [100, 100, 120, 120]})
    closes = frame({"A": [100, 110, 120, 120]})
    targets = pd.DataFrame({"A": [1.0]}, index=DATES[:1])
    on_time = simulate(targets, opens, closes, costs=CostModel.free(), capital=1000.0)
    assert on_time.equity["equity"].iloc[-1] == pytest.approx(1200.0)
    late = simulate(targets.shift(1, freq="B"), opens, closes, costs=CostModel.free(), capital=1000.0)
    assert late.equity["equity"].iloc[-1] == pytest.approx(1000.0)


def flat_market(n_days: int = 40, n_symbols: int = 5, seed: int = 3):
    """Prices that never move (open = close): any change in equity is a cost."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=n_days)
    levels = rng.uniform(10, 200, n_symbols)
    prices = pd.DataFrame(
        np.tile(levels, (n_days, 1)), index=dates, columns=[f"S{i}" for i in range(n_symbols)]
    )
    decisions = dates[:-1:5]
    weights = rng.dirichlet(np.ones(n_symbols), len(decisions)) * 0.98
    return prices, pd.DataFrame(weights, index=decisions, columns=prices.columns)


def test_costs_are_accounted_to_the_cent():
    prices, targets = flat_market()
    costs = CostModel(commission_bps=8, min_commission=1.0, slippage_bps=12)
    net = simulate(targets, prices, prices, costs=costs, capital=100_000.0)
    gross = simulate(targets, prices, prices, costs=CostModel.free(), capital=100_000.0)
    assert np.allclose(gross.equity["equity"], 100_000.0, rtol=0, atol=1e-6)
    # In a flat market the only loss is cost, day by day: equity = capital - recorded costs.
    assert np.allclose(net.equity["equity"], 100_000.0 - net.equity["costs"], atol=1e-6)
    assert net.equity["costs"].iloc[-1] == pytest.approx(net.trades["cost"].sum())
    doubled = simulate(targets, prices, prices, costs=costs.scaled(2), capital=100_000.0)
    drop = net.equity["equity"].iloc[-1] - doubled.equity["equity"].iloc[-1]
    assert drop == pytest.approx(doubled.total_costs - net.total_costs, abs=1e-6)
    assert drop > 0


def test_zero_costs_make_net_equal_gross_to_the_cent():
    rng = np.random.default_rng(5)
    prices, targets = flat_market()
    moves = pd.DataFrame(
        np.exp(np.cumsum(rng.normal(0, 0.02, prices.shape), axis=0)), prices.index, prices.columns
    )
    closes, opens = prices * moves, prices * moves.shift(1).fillna(1.0)
    a = simulate(targets, opens, closes, costs=CostModel(0, 0, 0, 0), capital=1e6)
    b = simulate(targets, opens, closes, costs=CostModel.free(), capital=1e6)
    assert (a.equity["equity"].round(2) == b.equity["equity"].round(2)).all()
    assert a.total_costs == 0


def test_cash_and_positions_reconcile_every_day_without_leverage():
    rng = np.random.default_rng(11)
    prices, targets = flat_market(n_days=60, n_symbols=8)
    targets = targets / targets.sum(axis=1).to_numpy()[:, None]  # fully invested: costs make cash bind
    moves = pd.DataFrame(
        np.exp(np.cumsum(rng.normal(0, 0.03, prices.shape), axis=0)), prices.index, prices.columns
    )
    closes, opens = prices * moves, prices * moves.shift(1).fillna(1.0)
    costs = CostModel(commission_bps=20, min_commission=5, slippage_bps=30)
    for whole in (False, True):
        result = simulate(targets, opens, closes, costs=costs, capital=250_000.0, whole_shares=whole)
        marked = (result.positions * closes.loc[result.positions.index]).sum(axis=1)
        assert np.allclose(result.equity["cash"] + marked, result.equity["equity"], rtol=0, atol=1e-6)
        assert (result.equity["cash"] >= 0).all()
        assert (result.positions >= 0).all().all()
        assert (result.weights.sum(axis=1) <= 1 + 1e-9).all()
        # No name is bought above its target's dollars (valued before the trades): costs and slippage
        # only ever leave it below; its weight of the smaller post-trade value may exceed w by the costs.
        targeted = targets.reindex(columns=result.weights.columns).to_numpy()
        after = result.weights.to_numpy() * result.trade_values[["after"]].to_numpy()
        assert (after <= targeted * result.trade_values[["before"]].to_numpy() + 1e-6).all()
        if whole:
            assert np.allclose(result.positions, np.round(result.positions))


def test_a_name_that_stops_trading_is_sold_at_its_last_close_with_a_warning():
    dates = pd.bdate_range("2021-01-04", periods=20)
    closes = pd.DataFrame({"A": np.full(20, 50.0), "B": np.full(20, 10.0)}, index=dates)
    closes.loc[dates[6] :, "B"] = np.nan  # B's last bar is day 5 (close 10)
    opens = closes.copy()
    targets = pd.DataFrame({"A": [0.5] * 4, "B": [0.5] * 4}, index=dates[[0, 5, 10, 15]])
    result = simulate(targets, opens, closes, costs=CostModel.free(), capital=1000.0, delist_after_days=5)
    sold = result.trades[result.trades["reason"] == "stopped trading"]
    assert list(sold["symbol"]) == ["B"] and sold["date"].iloc[0] == dates[11]
    assert sold["price"].iloc[0] == 10.0
    assert any("B: no bar for" in w for w in result.warnings)
    assert result.positions["B"].iloc[-1] == 0
    # A short halt (day 6 to 10 for B at the day-6 rebalance) is waited out, not sold.
    assert (result.positions.loc[dates[6] : dates[10], "B"] > 0).all()


def test_bad_targets_are_refused_with_the_reason():
    prices, targets = flat_market()
    with pytest.raises(ValueError, match="leverage"):
        simulate(targets * 2, prices, prices, costs=CostModel.free())
    with pytest.raises(ValueError, match="negative"):
        simulate(-targets, prices, prices, costs=CostModel.free())
    with pytest.raises(ValueError, match="no market data"):
        simulate(
            targets.set_axis(targets.index + pd.Timedelta(hours=12)), prices, prices, costs=CostModel.free()
        )
    with pytest.raises(ValueError, match="slippage_bps"):
        CostModel(slippage_bps=-1)


def test_square_root_impact_grows_with_order_size():
    costs = CostModel(commission_bps=0, slippage_bps=0, impact_coefficient=1.0)
    shift = costs.price_shift(np.array([1e4, 4e4, 1e4]), np.array([1e6, 1e6, np.nan]), np.array([0.02] * 3))
    assert shift[0] == pytest.approx(0.02 * np.sqrt(0.01))
    assert shift[1] == pytest.approx(2 * shift[0])
    assert shift[2] == 0  # no volume history: no invented impact


def test_impact_reads_liquidity_known_at_the_decision_not_at_the_fill():
    """The trade day's volume is not known at its open: a fill priced off it would be look-ahead."""
    opens = frame({"A": [100.0, 100.0, 100.0]})
    targets = pd.DataFrame({"A": [1.0]}, index=DATES[:1])
    adv = frame({"A": [1e6, 1e12, 1e12]})  # day 0 (decision): thin; day 1 (fill): deep
    vol = frame({"A": [0.02, 0.02, 0.02]})
    costs = CostModel(commission_bps=0, slippage_bps=0, impact_coefficient=1.0)
    result = simulate(targets, opens, opens, costs=costs, capital=10_000.0,
                      average_dollar_volume=adv, daily_volatility=vol)  # fmt: skip
    expected_shift = 0.02 * np.sqrt(10_000 / 1e6)  # the decision day's liquidity
    assert result.trades["price"].iloc[0] == pytest.approx(100 * (1 + expected_shift))
