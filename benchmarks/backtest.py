"""The portfolio simulator against vectorbt's from_orders, on a synthetic GBM panel, in the same run.

    python benchmarks/backtest.py [--symbols 500 --days 2520 --seed 0 --names 50 --every 5
                                   --commission-bps 10 --slippage-bps 5 --repeat 3]

Targets: every ``--every``-th day, ``--names`` names drawn at random with Dirichlet weights summing to
0.98 or 1.0 (long-only), decided at that day's close. ``quant_assets.core.simulator.simulate`` trades
them at the next open. The baseline is vectorbt's ``Portfolio.from_orders(size_type="targetpercent",
cash_sharing=True, call_seq="auto")`` with the same targets placed on the trade date (t+1), opens as
the order price and closes as the marks: the same execution model, so both must give the same equity
(checked to a relative 1e-9 on every day, and the total commission) before any time is compared.
vectorbt's numba functions are compiled on a tiny input first, so its figure is the compiled run.

Our simulator with square-root impact on (20-day dollar volume and volatility from the panel) is
timed too; it has no vectorbt equivalent and is printed alone.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import vectorbt as vbt
from features import best_of, panel_parser  # benchmarks/features.py, next to this script

from quant_assets.core.costs import CostModel
from quant_assets.core.simulator import simulate
from quant_assets.sources.synthetic import gbm_panel

CAPITAL = 1_000_000.0
LIQUIDITY_WINDOW = 20  # as quant_assets.core.backtest


def wide(panel: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Opens, closes and volumes as (date x symbol) frames."""
    index = pd.DatetimeIndex(panel["dates"], name="date")
    columns = pd.Index(panel["symbols"], name="symbol")
    return tuple(  # type: ignore[return-value]
        pd.DataFrame(panel[name].T.astype(float), index=index, columns=columns)
        for name in ("open", "close", "volume")
    )


def random_targets(
    dates: pd.DatetimeIndex, symbols: pd.Index, names: int, every: int, seed: int
) -> pd.DataFrame:
    """Every ``every``-th date (the last excluded: it has no next open), ``names`` random names with
    Dirichlet weights summing to 0.98 or 1.0."""
    rng = np.random.default_rng(seed + 1)
    decision_dates = dates[:-1][::every]
    weights = np.zeros((len(decision_dates), len(symbols)))
    for row in range(len(decision_dates)):
        chosen = rng.choice(len(symbols), size=min(names, len(symbols)), replace=False)
        weights[row, chosen] = rng.dirichlet(np.ones(len(chosen))) * rng.choice([0.98, 1.0])
    return pd.DataFrame(weights, index=decision_dates, columns=symbols)


def vectorbt_run(targets: pd.DataFrame, opens: pd.DataFrame, closes: pd.DataFrame, costs: CostModel):
    """The same rebalances in vectorbt: each target row moved to the next market date (its trade date)."""
    size = pd.DataFrame(np.nan, index=closes.index, columns=closes.columns)
    trade_rows = closes.index.get_indexer(targets.index) + 1
    size.iloc[trade_rows] = targets.reindex(columns=closes.columns).to_numpy()
    return vbt.Portfolio.from_orders(
        close=closes, size=size, size_type="targetpercent", price=opens,
        fees=costs.commission_bps * 1e-4, slippage=costs.slippage_bps * 1e-4, init_cash=CAPITAL,
        cash_sharing=True, group_by=True, call_seq="auto", freq="1D",
    )  # fmt: skip


