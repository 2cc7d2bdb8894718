"""Throughput of build_alpha_features (157 Alpha158-style columns) against build_features (16 columns).

    python benchmarks/alpha_features.py [--symbols 500 --days 2520 --seed 0 --repeat 3]

Both run on the same synthetic GBM OHLCV panel in one process, interleaved (A, B, A, B, ...) so that a
busy machine slows both alike; each figure is the best of ``--repeat`` runs. Besides rows/s the table
gives values/s (rows x columns / s), the work per output value, and a floor: allocating and writing once
the float64 matrix that holds build_alpha_features' output, which no implementation can avoid.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import talib
from features import panel_parser  # benchmarks/features.py, next to this script

from quant_assets.core.alpha_features import ALPHA_FEATURE_COLUMNS, build_alpha_features
from quant_assets.core.features import FEATURE_COLUMNS, build_features
from quant_assets.sources.synthetic import gbm_bars, gbm_panel


def write_output_once(rows: int) -> np.ndarray:
    """The floor: a fresh (columns, rows) float64 matrix, every value written once."""
    matrix = np.empty((len(ALPHA_FEATURE_COLUMNS), rows))
    for row in matrix:
        row.fill(1.0)
    return matrix


def interleaved_best(repeat: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for label, fn in runs.items():
            started = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - started)
    return best


def main() -> None:
    parser = panel_parser(__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bars = gbm_bars(gbm_panel(args.symbols, args.days, args.seed))
    shuffled = bars.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)
    rows = len(bars)
    print(
        f"panel: {args.symbols} symbols x {args.days} days = {rows:,} rows, best of {args.repeat}; "
        f"talib {talib.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    )
    build_alpha_features(bars.head(args.days))  # warm-up: imports, first-call allocations

    columns = {
        "build_features (sorted input)": len(FEATURE_COLUMNS),
        "build_alpha_features (sorted input)": len(ALPHA_FEATURE_COLUMNS),
        "build_alpha_features (shuffled input)": len(ALPHA_FEATURE_COLUMNS),
        "floor: write alpha output once": len(ALPHA_FEATURE_COLUMNS),
    }
    seconds = interleaved_best(
        args.repeat,
        {
            "build_features (sorted input)": lambda: build_features(bars),
            "build_alpha_features (sorted input)": lambda: build_alpha_features(bars),
            "build_alpha_features (shuffled input)": lambda: build_alpha_features(shuffled),
            "floor: write alpha output once": lambda: write_output_once(rows),
        },
    )

    base = seconds["build_features (sorted input)"]
    print(f"{'':40s}{'columns':>8s}{'seconds':>9s}{'rows/s':>12s}{'values/s':>14s}{'x time':>8s}")
    for label, secs in seconds.items():
        print(
            f"{label:40s}{columns[label]:>8d}{secs:>9.3f}{rows / secs:>12,.0f}"
            f"{rows * columns[label] / secs:>14,.0f}{secs / base:>8.2f}"
        )
    alpha = seconds["build_alpha_features (sorted input)"]
    widen = len(ALPHA_FEATURE_COLUMNS) / len(FEATURE_COLUMNS)
    print(
        f"rows/s, alpha / technical: {base / alpha:.3f}; alpha takes {alpha / base:.1f}x as long "
        f"for {widen:.1f}x the columns"
    )


if __name__ == "__main__":
    main()
