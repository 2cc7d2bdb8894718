"""Figures for the training report (MLflow artifacts): predicted vs realised, importance, calibration."""

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402


def predicted_vs_realised(out_of_fold: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(out_of_fold["predicted"], out_of_fold["realised"], s=3, alpha=0.3)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("predicted return (out of fold)")
    ax.set_ylabel("realised return")
    ax.set_title("Walk-forward predictions")
    fig.tight_layout()
    return fig


def importance_bars(importance: pd.Series) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    importance.sort_values().plot.barh(ax=ax)
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance")
    fig.tight_layout()
    return fig


def reliability_plot(reliability: list[dict[str, object]]) -> Figure:
    fig, ax = plt.subplots(figsize=(5, 5))
    table = pd.DataFrame(reliability)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
    if len(table):
        ax.plot(table["mean_confidence"], table["hit_rate"], marker="o")
    ax.set_xlabel("stated confidence")
    ax.set_ylabel("observed hit rate")
    ax.set_title("Direction calibration (cross-fitted)")
    fig.tight_layout()
    return fig


def equity_and_drawdown(equity: pd.DataFrame, title: str = "Backtest") -> Figure:
    """Equity of every run (growth of 1) above the drawdown of each from its running peak."""
    growth = equity / equity.iloc[0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=(3, 1.4))
    for name in growth.columns:
        top.plot(growth.index, growth[name], lw=1.6 if name == "net" else 1.0, label=name)
        bottom.plot(growth.index, growth[name] / growth[name].cummax() - 1, lw=1.0)
    top.set_ylabel("growth of 1")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel("drawdown")
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.tight_layout()
    return fig


def png_markdown(figure: Figure, alt: str) -> str:
    """The figure as a markdown image with the PNG inline (how Dagster metadata shows a chart)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"
