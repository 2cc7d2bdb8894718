"""The backtest asset inside the real graph: its value, metadata, MLflow runs and the shared policy."""

from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pandas as pd
import pytest

from quant_assets.core.policy import PolicyConfig, target_weights


@pytest.fixture(scope="module")
def materialization(pipeline):
    events = [
        e
        for e in pipeline.result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.to_user_string() == "backtest"
    ]
    assert len(events) == 1
    return events[0].event_specific_data.materialization.metadata


def test_backtest_value_reports_every_run_and_the_signal(pipeline):
    report = pipeline.value("backtest")
    summary = report["summary"]
    assert set(summary["benchmarks"]) == {"SPY", "equal_weight"}
    for run in (summary["net"], summary["gross"], summary["topk"], *summary["benchmarks"].values()):
        assert {"annual_return", "volatility", "sharpe", "max_drawdown"} <= set(run)
    assert summary["net"]["costs_total"] > 0 and summary["gross"]["costs_total"] == 0
    assert summary["span"]["last_decision"] <= "2018-02-07"
    assert report["equity"][0]["net"] == report["equity"][0]["gross"] == 1_000_000.0
    assert {t["symbol"] for t in report["trades"]} <= set(pipeline.settings.symbols)
    assert any("price return only" in w for w in report["warnings"])


def test_backtest_metadata_has_the_table_chart_and_tear_sheet(materialization):
    assert "| annual_return |" in materialization["metrics"].value
    assert materialization["equity_and_drawdown"].value.startswith(
        "![equity and drawdown](data:image/png;base64,"
    )
    sheet = Path(urlparse(materialization["tear_sheet"].value).path)
    assert sheet.exists() and "<html" in sheet.read_text()[:2000].lower()


def test_every_replayed_model_is_a_child_run_of_the_backtest_run(pipeline, materialization):
    client = mlflow.MlflowClient(tracking_uri=pipeline.settings.mlflow_tracking_uri)
    backtest_run = client.get_run(materialization["mlflow_run_id"].value)
    assert backtest_run.info.status == "FINISHED"
    parent = backtest_run.data.tags["mlflow.parentRunId"]
    assert client.get_run(parent).data.tags["dagster_run_id"] == pipeline.result.run_id
    children = client.search_runs(
        [backtest_run.info.experiment_id], f"tags.mlflow.parentRunId = '{backtest_run.info.run_id}'"
    )
    report = pipeline.value("backtest")
    assert len(children) == len(report["models"]) >= 2
    for child in children:
        assert child.data.params["label_known_by"] < child.data.params["decision_date"]
        artifacts = [a.path for a in client.list_artifacts(child.info.run_id)]
        assert artifacts == ["model.ubj"]
    assert {a.path for a in client.list_artifacts(backtest_run.info.run_id)} >= {
        "backtest.json",
        "equity.png",
        "tear_sheet.html",
    }
    assert backtest_run.data.metrics["net_sharpe"] == pytest.approx(report["summary"]["net"]["sharpe"])


def test_live_weights_come_from_the_policy_the_backtest_replays(pipeline):
    predictions = pipeline.value("predictions")
    bars = pipeline.value("validated_bars")
    closes = bars.pivot(index="date", columns="symbol", values="close").sort_index()
    fresh = predictions[~predictions["stale"]].set_index("symbol")["prediction"]
    expected = target_weights(
        fresh, closes, horizon_days=5, config=PolicyConfig(max_weight=pipeline.settings.max_weight)
    ).weights
    live = pipeline.value("portfolio_weights").set_index("symbol")["weight"]
    pd.testing.assert_series_equal(live.sort_index(), expected.sort_index(), check_names=False)
