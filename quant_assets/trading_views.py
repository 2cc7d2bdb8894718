"""What ``quant risk|orders|trade`` and ``GET /api/risk|positions|orders`` show: one definition of each view.

Reads only what the pipeline stored (the lake's ``portfolio_risk`` and ``trading_targets``, the ledger,
the trading cycle's risk inputs), so the CLI and the HTTP API can never disagree, and neither needs
Dagster. Every view is plain JSON-ready data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from quant_assets.brokers.ledger import Ledger
from quant_assets.core.limit_checks import LimitResult, breaches, evaluate_limits
from quant_assets.core.limits import load_risk_limits

OPEN = ("pending_new", "new", "accepted", "partially_filled")


def _json_number(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _stored(lake_dir: Path, name: str) -> dict | None:
    path = Path(lake_dir) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def risk_view(lake_dir: Path, ledger_url: str) -> dict:
    """Today's risk report, the latest limit results and the paper account's drawdown.

    Raises FileNotFoundError (with what to run) when the pipeline has not produced a report yet."""
    report = _stored(lake_dir, "portfolio_risk")
    if report is None:
        raise FileNotFoundError("no risk report yet: run `make demo` (or materialise portfolio_risk)")
    targets = _stored(lake_dir, "trading_targets")
    account = positions_view(ledger_url)
    report = {k: _json_number(v) for k, v in report.items()}
    report["paper_account_drawdown"] = account["drawdown"]
    report["limits"] = None if targets is None else {"as_of": targets["as_of"], "results": targets["limits"]}
    return report


def positions_view(ledger_url: str) -> dict:
    """Positions at the newest mark, cash, equity and drawdown from the peak, from the ledger."""
    ledger = Ledger(ledger_url)
    history = ledger.equity_history()
    prices = ledger.last_mark_prices()
    positions = ledger.positions()
    cash = ledger.cash()
    rows = [
        {"symbol": s, "shares": n, "price": prices.get(s), "value": n * prices[s] if s in prices else None}
        for s, n in positions.items()
    ]
    equity = cash + sum(r["value"] or 0.0 for r in rows)
    for row in rows:
        row["weight"] = row["value"] / equity if row["value"] is not None and equity > 0 else None
    peak = float(history["equity"].max()) if len(history) else None
    return {
        "as_of": history.index[-1].date().isoformat() if len(history) else None,
        "cash": cash,
        "equity": equity,
        "positions": rows,
        "drawdown": (1 - equity / peak) if peak else None,
        "equity_history": [
            {"date": d.date().isoformat(), "equity": float(e)} for d, e in history["equity"].items()
        ],
    }


def orders_view(ledger_url: str, status: str | None = None) -> list[dict]:
    """Every order the ledger holds with its newest state; ``status`` filters (``open``: not final)."""
    frame = Ledger(ledger_url).order_states()
    if status == "open":
        frame = frame[frame["status"].isin(OPEN)]
    elif status:
        frame = frame[frame["status"] == status]
    columns = ["client_order_id", "symbol", "side", "shares", "status", "filled_shares",
               "average_fill_price", "commission", "as_of", "portfolio_version", "reason",
               "updated_at"]  # fmt: skip
    out = []
    for row in frame[columns].to_dict(orient="records"):
        row["as_of"] = str(row["as_of"]) if row["as_of"] is not None else None
        updated = row["updated_at"]
        row["updated_at"] = None if pd.isna(updated) else pd.Timestamp(updated).isoformat()
        out.append({k: _json_number(v) for k, v in row.items()})
    return out


def judge_weights(
    weights: dict[str, float], risk_limits_file: Path, risk_inputs_file: Path
) -> list[LimitResult]:
    """Posted weights judged by the risk limits the trading cycle applies; returns the breaches.

    VaR and turnover use the closes and book weights the last trading cycle stored; before any cycle
    has run they cannot be measured and pass with that reason (the per-name limits still apply)."""
    limits = load_risk_limits(risk_limits_file)
    closes, current = None, None
    if Path(risk_inputs_file).exists():
        inputs = json.loads(Path(risk_inputs_file).read_text())
        split = inputs["closes"]
        closes = pd.DataFrame(split["data"], index=pd.to_datetime(split["index"]), columns=split["columns"])
        current = pd.Series(inputs["current_weights"], dtype=float)
    results = evaluate_limits(pd.Series(weights, dtype=float), limits, current_weights=current, closes=closes)
    return breaches(results)
