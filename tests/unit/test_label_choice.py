"""The label a model learns (raw return, or rank / z-score per date): its score -> return scale, and that
a per-date label never leaks a test window's information into training."""

import numpy as np
import pandas as pd
import pytest
from synthetic_markets import gapped_dataset

from quant_assets.core.cross_section import ReturnScale, return_scale
from quant_assets.core.dataset import fit_return_scale, learning_rows
from quant_assets.core.features import FEATURE_COLUMNS
from quant_assets.core.labels import EXIT_DATE, label_column
from quant_assets.core.model import predict_returns
from quant_assets.core.walk_forward import (
    evaluate_walk_forward,
    label_folds,
    train_final_model,
    walk_forward_folds,
)

D = pd.bdate_range("2021-01-04", periods=3)
FAST = {"n_estimators": 40}
LABEL = label_column(5)


def known_labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [D[0], D[0], D[0], D[1], D[1], D[2], D[2]],
            "r": [0.01, 0.02, 0.06, -0.02, 0.02, 0.10, 0.30],
        }
    )


def test_scale_by_hand_on_the_newest_dates_only():
    scale = return_scale(known_labels(), "r", window_dates=2)
    # D1: mean 0.00, population std 0.02; D2: mean 0.20, std 0.10. D0 is outside the two newest dates.
    assert scale.mean == pytest.approx((0.0 + 0.20) / 2)
    assert scale.dispersion == pytest.approx((0.02 + 0.10) / 2)
    assert scale.window == f"{D[1].date()}..{D[2].date()}"
    assert scale.to_returns(np.array([0.0, 1.0, -2.0])) == pytest.approx([0.10, 0.16, -0.02])
    # round trip through a record (JSON-able), extra keys ignored; no record = a raw-return model
    assert ReturnScale.from_dict({**scale.as_dict(), "window_dates": 2}) == scale
    assert ReturnScale.from_dict(None).to_returns(np.array([0.03])) == pytest.approx([0.03])


def test_scale_refuses_what_cannot_turn_scores_into_returns():
    with pytest.raises(ValueError, match="no known r labels"):
        return_scale(known_labels().iloc[:0], "r")
    one_name_per_date = pd.DataFrame({"date": D, "r": [0.01, 0.02, 0.03]})
    with pytest.raises(ValueError, match="no usable score -> return scale"):
        return_scale(one_name_per_date, "r")


def test_a_raw_return_model_has_the_identity_scale_and_rows_as_they_are():
    rows = known_labels().assign(**{EXIT_DATE: D[2]})
    assert fit_return_scale(rows, "r", "return") == ReturnScale()
    assert learning_rows(rows, "r", "return") is rows
    assert fit_return_scale(rows, "r", "zscore") == return_scale(rows, "r")
    with pytest.raises(ValueError, match="label must be one of"):
        learning_rows(rows, "r", "percentile")
    with pytest.raises(ValueError, match="needs each row's exit_date"):
        learning_rows(rows.drop(columns=EXIT_DATE), "r", "rank")


def whole_date_exit(data: pd.DataFrame) -> pd.Series:
    """When a date's labels are all known: the latest exit among its names."""
    return data.groupby("date")[EXIT_DATE].transform("max")


@pytest.mark.parametrize("choice", ["rank", "zscore"])
def test_a_per_date_label_never_trains_on_a_date_not_wholly_known_before_the_test_window(choice):
    """S00 is halted just before the first test window: its labels there exit inside the window. With a
    per-date label every other name of those dates carries S00's future (the normalisation uses it), so
    their rows must leave training too, not only S00's."""
    data, config = gapped_dataset()
    known_by = whole_date_exit(data)
    raw_folds = walk_forward_folds(data["date"], config, data[EXIT_DATE])  # a raw label's purge
    assert (known_by[raw_folds[0].train] >= raw_folds[0].test_start).any()  # the trap is real

    _, folds = label_folds(data, LABEL, config, choice)
    for fold in folds:
        assert (known_by[fold.train] >= fold.test_start).sum() == 0
    report = evaluate_walk_forward(
        data, list(FEATURE_COLUMNS), LABEL, config, horizon=5, seeds=[1], params=FAST, label_choice=choice
    )
    by_dates = walk_forward_folds(data["date"], config)  # date-count purge only
    for fold, row in zip(by_dates, report.folds, strict=True):
        assert row["n_train"] == int((fold.train & (known_by < fold.test_start)).sum())

    final = train_final_model(
        data, list(FEATURE_COLUMNS), LABEL, config, seed=1, params=FAST, label_choice=choice
    )
    assert (known_by[final.train_rows.index] < final.test_rows["date"].min()).all()


def test_walk_forward_with_a_rank_label_scores_expected_returns_against_raw_returns():
    data, config = gapped_dataset()
    report = evaluate_walk_forward(
        data, list(FEATURE_COLUMNS), LABEL, config, horizon=5, seeds=[1], params=FAST, label_choice="rank"
    )
    oof = report.out_of_fold
    _, folds = label_folds(data, LABEL, config, "rank")
    for fold, row in zip(folds, report.folds, strict=True):
        # the scale by hand: the fold's own training rows, their newest 252 dates, per-date mean and std
        train = data[fold.train]
        newest = train[train["date"].isin(np.sort(train["date"].unique())[-252:])]
        per_date = newest.groupby("date")[LABEL]
        mean, dispersion = per_date.mean().mean(), per_date.std(ddof=0).mean()
        assert row["return_scale"]["mean"] == pytest.approx(mean)
        assert row["return_scale"]["dispersion"] == pytest.approx(dispersion)
        part = oof[oof["fold"] == fold.number]
        assert part["predicted"].to_numpy() == pytest.approx(mean + dispersion * part["score"].to_numpy())
        assert part["realised"].to_numpy() == pytest.approx(data.loc[fold.test, LABEL].to_numpy())
    # scores are ranks (about unit variance), predictions are returns over 5 days
    assert oof["score"].abs().max() > 5 * oof["predicted"].abs().max()
    assert report.summary["xgboost"]["rmse"] < 3 * oof["realised"].std()

    final = train_final_model(
        data, list(FEATURE_COLUMNS), LABEL, config, seed=1, params=FAST, label_choice="rank"
    )
    assert final.scale == return_scale(final.train_rows, LABEL)
    features = final.test_rows[list(FEATURE_COLUMNS)]
    assert final.predict(features) == pytest.approx(
        final.scale.mean + final.scale.dispersion * predict_returns(final.model, features)
    )


def test_the_raw_return_label_is_unchanged_by_the_label_machinery():
    """``return`` trains on the raw label with the identity scale: predictions are the model's output."""
    data, config = gapped_dataset()
    report = evaluate_walk_forward(
        data, list(FEATURE_COLUMNS), LABEL, config, horizon=5, seeds=[1], params=FAST
    )
    oof = report.out_of_fold
    assert (oof["predicted"] == oof["score"]).all()
    assert all(row["return_scale"] == ReturnScale().as_dict() for row in report.folds)
