"""The backtest asset: the whole policy replayed out of sample, with costs, beside its benchmarks.

Metadata carries the metric table, the equity and drawdown chart and a link to QuantStats' HTML tear
sheet; MLflow keeps a ``backtest`` run (child of the Dagster run's run) with every replayed model as a
child run of its own.
"""

import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from dagster import AssetExecutionContext, Config, MetadataValue, asset

from quant_assets.assets import charts
from quant_assets.core.backtest import BacktestConfig, BacktestReport, run_backtest
from quant_assets.core.costs import CostModel
from quant_assets.core.labels import label_column
from quant_assets.core.limits import RiskLimits
from quant_assets.core.model import DEFAULT_XGB_PARAMS
from quant_assets.core.policy import PolicyConfig
from quant_assets.core.replay import ModelFit, ReplayConfig
from quant_assets.resources.feast_store import FeastResource
from quant_assets.resources.platform import PlatformConfig
from quant_assets.sources.benchmark import read_benchmark_bars


class BacktestSettings(Config):
    """Replay and execution settings (see README, "Does it make money?")."""

    rebalance_days: int = 5
    retrain_days: int = 21
    embargo_days: int = 5
    warmup_days: int = 504  # default start: after two years of market dates
    start: str | None = None  # YYYY-MM-DD, first decision date (overrides warmup_days)
    end: str | None = None
    span_days: int | None = None  # replay only the last N market dates (the demo's short run)
    commission_bps: float = 1.0
    min_commission: float = 0.0
    slippage_bps: float = 5.0
    impact_coefficient: float = 0.0
    capital: float = 1_000_000.0
    whole_shares: bool = False
    topk: int | None = None
    n_drop: int | None = None
    # Replay the trading cycle's drawdown stop, stop-loss and never-trade list (risk_limits.yaml).
    risk_limits: bool = True

    def to_config(self, platform: PlatformConfig, limits: RiskLimits | None = None) -> BacktestConfig:
        """Model parameters are the platform's defaults, never tuned ones: a search run on data inside
        the replay's span would leak its future into every replayed decision. The label is the
        platform's (``QUANT_LABEL``), so the replay learns what the live model learns."""
        return BacktestConfig(
            replay=ReplayConfig(
                horizon_days=platform.horizon_days,
                rebalance_days=self.rebalance_days,
                retrain_days=self.retrain_days,
                embargo_days=self.embargo_days,
                warmup_days=self.warmup_days,
                start=pd.Timestamp(self.start) if self.start else None,
                end=pd.Timestamp(self.end) if self.end else None,
                span_days=self.span_days,
                seed=platform.seed,
                params=dict(DEFAULT_XGB_PARAMS),
                policy=PolicyConfig(max_weight=platform.max_weight),
                topk=self.topk,
                n_drop=self.n_drop,
                label_transform=None if platform.label == "return" else platform.label,
                limits=limits if self.risk_limits else None,
            ),
            costs=CostModel(
                self.commission_bps, self.min_commission, self.slippage_bps, self.impact_coefficient
            ),
            capital=self.capital,
            whole_shares=self.whole_shares,
        )


