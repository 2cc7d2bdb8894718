"""From target weights to whole-share orders: what the trading cycle sends to the broker.

Inputs are the account as the ledger knows it (shares held, cash), today's targets and the decision
date's closes. The steps, each one a rule a portfolio manager can check:

1. **Target shares.** PyPortfolioOpt's ``DiscreteAllocation.greedy_portfolio`` turns the invested part
   of the targets into whole shares of the account's equity (less a small ``cash_buffer`` for costs):
   every name ends within one share of its target value.
2. **Frozen names** (an unconfirmed newest print, a symbol the caller blocks) keep what they hold: no
   new order in either direction.
3. **No-trade band.** A held name that stays held and whose weight is within ``no_trade_band`` of its
   target is not traded: tiny drifts cost more than they fix. Entries and full exits always trade.
4. **Minimum order value.** Orders worth less than ``min_order_value`` are dropped (full exits of a
   position are kept so no dust is left).
5. **Turnover cap.** If the remaining orders trade more than ``max_turnover`` of equity
   (``sum |order value| / (2 * equity)``), every order is scaled down by the same factor (whole shares,
   rounded toward zero), so the book moves part of the way toward its targets.
6. **Order and ids.** Sells come before buys; each order's ``client_order_id`` is a function of the
   portfolio version and the symbol only, so a retried cycle sends the same ids and the broker, which
   refuses a known id, never doubles an order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pypfopt.discrete_allocation import DiscreteAllocation

ORDER_COLUMNS = [
    "client_order_id", "symbol", "side", "shares", "reference_price", "notional",
    "current_shares", "target_shares", "current_weight", "target_weight",
]  # fmt: skip


@dataclass(frozen=True)
class OrderPolicy:
    min_order_value: float = 250.0  # dollars; smaller orders are not worth their commission
    no_trade_band: float = 0.005  # |weight - target| below this (and still held): no order
    max_turnover: float | None = None  # per cycle, fraction of equity; None: no cap
    cash_buffer: float = 0.002  # share of equity left uninvested to pay slippage and commission

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_order_value) and self.min_order_value >= 0):
            raise ValueError(f"min_order_value must be >= 0 dollars, got {self.min_order_value!r}")
        if not 0 <= self.no_trade_band < 1:
            raise ValueError(f"no_trade_band must be in [0, 1), got {self.no_trade_band!r}")
        if self.max_turnover is not None and not 0 < self.max_turnover <= 1:
            raise ValueError(f"max_turnover must be in (0, 1] or None, got {self.max_turnover!r}")
        if not 0 <= self.cash_buffer < 0.5:
            raise ValueError(f"cash_buffer must be in [0, 0.5), got {self.cash_buffer!r}")


@dataclass(frozen=True)
class OrderPlan:
    orders: pd.DataFrame  # ORDER_COLUMNS, sells first
    skipped: pd.DataFrame  # symbol, reason: names with a gap to target that get no order, and why
    equity: float
    turnover: float  # of the orders sent: sum |value| / (2 * equity)
    turnover_scale: float  # 1.0, or the factor the turnover cap scaled every order by


def portfolio_version(as_of: pd.Timestamp, targets: pd.Series) -> str:
    """A short, stable name for one day's targets: the same date and weights give the same version."""
    canonical = ";".join(f"{s}={w:.8f}" for s, w in sorted(targets[targets > 0].items()))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    return f"{pd.Timestamp(as_of):%Y%m%d}-{digest}"


def client_order_id(version: str, symbol: str) -> str:
    """``qa-<version>-<symbol>``: the same portfolio version and symbol always give the same id."""
    return f"qa-{version}-{symbol}"[:128]  # Alpaca accepts ids up to 128 characters


def target_shares(targets: pd.Series, prices: pd.Series, equity: float, cash_buffer: float) -> pd.Series:
    """Whole shares per name for ``targets`` (weights of equity) via DiscreteAllocation's greedy rule."""
    invested = float(targets[targets > 0].sum())
    shares = pd.Series(0, index=targets.index, dtype="int64")
    if invested <= 0 or equity <= 0:
        return shares
    positive = targets[targets > 0]
    allocation, _ = DiscreteAllocation(
        {s: float(w / invested) for s, w in positive.items()},
        prices.reindex(positive.index).astype(float),
        total_portfolio_value=equity * invested * (1 - cash_buffer),
    ).greedy_portfolio()
    for symbol, count in allocation.items():
        shares[symbol] = int(count)
    return shares