def main() -> None:
    parser = panel_parser(__doc__)
    parser.add_argument("--names", type=int, default=50, help="names held after each rebalance")
    parser.add_argument("--every", type=int, default=5, help="rebalance every N market days")
    parser.add_argument("--commission-bps", type=float, default=10.0)
    parser.add_argument("--slippage-bps", type=float, default=5.0)
    parser.add_argument("--impact", type=float, default=1.0, help="impact coefficient, own-simulator run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    opens, closes, volumes = wide(gbm_panel(args.symbols, args.days, args.seed))
    targets = random_targets(closes.index, closes.columns, args.names, args.every, args.seed)
    costs = CostModel(commission_bps=args.commission_bps, min_commission=0.0, slippage_bps=args.slippage_bps)
    print(
        f"panel: {args.symbols} symbols x {args.days} days, {len(targets)} rebalances of {args.names} names "
        f"every {args.every} days; commission {args.commission_bps:g} bps, "
        f"slippage {args.slippage_bps:g} bps; best of {args.repeat}; "
        f"vectorbt {vbt.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    )

    # vectorbt compiles its numba kernels on first call: do that on a tiny input, outside the timing.
    small = slice(0, 30), slice(0, 5)
    small_targets = targets.loc[targets.index < closes.index[25]].iloc[:, small[1]]
    warm = vectorbt_run(small_targets, opens.iloc[small], closes.iloc[small], costs)
    warm.value(), warm.orders.fees.sum()
    print("vectorbt warmed up (numba JIT) on a 5 x 30 panel before timing")

    def ours():
        return simulate(targets, opens, closes, costs=costs, capital=CAPITAL)

    def theirs():
        pf = vectorbt_run(targets, opens, closes, costs)
        return pf, pf.value()  # the equity curve is what both sides must produce

    timings: dict[str, float] = {}
    timings["ours: simulate"], result = best_of(args.repeat, ours)
    timings["vectorbt: from_orders + value()"], (pf, vbt_value) = best_of(args.repeat, theirs)

    # Same numbers, or the comparison is meaningless.
    equity = result.equity["equity"]
    expected = vbt_value.loc[equity.index]
    absolute = (equity - expected).abs()
    relative = absolute / expected.abs()
    our_fees = float(result.trades["commission"].sum())
    vbt_fees = float(pf.orders.fees.sum())
    fee_relative = abs(our_fees - vbt_fees) / max(abs(vbt_fees), 1e-300)
    print(
        f"equity over {len(equity)} days: max |diff| ${absolute.max():.3e}, "
        f"max relative {relative.max():.3e} (on {relative.idxmax().date()}); "
        f"final equity ours ${equity.iloc[-1]:,.2f}, vectorbt ${expected.iloc[-1]:,.2f}"
    )
    print(
        f"total commission: ours ${our_fees:,.6f}, vectorbt ${vbt_fees:,.6f} "
        f"(relative diff {fee_relative:.3e}); "
        f"orders: ours {len(result.trades):,}, vectorbt {pf.orders.count():,}"
    )

    # Impact on: no vectorbt equivalent (its slippage is one fixed fraction), so timed alone.
    dollar_volume = closes * volumes
    window = LIQUIDITY_WINDOW
    adv = dollar_volume.rolling(window, min_periods=window // 2).mean()
    volatility = closes.pct_change(fill_method=None).rolling(window, min_periods=window // 2).std()
    impact_costs = CostModel(
        commission_bps=args.commission_bps, min_commission=0.0, slippage_bps=args.slippage_bps,
        impact_coefficient=args.impact,
    )  # fmt: skip
    impact_label = f"ours: simulate + impact {args.impact:g}"
    liquidity = {"average_dollar_volume": adv, "daily_volatility": volatility}
    timings[impact_label], impact_result = best_of(
        args.repeat,
        lambda: simulate(targets, opens, closes, costs=impact_costs, capital=CAPITAL, **liquidity),
    )

    base = timings["vectorbt: from_orders + value()"]
    print(f"{'':40s}{'seconds':>10s}{'x vectorbt':>12s}")
    for label, seconds in timings.items():
        alone = label == impact_label
        ratio = f"{'':>12s}  (no vectorbt equivalent)" if alone else f"{seconds / base:>12.2f}"
        print(f"{label:40s}{seconds:>10.3f}{ratio}")
    print(
        f"impact run: final equity ${impact_result.equity['equity'].iloc[-1]:,.2f}, total costs "
        f"${impact_result.total_costs:,.2f} (vs ${result.total_costs:,.2f} without impact)"
    )

    if not relative.max() <= 1e-9 or not fee_relative <= 1e-9:
        sys.exit(f"MISMATCH: equity relative diff {relative.max():.3e}, commission {fee_relative:.3e} > 1e-9")


if __name__ == "__main__":
    main()
