"""The promotion rule: when does a challenger replace the champion?

Both are scored on the same rows: the challenger's most recent out-of-sample window. Default rule:
strictly lower RMSE and directional accuracy not worse. Optionally the RMSE improvement must also be
significant by a one-sided Diebold-Mariano test (``dm_alpha``), so noise alone never promotes.

Labels: a model may learn the raw return or it normalised per date (rank / zscore). The gate always
judges expected returns (a normalised-label model's score through the ``return_scale`` in its record,
``core.cross_section.ReturnScale``) against the raw realised return. When the challenger learns another
label than the champion it is still judged by this rule, on the same rows, rather than waved through as
a feature-set change is: the champion *can* be scored here (its inputs are still computed), and both
forecasts are what the optimiser would consume, so the rule measures what serving would change. The
reason then says the label changed, so a rejection is read as "the new label lost", not as noise. The
price: RMSE rewards forecasting the market's level, which a per-date label gives up by design (its
scale adds a constant mean), so a rank model must be at least as good in return units to replace a
raw-return champion; its ranking skill alone (rank IC) does not promote it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from quant_assets.core.metrics import diebold_mariano, regression_metrics


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float]
    dm_statistic: float | None = None
    dm_p_value: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def label_change_note(champion_label: str, challenger_label: str) -> str:
    """The prefix of a gate reason when the two models learn different labels ("" when they do not)."""
    if champion_label == challenger_label:
        return ""
    return (
        f"label changed from {champion_label} to {challenger_label}; both scored as expected returns "
        f"against the raw return: "
    )


def decide_promotion(
    realised: np.ndarray,
    challenger_pred: np.ndarray,
    champion_pred: np.ndarray,
    dates: np.ndarray,
    *,
    horizon: int,
    dm_alpha: float | None = None,
) -> GateDecision:
    challenger = regression_metrics(realised, challenger_pred, dates)
    champion = regression_metrics(realised, champion_pred, dates)
    statistic, p_value = diebold_mariano(realised, challenger_pred, champion_pred, horizon)
    common = {
        "challenger": challenger,
        "champion": champion,
        "dm_statistic": statistic,
        "dm_p_value": p_value,
    }
    if challenger["rmse"] >= champion["rmse"]:
        return GateDecision(
            False,
            f"RMSE {challenger['rmse']:.6f} is not below the champion's {champion['rmse']:.6f}",
            **common,
        )
    if challenger["directional_accuracy"] < champion["directional_accuracy"]:
        return GateDecision(
            False,
            f"directional accuracy {challenger['directional_accuracy']:.4f} is below "
            f"the champion's {champion['directional_accuracy']:.4f}",
            **common,
        )
    if dm_alpha is not None and p_value > dm_alpha:
        return GateDecision(
            False,
            f"RMSE improvement not significant (Diebold-Mariano p={p_value:.3f} > {dm_alpha})",
            **common,
        )
    return GateDecision(
        True,
        f"RMSE {challenger['rmse']:.6f} < {champion['rmse']:.6f} and direction "
        f"{challenger['directional_accuracy']:.4f} >= {champion['directional_accuracy']:.4f}",
        **common,
    )
