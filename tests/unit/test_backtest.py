"""The whole replay: causality, no edge in a random walk, a planted edge found net of costs, metrics
equal to QuantStats', the benchmarks by hand, and the JSON document users script against."""

import numpy as np
import pandas as pd
import pytest
import quantstats as qs
from synthetic_markets import gbm_bars, mean_reverting_bars

from quant_assets.core.backtest import BacktestConfig, run_backtest, spy_buy_and_hold
from quant_assets.core.costs import CostModel
from quant_assets.core.features import FEATURE_COLUMNS, build_features
from quant_assets.core.labels import forward_returns, label_column
from quant_assets.core.policy import PolicyConfig
from quant_assets.core.replay import ReplayConfig

FAST_MODEL = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.1}
LABEL = label_column(5)


def inputs(bars: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    features = build_features(bars)
    training_rows = features.merge(forward_returns(bars, 5), on=["symbol", "date"])
    return bars, features, training_rows


def config(**replay) -> BacktestConfig:
    settings = {"warmup_days": 250, "retrain_days": 42, "params": FAST_MODEL,
                "policy": PolicyConfig(max_weight=0.25, min_history=60, lookback=120), **replay}  # fmt: skip
    return BacktestConfig(replay=ReplayConfig(**settings), costs=CostModel(commission_bps=1, slippage_bps=5))


def backtest(bars: pd.DataFrame, cfg: BacktestConfig, spy: pd.DataFrame | None = None):
    return run_backtest(*inputs(bars), list(FEATURE_COLUMNS), LABEL, cfg, spy_bars=spy)


@pytest.fixture(scope="module")
def random_walk():
    bars = gbm_bars(8, 560, seed=21)
    spy = gbm_bars(1, 560, seed=99).assign(symbol="SPY")
    return bars, spy, backtest(bars, config(), spy)


@pytest.mark.parametrize("label_transform", [None, "rank"])
def test_prices_after_t_change_nothing_decided_or_traded_up_to_t(label_transform):
    """With market impact on (it reads trailing volume and volatility) and with per-date labels (their
    scores are turned back into returns from known labels): nothing up to t may move."""
    bars = gbm_bars(8, 560, seed=21)
    impact = CostModel(commission_bps=1, slippage_bps=5, impact_coefficient=1.0)

    def run(market: pd.DataFrame):
        cfg = config(label_transform=label_transform)
        return backtest(market, BacktestConfig(replay=cfg.replay, costs=impact))

    report = run(bars)
    assert report.summary["net"]["costs_total"] > 0
    dates = pd.DatetimeIndex(np.sort(bars["date"].unique()))
    # t: a few days after a retrain, so a model that peeked at labels ending after t would change.
    cut = dates[dates.get_loc(report.replay.models[3].decision_date) + 3]
    rng = np.random.default_rng(4)
    later = bars["date"] > cut
    shocked = bars.copy()
    factor = rng.uniform(0.5, 1.5, later.sum())
    for column in ("open", "high", "low", "close"):
        shocked.loc[later, column] = shocked.loc[later, column] * factor
    shocked.loc[later, "volume"] = shocked.loc[later, "volume"] * rng.uniform(0.2, 5, later.sum())
    again = run(shocked)
    for policy in ("policy", "topk", "equal_weight"):
        before = report.replay.targets[policy].loc[:cut]
        pd.testing.assert_frame_equal(before, again.replay.targets[policy].loc[:cut])
    early_models = [m for m in report.replay.models if m.decision_date <= cut]
    assert early_models == [m for m in again.replay.models if m.decision_date <= cut]
    for run in ("net", "gross", "topk", "equal_weight"):
        old, new = report.runs[run], again.runs[run]
        pd.testing.assert_frame_equal(
            old.trades[old.trades["date"] <= cut], new.trades[new.trades["date"] <= cut]
        )
        pd.testing.assert_frame_equal(old.equity.loc[: cut - pd.Timedelta(days=1)],
                                      new.equity.loc[: cut - pd.Timedelta(days=1)])  # fmt: skip
    # ... and the shock does change what comes after (the test would notice a frozen replay).
    assert not report.runs["net"].equity["equity"].equals(again.runs["net"].equity["equity"])


def test_models_only_ever_see_labels_known_before_their_decision(random_walk):
    _, _, report = random_walk
    assert len(report.replay.models) >= 5
    for fit in report.replay.models:
        assert fit.label_known_by < fit.decision_date
        assert fit.train_end < fit.decision_date


def test_a_random_walk_shows_no_edge_beyond_noise(random_walk):
    _, _, report = random_walk
    assert abs(report.ic["rank_ic_tstat"]) < 3
    assert abs(report.summary["net"]["vs_equal_weight"]["information_ratio"]) < 2.5


def test_a_planted_mean_reversion_is_found_net_of_costs():
    bars = mean_reverting_bars(10, 560, seed=8)
    report = backtest(bars, config())
    assert report.ic["rank_ic_mean"] > 0.1 and report.ic["rank_ic_tstat"] > 3
    net, equal = report.summary["net"], report.summary["benchmarks"]["equal_weight"]
    assert net["annual_return"] > equal["annual_return"] + 0.05
    assert net["vs_equal_weight"]["information_ratio"] > 1
    assert report.summary["topk"]["annual_return"] > equal["annual_return"]


def test_zero_costs_make_net_equal_gross_to_the_cent(random_walk):
    bars, _, _ = random_walk
    free = config()
    free = BacktestConfig(replay=free.replay, costs=CostModel.free())
    report = backtest(bars, free)
    net, gross = report.runs["net"].equity["equity"], report.runs["gross"].equity["equity"]
    assert (net.round(2) == gross.round(2)).all()
    assert report.summary["net"]["costs_total"] == 0


def test_reported_metrics_equal_quantstats_on_the_equity_curve(random_walk):
    _, _, report = random_walk
    returns = report.runs["net"].equity["equity"].pct_change().dropna()
    spy = report.runs["SPY"].equity["equity"].pct_change().dropna()
    net = report.summary["net"]
    expected = {
        "annual_return": qs.stats.cagr(returns, periods=252),
        "volatility": qs.stats.volatility(returns, periods=252),
        "sharpe": qs.stats.sharpe(returns, periods=252),
        "sortino": qs.stats.sortino(returns, periods=252),
        "max_drawdown": qs.stats.max_drawdown(returns),
        "calmar": qs.stats.calmar(returns),
        "hit_rate": qs.stats.win_rate(returns),
    }
    for name, value in expected.items():
        assert net[name] == pytest.approx(float(value), abs=1e-9, rel=1e-9), name
    assert net["vs_SPY"]["beta"] == pytest.approx(float(qs.stats.greeks(returns, spy)["beta"]), abs=1e-9)
    assert net["vs_SPY"]["information_ratio"] == pytest.approx(
        float(qs.stats.information_ratio(returns, spy)) * np.sqrt(252), abs=1e-9
    )
    # A drawdown by hand: equity 100 -> 120 -> 90 -> 130 falls 25 % from its peak.
    hand = pd.Series([0.2, -0.25, 130 / 90 - 1], index=pd.bdate_range("2021-01-04", periods=3))
    assert qs.stats.max_drawdown(hand) == pytest.approx(-0.25)


def test_spy_buy_and_hold_by_hand():
    dates = pd.bdate_range("2021-01-04", periods=4)
    spy = pd.DataFrame({"symbol": "SPY", "date": dates, "open": [100.0, 101, 102, 103],
                        "close": [100.5, 102, 101, 104]})  # fmt: skip
    cfg = BacktestConfig(costs=CostModel(commission_bps=10, slippage_bps=0), capital=10_000.0)
    run = spy_buy_and_hold(spy, dates[0], dates, cfg)
    shares = 10_000 / 1.001 / 101  # all the cash, less the 10 bps commission, at day 1's open
    assert run.positions["SPY"].iloc[-1] == pytest.approx(shares)
    assert run.equity["equity"].iloc[-1] == pytest.approx(shares * 104)
    assert len(run.trades) == 1
    with pytest.raises(ValueError, match="SPY has no bar"):
        spy_buy_and_hold(spy.iloc[:2], dates[0], dates, cfg)


def test_the_json_document_has_the_documented_shape(random_walk):
    _, _, report = random_walk
    doc = report.to_json()
    summary = doc["summary"]
    for run in (summary["net"], summary["gross"], summary["topk"], *summary["benchmarks"].values()):
        assert {"annual_return", "volatility", "sharpe", "max_drawdown"} <= set(run)
    assert set(summary["benchmarks"]) == {"SPY", "equal_weight"}
    assert {"rank_ic_mean", "rank_ic_tstat", "ic_mean"} <= set(doc["ic"])
    assert doc["turnover_annual"] > 0 and doc["costs_total"] > 0
    assert {"date", "net", "gross"} <= set(doc["equity"][0])
    assert {"date", "symbol", "shares", "price", "cost"} <= set(doc["trades"][0])
    assert doc["equity"][0]["net"] == 1_000_000.0


def test_too_little_history_is_a_clear_error():
    bars = gbm_bars(3, 200, seed=1)
    with pytest.raises(ValueError, match="no decision dates"):
        backtest(bars, config())


def test_a_rank_label_replay_finds_the_edge_and_forecasts_in_return_units():
    bars = mean_reverting_bars(10, 560, seed=8)
    report = backtest(bars, config(label_transform="rank"))
    assert report.ic["rank_ic_mean"] > 0.1 and report.ic["rank_ic_tstat"] > 3
    # scores were turned back into returns: the size of a 5-day return, not of a unit-variance rank
    assert report.replay.predictions["predicted"].abs().median() < 0.1
    equal = report.summary["benchmarks"]["equal_weight"]
    assert report.summary["net"]["annual_return"] > equal["annual_return"]


def test_every_run_reconciles_daily_and_never_exceeds_its_cap(random_walk):
    bars, _, report = random_walk
    closes = bars.pivot(index="date", columns="symbol", values="close").ffill()
    cap = report.config.replay.policy.max_weight
    for name in ("net", "gross", "topk", "equal_weight"):
        run = report.runs[name]
        marked = (run.positions * closes.reindex(run.positions.index)[run.positions.columns]).sum(axis=1)
        assert np.allclose(run.equity["cash"] + marked, run.equity["equity"], atol=1e-6), name
        assert (run.equity["cash"] >= 0).all(), name
        # post-trade weight of a name: within its cap, give or take that rebalance's cost to the portfolio
        slack = (run.trade_values["before"] / run.trade_values["after"]).to_numpy()[:, None]
        assert (run.weights.to_numpy() <= cap * slack + 1e-9).all(), name
