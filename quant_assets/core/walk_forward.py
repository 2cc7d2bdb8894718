"""Walk-forward evaluation: train on the past, test on the next window, roll on; never the reverse.

The last ``n_folds * test_days`` distinct dates are cut into consecutive test windows. For each,
training uses dates up to ``purge_days + embargo_days`` before the window: the purge (at least the
label span, h + 1 bars) drops rows whose labels reach into the test window; the embargo adds a gap
against serial correlation of features. ``expanding`` trains from the first date, ``rolling`` on the
last ``train_days`` dates only. The model, every baseline and every seed see exactly the same rows.

With a per-date label (``label_choice`` rank or zscore, ``core.dataset.learning_rows``) the model learns
the normalised label and the folds purge on its moved exit dates (a date's label is known only when all
its names are); its scores are turned back into returns with the scale of its own training rows
(``core.dataset.fit_return_scale``), so every metric, for every label, compares an expected return with
the realised raw return. Baselines forecast returns and always learn the raw label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost as xgb

from quant_assets.core.baselines import applicable_baselines
from quant_assets.core.cross_section import ReturnScale
from quant_assets.core.dataset import fit_return_scale, learning_rows
from quant_assets.core.labels import EXIT_DATE
from quant_assets.core.metrics import METRIC_NAMES, regression_metrics
from quant_assets.core.model import predict_returns, train_regressor


@dataclass(frozen=True)
class WalkForwardConfig:
    purge_days: int
    n_folds: int = 4
    test_days: int = 63  # one quarter of trading days
    scheme: str = "expanding"  # or "rolling"
    train_days: int = 504  # rolling window length (two years)
    embargo_days: int = 5
    min_train_days: int = 126

    def __post_init__(self) -> None:
        if self.scheme not in ("expanding", "rolling"):
            raise ValueError(f"scheme must be 'expanding' or 'rolling', got {self.scheme!r}")
        if self.n_folds < 1 or self.test_days < 1:
            raise ValueError(f"need n_folds >= 1 and test_days >= 1, got {self.n_folds}, {self.test_days}")
        if self.purge_days < 0 or self.embargo_days < 0:
            raise ValueError("purge_days and embargo_days cannot be negative")


@dataclass(frozen=True)
class Fold:
    number: int
    train: np.ndarray  # boolean row mask
    test: np.ndarray
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def describe(self) -> dict[str, object]:
        return {
            "fold": self.number,
            "train": f"{self.train_start.date()}..{self.train_end.date()}",
            "test": f"{self.test_start.date()}..{self.test_end.date()}",
            "n_train": int(self.train.sum()),
            "n_test": int(self.test.sum()),
        }


def walk_forward_folds(
    dates: pd.Series, config: WalkForwardConfig, exit_dates: pd.Series | None = None
) -> list[Fold]:
    """Folds in time order; raises if the history cannot hold them with enough training data.

    With ``exit_dates`` (each label's exit, see ``core.labels``) a training row must also have its
    label known before the test window opens: the date-count purge alone misses symbols with gaps.
    """
    row_dates = pd.to_datetime(dates).to_numpy()
    row_exits = None if exit_dates is None else pd.to_datetime(exit_dates).to_numpy()
    unique = np.sort(np.unique(row_dates))
    gap = config.purge_days + config.embargo_days
    first_test = len(unique) - config.n_folds * config.test_days
    if first_test - gap < config.min_train_days:
        raise ValueError(
            f"not enough history for {config.n_folds} folds of {config.test_days} days: {len(unique)} dates, "
            f"need at least {config.min_train_days + gap + config.n_folds * config.test_days} "
            f"({config.min_train_days} train + {gap} purge/embargo + test); use fewer or shorter folds"
        )
    folds = []
    for number in range(config.n_folds):
        test_lo = first_test + number * config.test_days
        test_hi = test_lo + config.test_days - 1
        train_hi = test_lo - gap - 1
        train_lo = 0 if config.scheme == "expanding" else max(0, train_hi - config.train_days + 1)
        train = (row_dates >= unique[train_lo]) & (row_dates <= unique[train_hi])
        if row_exits is not None:
            train &= row_exits < unique[test_lo]
        folds.append(
            Fold(
                number=number + 1,
                train=train,
                test=(row_dates >= unique[test_lo]) & (row_dates <= unique[test_hi]),
                train_start=pd.Timestamp(unique[train_lo]),
                train_end=pd.Timestamp(unique[train_hi]),
                test_start=pd.Timestamp(unique[test_lo]),
                test_end=pd.Timestamp(unique[test_hi]),
            )
        )
    return folds


def final_fold(dataset: pd.DataFrame, config: WalkForwardConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last fold's training and test rows: the challenger is trained on exactly these."""
    last = walk_forward_folds(dataset["date"], config, dataset.get(EXIT_DATE))[-1]
    return dataset[last.train], dataset[last.test]


def label_folds(
    dataset: pd.DataFrame, label: str, config: WalkForwardConfig, label_choice: str = "return"
) -> tuple[pd.DataFrame, list[Fold]]:
    """The rows with the label the model learns, and folds purged on *their* exit dates.

    For a per-date label a training row needs every name of its date known before the test window, not
    only its own: the rows' moved exit dates say so (``core.dataset.learning_rows``)."""
    fit_rows = learning_rows(dataset, label, label_choice)
    return fit_rows, walk_forward_folds(fit_rows["date"], config, fit_rows.get(EXIT_DATE))


@dataclass(frozen=True)
class FinalModel:
    """The challenger: trained on the last fold's training rows, scored on its test rows (the holdout)."""

    model: xgb.XGBRegressor
    scale: ReturnScale  # its scores -> expected returns, measured on its own training rows
    train_rows: pd.DataFrame  # raw labels
    test_rows: pd.DataFrame  # raw labels

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Expected return over the horizon per row (its score through ``scale``)."""
        return self.scale.to_returns(predict_returns(self.model, features))


def train_final_model(
    dataset: pd.DataFrame,
    feature_names: list[str],
    label: str,
    config: WalkForwardConfig,
    *,
    seed: int,
    params: dict[str, object] | None = None,
    label_choice: str = "return",
) -> FinalModel:
    """Train on exactly the last fold's training rows with the chosen label, and measure its scale."""
    fit_rows, folds = label_folds(dataset, label, config, label_choice)
    last = folds[-1]
    model = train_regressor(
        fit_rows.loc[last.train, feature_names], fit_rows.loc[last.train, label], seed=seed, params=params
    )
    train_rows = dataset[last.train]
    return FinalModel(
        model, fit_return_scale(train_rows, label, label_choice), train_rows, dataset[last.test]
    )


@dataclass
class WalkForwardReport:
    folds: list[
        dict[str, object]
    ]  # per fold: dates, sizes, model metrics (mean and std over seeds), baselines
    summary: dict[
        str, dict[str, float]
    ]  # name -> metric -> mean over folds (and "<metric>_std" across folds)
    seed_spread: dict[str, float]  # metric -> std over seeds of the fold-averaged model metric
    # symbol, date, fold, realised (raw label), score and predicted (its expected return; primary seed),
    # one column per baseline
    out_of_fold: pd.DataFrame
    seeds: list[int] = field(default_factory=list)


def _summarise(per_fold: list[dict[str, float]]) -> dict[str, float]:
    frame = pd.DataFrame(per_fold)[list(METRIC_NAMES)]
    return {**frame.mean().to_dict(), **{f"{k}_std": v for k, v in frame.std(ddof=0).to_dict().items()}}


def evaluate_walk_forward(
    dataset: pd.DataFrame,
    feature_names: list[str],
    label: str,
    config: WalkForwardConfig,
    *,
    horizon: int,
    seeds: list[int],
    params: dict[str, object] | None = None,
    label_choice: str = "return",
) -> WalkForwardReport:
    """Train and score the model (once per seed) and every baseline on every fold.

    ``dataset`` carries the raw ``label``; ``label_choice`` is what the model learns (see the module)."""
    fit_rows, folds = label_folds(dataset, label, config, label_choice)
    fold_rows, oof_parts = [], []
    by_seed: dict[int, list[dict[str, float]]] = {s: [] for s in seeds}
    baselines = applicable_baselines(feature_names)
    by_baseline: dict[str, list[dict[str, float]]] = {name: [] for name in baselines}
    for fold in folds:
        train, fit, test = dataset[fold.train], fit_rows[fold.train], dataset[fold.test]
        scale = fit_return_scale(train, label, label_choice)
        realised, test_dates = test[label].to_numpy(), test["date"].to_numpy()
        oof = test[["symbol", "date"]].assign(fold=fold.number, realised=realised)
        seed_metrics = []
        for i, seed in enumerate(seeds):
            model = train_regressor(fit[feature_names], fit[label], seed=seed, params=params)
            scores = predict_returns(model, test[feature_names])
            predicted = scale.to_returns(scores)
            seed_metrics.append(regression_metrics(realised, predicted, test_dates))
            by_seed[seed].append(seed_metrics[-1])
            if i == 0:
                oof["score"], oof["predicted"] = scores, predicted
        baseline_metrics = {}
        for name, forecast in baselines.items():
            predicted = forecast(train[feature_names], train[label], test[feature_names], horizon)
            oof[f"baseline_{name}"] = predicted
            baseline_metrics[name] = regression_metrics(realised, predicted, test_dates)
            by_baseline[name].append(baseline_metrics[name])
        seed_frame = pd.DataFrame(seed_metrics)[list(METRIC_NAMES)]
        fold_rows.append(
            {
                **fold.describe(),
                "model": seed_frame.mean().to_dict(),
                "model_seed_std": seed_frame.std(ddof=0).to_dict(),
                "baselines": baseline_metrics,
                "return_scale": scale.as_dict(),
            }
        )
        oof_parts.append(oof)
    seed_means = pd.DataFrame([pd.DataFrame(m)[list(METRIC_NAMES)].mean() for m in by_seed.values()])
    summary = {"xgboost": _summarise([row["model"] for row in fold_rows])}
    summary.update({name: _summarise(metrics) for name, metrics in by_baseline.items()})
    return WalkForwardReport(
        folds=fold_rows,
        summary=summary,
        seed_spread=seed_means.std(ddof=0).to_dict(),
        out_of_fold=pd.concat(oof_parts, ignore_index=True),
        seeds=list(seeds),
    )