def orders_from_targets(
    targets: pd.Series,
    holdings: pd.Series,
    cash: float,
    prices: pd.Series,
    *,
    version: str,
    policy: OrderPolicy = OrderPolicy(),
    frozen: dict[str, str] | None = None,
) -> OrderPlan:
    """Orders that move ``holdings`` (symbol -> shares) toward ``targets`` (symbol -> weight of equity).

    ``prices`` are the decision date's closes of every held or targeted name; ``frozen`` maps symbols
    that must not trade today to the reason (kept in ``skipped``)."""
    frozen = frozen or {}
    targets = targets.astype(float).fillna(0.0)
    holdings = holdings.astype(float)
    holdings = holdings[holdings != 0]
    symbols = sorted(set(targets[targets > 0].index) | set(holdings.index))
    missing = [s for s in symbols if not (s in prices.index and np.isfinite(prices[s]) and prices[s] > 0)]
    if missing:
        raise ValueError(f"no usable price for {', '.join(missing)}: cannot size their orders")
    if (targets < 0).any():
        raise ValueError(f"negative target weights (long-only): {', '.join(targets.index[targets < 0])}")
    price = prices.reindex(symbols).astype(float)
    current = holdings.reindex(symbols).fillna(0.0)
    equity = float(cash + (current * price).sum())
    if equity <= 0:
        raise ValueError(f"the account's equity is {equity:.2f}: nothing can be traded")
    wanted = target_shares(targets.reindex(symbols).fillna(0.0), price, equity, policy.cash_buffer)
    wanted = wanted.astype(float)
    current_weight = current * price / equity
    target_weight = targets.reindex(symbols).fillna(0.0)

    skipped: list[tuple[str, str]] = []
    for symbol, reason in frozen.items():
        if symbol in wanted.index and wanted[symbol] != current[symbol]:
            skipped.append((symbol, reason))
        if symbol in wanted.index:
            wanted[symbol] = current[symbol]
    delta = wanted - current
    stays_held = (current > 0) & (wanted > 0)
    in_band = stays_held & ((current_weight - target_weight).abs() < policy.no_trade_band) & (delta != 0)
    for symbol in delta.index[in_band]:
        skipped.append((symbol, f"within the no-trade band ({policy.no_trade_band:.2%} of equity)"))
    delta[in_band] = 0.0
    full_exit = (wanted == 0) & (current > 0)
    small = (delta.abs() * price < policy.min_order_value) & (delta != 0) & ~full_exit
    for symbol in delta.index[small]:
        skipped.append((symbol, f"order of ${abs(delta[symbol]) * price[symbol]:,.2f} is below the "
                                f"minimum ${policy.min_order_value:,.2f}"))  # fmt: skip
    delta[small] = 0.0

    scale = 1.0
    turnover = float((delta.abs() * price).sum() / (2 * equity))
    if policy.max_turnover is not None and turnover > policy.max_turnover:
        scale = policy.max_turnover / turnover
        delta = np.trunc(delta * scale)
        turnover = float((delta.abs() * price).sum() / (2 * equity))

    sent = delta[delta != 0]
    rows = [
        {
            "client_order_id": client_order_id(version, symbol),
            "symbol": symbol,
            "side": "sell" if shares < 0 else "buy",
            "shares": int(abs(shares)),
            "reference_price": float(price[symbol]),
            "notional": float(abs(shares) * price[symbol]),
            "current_shares": float(current[symbol]),
            "target_shares": float(wanted[symbol]),
            "current_weight": float(current_weight[symbol]),
            "target_weight": float(target_weight[symbol]),
        }
        for symbol, shares in sent.items()
    ]
    orders = pd.DataFrame(rows, columns=ORDER_COLUMNS)
    if len(orders):
        # Sells first (they free the cash buys need), then buys from the smallest, as the broker fills them.
        orders = orders.assign(_sell=orders["side"].eq("sell")).sort_values(
            ["_sell", "notional"], ascending=[False, True], kind="stable"
        ).drop(columns="_sell").reset_index(drop=True)  # fmt: skip
    skipped_frame = pd.DataFrame(skipped, columns=["symbol", "reason"])
    return OrderPlan(orders, skipped_frame, equity, turnover, scale)
