"""`quant trade`, `quant orders`, `quant risk` on a copy of the test pipeline's state (its first orders)."""

import json
import shutil

import pytest

from quant_assets.brokers.ledger import Ledger
from quant_assets.cli import main


@pytest.fixture
def desk(pipeline, tmp_path, monkeypatch):
    """The pipeline's lake and ledger copied to a fresh home, so commands here change nothing shared."""
    home = tmp_path / "home"
    for part in ("lake", "trading"):
        shutil.copytree(pipeline.settings.home / part, home / part)
    shutil.copy(pipeline.settings.risk_limits_file, home / "risk_limits.yaml")
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.setenv("QUANT_RISK_LIMITS", str(home / "risk_limits.yaml"))
    monkeypatch.setenv("QUANT_SYMBOLS", ",".join(pipeline.settings.symbols))
    return home


def _ledger(home) -> Ledger:
    return Ledger(f"sqlite:///{home / 'trading' / 'ledger.db'}")


def test_the_pipeline_sent_first_orders_and_a_repeat_cycle_sends_nothing_new(desk, capsys):
    before = _ledger(desk).order_states()
    assert len(before) > 0 and set(before["status"]) == {"accepted"}
    assert main(["trade", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"broker", "orders", "positions", "cash", "equity", "blocked_by"}
    assert out["broker"] == "paper" and out["blocked_by"] == []
    assert {o["client_order_id"] for o in out["orders"]} == set(before["client_order_id"])
    assert set(out["orders"][0]) == {"client_order_id", "symbol", "side", "shares", "status"}
    assert len(_ledger(desk).order_states()) == len(before)  # the same ids: nothing doubled


def test_a_dry_run_shows_the_orders_and_writes_nothing(desk, capsys):
    ledger_file = desk / "trading" / "ledger.db"
    stamp = ledger_file.stat().st_mtime_ns, ledger_file.read_bytes()
    assert main(["trade", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] is True and out["orders"]
    assert {o["status"] for o in out["orders"]} == {"already_sent"}
    assert (ledger_file.stat().st_mtime_ns, ledger_file.read_bytes()) == stamp


def test_a_breached_limit_blocks_the_cycle_with_exit_status_3(desk, capsys):
    (desk / "risk_limits.yaml").write_text("max_weight: 0.5\nmin_names: 40\n")
    assert main(["trade", "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["orders"] == [] and [b["check"] for b in out["blocked_by"]] == ["limit_min_names"]
    assert "at least 40" in out["blocked_by"][0]["reason"]
    assert main(["trade"]) == 3
    assert "BLOCKED by limit_min_names" in capsys.readouterr().out


def test_orders_and_risk_read_the_ledger_and_the_report(desk, capsys):
    assert main(["orders", "--json", "--status", "open"]) == 0
    orders = json.loads(capsys.readouterr().out)["orders"]
    assert orders and {o["status"] for o in orders} == {"accepted"}
    assert main(["orders", "--json", "--status", "filled"]) == 0
    assert json.loads(capsys.readouterr().out)["orders"] == []
    assert main(["risk", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["paper_account_drawdown"] == 0.0
    assert set(report["limits"]["results"]) == {"max_weight", "min_names", "max_var_95_1d", "max_turnover",
                                                "never_trade"}  # fmt: skip
    assert main(["risk"]) == 0
    assert "historical VaR/CVaR 95% 1-day" in capsys.readouterr().out
