"""Asset jobs the schedules and sensors launch."""

from dagster import AssetSelection, define_asset_job

INGESTION = AssetSelection.assets("raw_bars", "validated_bars", "quarantined_bars")
# Retraining rebuilds the training set and everything that depends on the model.
RETRAINING = AssetSelection.assets("training_set").downstream()

ingestion_job = define_asset_job(
    "ingestion_job", selection=INGESTION, description="Fetch and validate the newest daily bars."
)
retrain_job = define_asset_job(
    "retrain_job",
    selection=RETRAINING,
    description="Train a challenger, gate it, rebuild bento, predictions and weights.",
)
everything_job = define_asset_job(
    "everything_job",
    selection=AssetSelection.all(),
    description="The whole graph, from raw bars to portfolio weights.",
)
