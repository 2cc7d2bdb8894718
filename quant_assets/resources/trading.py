"""The trading cycle's broker, ledger, risk limits, costs and order rules, configured from settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource

from quant_assets.brokers.base import Broker
from quant_assets.brokers.ledger import Ledger
from quant_assets.brokers.paper import DEFAULT_CAPITAL, PaperBroker
from quant_assets.core.costs import CostModel
from quant_assets.core.limits import RiskLimits, load_risk_limits
from quant_assets.core.orders import OrderPolicy

_COSTS = CostModel()
_ORDERS = OrderPolicy()


class TradingResource(ConfigurableResource):
    broker: str = "paper"  # paper | alpaca
    ledger_url: str  # the platform's ledger (SQLAlchemy URL); the paper broker's book lives beside it
    risk_limits_file: str
    state_dir: str  # where the cycle leaves the inputs the HTTP API judges posted weights with
    paper_capital: float = DEFAULT_CAPITAL
    # The backtest's cost model (same defaults), so the paper account fills as the replay did.
    commission_bps: float = _COSTS.commission_bps
    min_commission: float = _COSTS.min_commission
    slippage_bps: float = _COSTS.slippage_bps
    impact_coefficient: float = _COSTS.impact_coefficient
    min_order_value: float = _ORDERS.min_order_value
    no_trade_band: float = _ORDERS.no_trade_band
    max_order_turnover: float | None = None  # the orders' turnover cap (None: off; the limit still blocks)
    environment: dict[str, str] = {}  # APCA_* for the alpaca broker, as read by settings

    def limits(self) -> RiskLimits:
        return load_risk_limits(self.risk_limits_file)

    def costs(self) -> CostModel:
        return CostModel(self.commission_bps, self.min_commission, self.slippage_bps, self.impact_coefficient)

    def order_policy(self) -> OrderPolicy:
        return OrderPolicy(self.min_order_value, self.no_trade_band, self.max_order_turnover)

    def ledger(self) -> Ledger:
        return Ledger(self.ledger_url)

    def connect(self, as_of: dt.date | pd.Timestamp) -> Broker:
        """The configured broker; the paper one accepts orders for the decision date ``as_of``."""
        if self.broker == "paper":
            return PaperBroker(self.ledger_url, capital=self.paper_capital, costs=self.costs(), as_of=as_of)
        if self.broker == "alpaca":
            from quant_assets.brokers.alpaca import AlpacaBroker

            return AlpacaBroker.from_environment(self.environment)
        raise ValueError(f"unknown broker {self.broker!r}: use paper or alpaca (QUANT_BROKER)")

    @property
    def risk_inputs_path(self) -> Path:
        return Path(self.state_dir) / "risk_inputs.json"
