"""Plain-text tables of a training record, for the command line (demo, train, status)."""

from __future__ import annotations

import math

COLUMNS = (
    ("rmse", "rmse", "{:.5f}"),
    ("mae", "mae", "{:.5f}"),
    ("mape", "mape", "{:.4f}"),
    ("direction", "directional_accuracy", "{:.3f}"),
    ("ic", "ic", "{:+.3f}"),
    ("rank_ic", "rank_ic", "{:+.3f}"),
    ("icir", "icir", "{:+.3f}"),
)


def _cell(value: float | None, fmt: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def walk_forward_table(
    summary: dict[str, dict[str, float]], seed_spread: dict[str, float] | None = None, indent: str = ""
) -> str:
    """Mean over folds (± std across folds) for the model and each baseline."""
    header = f"{indent}{'model':<10}" + "".join(f"{name:>17}" for name, _, _ in COLUMNS)
    lines = [header]
    for model, metrics in summary.items():
        cells = []
        for _, key, fmt in COLUMNS:
            mean, std = metrics.get(key), metrics.get(f"{key}_std")
            cells.append(f"{_cell(mean, fmt)}±{_cell(std, fmt).lstrip('+')}")
        lines.append(f"{indent}{model:<10}" + "".join(f"{c:>17}" for c in cells))
    if seed_spread:
        lines.append(
            f"{indent}(xgboost spread over seeds: rmse ±{seed_spread.get('rmse', float('nan')):.6f}, "
            f"rank_ic ±{seed_spread.get('rank_ic', float('nan')):.4f})"
        )
    return "\n".join(lines)