class ReplayModelLog:
    """Each replayed model as a child run of the backtest's MLflow run: its window, size and booster."""

    def __init__(self, client: mlflow.MlflowClient, experiment_id: str, parent_run_id: str) -> None:
        self.client, self.experiment_id, self.parent = client, experiment_id, parent_run_id

    def __call__(self, fit: ModelFit, model) -> None:
        name = f"replay-model-{fit.decision_date.date()}"
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={"mlflow.parentRunId": self.parent, "model_sha256": fit.fingerprint},
        )
        self.client.log_batch(
            run.info.run_id,
            params=[
                mlflow.entities.Param(k, str(v))
                for k, v in {
                    "decision_date": fit.decision_date.date(),
                    "train_start": fit.train_start.date(),
                    "train_end": fit.train_end.date(),
                    "label_known_by": fit.label_known_by.date(),
                }.items()
            ],
            metrics=[mlflow.entities.Metric("train_rows", fit.rows, 0, 0)],
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.ubj"
            model.get_booster().save_model(path)
            self.client.log_artifact(run.info.run_id, str(path))
        self.client.set_terminated(run.info.run_id)


def _log_report(
    client: mlflow.MlflowClient,
    run_id: str,
    report: BacktestReport,
    settings: BacktestSettings,
    figure,
    label: str,
) -> str:
    """Metrics, the JSON document, the chart and the tear sheet into the backtest run; the sheet's URI."""
    client.log_batch(
        run_id,
        params=[
            mlflow.entities.Param(k, str(v)) for k, v in {**settings.model_dump(), "label": label}.items()
        ],
        metrics=[
            mlflow.entities.Metric(f"{run}_{metric}", float(value), 0, 0)
            for run, values in (("net", report.summary["net"]), ("gross", report.summary["gross"]),
                                ("topk", report.summary["topk"]), *report.summary["benchmarks"].items())
            for metric, value in values.items()
            if isinstance(value, int | float) and pd.notna(value)
        ] + [mlflow.entities.Metric(f"ic_{k}", float(v), 0, 0) for k, v in report.ic.items() if pd.notna(v)],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "backtest.json").write_text(json.dumps(report.to_json(), default=str))
        figure.savefig(folder / "equity.png", dpi=110)
        spy = report.runs["SPY"].returns if "SPY" in report.runs else None
        sheet = report.runs["net"].returns
        from quant_assets.core.performance import tear_sheet_html

        tear_sheet_html(
            sheet, spy, "quant-assets backtest (net of costs) vs SPY", str(folder / "tear_sheet.html")
        )
        for name in ("backtest.json", "equity.png", "tear_sheet.html"):
            client.log_artifact(run_id, str(folder / name))
    return f"{client.get_run(run_id).info.artifact_uri}/tear_sheet.html"


def dagster_run_mlflow_id(tracking, client: mlflow.MlflowClient, dagster_run_id: str) -> str | None:
    """The MLflow run dagster-mlflow keeps for this Dagster run (it may already be ended by a step)."""
    if tracking.mlflow_run_id:
        return tracking.mlflow_run_id
    active = mlflow.active_run()
    if active is not None:
        return active.info.run_id
    found = client.search_runs(
        [tracking.experiment.experiment_id], f"tags.dagster_run_id = '{dagster_run_id}'", max_results=1
    )
    return found[0].info.run_id if found else None


@asset(
    group_name="backtest",
    required_resource_keys={"mlflow", "feast", "platform", "trading"},
    kinds={"xgboost", "mlflow", "pandas"},
)
def backtest(
    context: AssetExecutionContext,
    config: BacktestSettings,
    training_set: pd.DataFrame,
    technical_features: pd.DataFrame,
    validated_bars: pd.DataFrame,
) -> dict:
    """The policy replayed day by day out of sample (monthly retrain, next-open fills, costs), with
    SPY buy-and-hold, equal weight and top-k beside it."""
    feast: FeastResource = context.resources.feast
    platform: PlatformConfig = context.resources.platform
    tracking = context.resources.mlflow  # dagster-mlflow: the Dagster run's MLflow run is the parent
    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri)
    parent_id = dagster_run_mlflow_id(tracking, client, context.run.run_id)
    # Not tagged dagster_run_id: dagster-mlflow resumes the run carrying that tag in later steps.
    parent = client.create_run(
        tracking.experiment.experiment_id,
        run_name="backtest",
        tags={"dagster_run": context.run.run_id, **({"mlflow.parentRunId": parent_id} if parent_id else {})},
    )
    run_id = parent.info.run_id
    spy = read_benchmark_bars(platform.benchmark_file) if platform.benchmark_file else None
    try:
        report = run_backtest(
            validated_bars,
            technical_features,
            training_set,
            feast.feature_names,
            label_column(platform.horizon_days),
            config.to_config(platform, context.resources.trading.limits()),
            spy_bars=spy,
            on_model=ReplayModelLog(client, tracking.experiment.experiment_id, run_id),
            progress=context.log.info,
        )
        figure = charts.equity_and_drawdown(report.equity, "Backtest: growth of 1 and drawdown")
        sheet_uri = _log_report(client, run_id, report, config, figure, platform.label)
        chart = charts.png_markdown(figure, "equity and drawdown")
        plt.close(figure)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id)
    context.add_output_metadata(
        {
            "headline": report.headline(),
            "label": platform.label,
            "metrics": MetadataValue.md(report.metrics_table()),
            "equity_and_drawdown": MetadataValue.md(chart),
            "tear_sheet": MetadataValue.url(sheet_uri),
            "mlflow_run_id": run_id,
            "span": MetadataValue.json(report.summary["span"]),
            "ic": MetadataValue.json({k: round(v, 4) for k, v in report.ic.items()}),
            "turnover_annual": report.summary["net"]["turnover_annual"],
            "costs_total": report.summary["net"]["costs_total"],
            "stops": MetadataValue.json(report.to_json()["stops"][:50]),
            "warnings": MetadataValue.json(report.warnings[:50]),
        }
    )
    return report.to_json()
