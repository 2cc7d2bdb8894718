"""portfolio_risk in the real graph: today's weights measured, every figure labelled, metadata shown."""

import pytest


def test_risk_report_of_todays_weights(pipeline):
    report = pipeline.value("portfolio_risk")
    weights = pipeline.value("portfolio_weights").set_index("symbol")["weight"]
    assert report["largest_weight"] == pytest.approx(weights.max())
    assert report["effective_names"] == pytest.approx(1 / (weights**2).sum())
    assert report["net_exposure"] == pytest.approx(weights.sum())
    kinds = {(r["method"], r["confidence"], r["days"]) for r in report["var"]}
    assert kinds == {(m, c, d) for m in ("historical", "parametric") for c in (0.95, 0.99) for d in (1, 5)}
    assert all(r["cvar"] >= r["var"] > 0 for r in report["var"])
    assert [r["days"] for r in report["stress"]] == [1, 5, 21]
    assert report["beta_spy"] is not None and 0 < report["beta_spy"] < 3


def test_risk_metadata_has_tables_and_a_chart(pipeline):
    events = [
        e
        for e in pipeline.result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.to_user_string() == "portfolio_risk"
    ]
    metadata = events[0].event_specific_data.materialization.metadata
    assert "| historical" in metadata["var_cvar"].value
    assert metadata["distribution"].value.startswith("![daily return distribution](data:image/png;base64,")
    assert metadata["var_95_1d_historical"].value > 0
