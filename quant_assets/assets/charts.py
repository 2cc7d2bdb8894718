"""Figures for the training report (MLflow artifacts): predicted vs realised, importance, calibration."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


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
