"""The risk report of today's target weights (``core.risk``), after ``portfolio_weights``."""

import matplotlib.pyplot as plt
import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, MetadataValue, asset

from quant_assets.assets import charts
from quant_assets.core.risk import portfolio_risk as measure_risk
from quant_assets.core.risk import simulated_returns
from quant_assets.resources.platform import PlatformConfig
from quant_assets.resources.trading import TradingResource
from quant_assets.sources.benchmark import read_benchmark_bars


def _var_table(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    frame["confidence"] = frame["confidence"].map("{:.0%}".format)
    for column in ("var", "cvar"):
        frame[column] = frame[column].map("{:.2%}".format)
    return frame.to_markdown(index=False)


@asset(group_name="portfolio", automation_condition=AutomationCondition.eager(), kinds={"pandas"})
def portfolio_risk(
    context: AssetExecutionContext,
    portfolio_weights: pd.DataFrame,
    validated_bars: pd.DataFrame,
    platform: PlatformConfig,
    trading: TradingResource,
) -> dict:
    """VaR/CVaR (historical and parametric, 95/99 %, 1 day and the horizon), volatility, beta to SPY,
    exposure, concentration and the worst historical windows, for today's weights."""
    weights = portfolio_weights.set_index("symbol")["weight"]
    closes = validated_bars.pivot(index="date", columns="symbol", values="close").sort_index()
    spy = None
    if platform.benchmark_file:
        spy = read_benchmark_bars(platform.benchmark_file).set_index("date")["close"]
    report = measure_risk(weights, closes, horizon_days=platform.horizon_days, spy_closes=spy)
    # The paper account's drawdown from its peak, at its newest mark (None before the first trading cycle).
    report["paper_account_drawdown"] = trading.ledger().drawdown()
    daily = simulated_returns(weights, closes)
    figure, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(daily, bins=60, color="#4c72b0")
    for row in report["var"]:
        if row["days"] == 1 and row["method"] == "historical":
            ax.axvline(-row["var"], color="#c44e52", lw=1, ls="--")
    ax.set_title("Today's weights on past daily returns; dashed: historical 1-day VaR 95/99 %", fontsize=9)
    ax.set_xlabel("daily return")
    figure.tight_layout()
    chart = charts.png_markdown(figure, "daily return distribution")
    plt.close(figure)
    var95 = next(
        r for r in report["var"] if (r["method"], r["confidence"], r["days"]) == ("historical", 0.95, 1)
    )
    context.add_output_metadata(
        {
            "var_95_1d_historical": var95["var"],
            "volatility": report["volatility"],
            "beta_spy": report["beta_spy"] if report["beta_spy"] is not None else float("nan"),
            "gross_exposure": report["gross_exposure"],
            "net_exposure": report["net_exposure"],
            "largest_weight": report["largest_weight"],
            "effective_names": report["effective_names"],
            "paper_account_drawdown": report["paper_account_drawdown"]
            if report["paper_account_drawdown"] is not None
            else float("nan"),
            "var_cvar": MetadataValue.md(_var_table(report["var"])),
            "stress": MetadataValue.md(
                pd.DataFrame(report["stress"]).to_markdown(index=False, floatfmt=".2%")
            ),
            "distribution": MetadataValue.md(chart),
        }
    )
    return report
