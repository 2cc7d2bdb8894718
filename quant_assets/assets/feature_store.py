"""Feast: register the feature views, fill the offline and online stores, build training sets."""

from datetime import timedelta

import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, MetadataValue, asset

from quant_assets.assets.metadata import frame_metadata
from quant_assets.core.labels import EXIT_DATE, label_column
from quant_assets.resources.feast_store import FeastResource
from quant_assets.resources.platform import PlatformConfig


@asset(
    group_name="feature_store", automation_condition=AutomationCondition.eager(), kinds={"feast", "parquet"}
)
def feast_feature_views(
    context: AssetExecutionContext, technical_features: pd.DataFrame, feast: FeastResource
) -> dict:
    """Offline Parquet written, registry applied, newest features materialised to the online store."""
    offline_path = feast.write_offline(technical_features)
    feast.apply()
    start = pd.Timestamp(technical_features["date"].min()).tz_localize("UTC").to_pydatetime()
    end = (
        pd.Timestamp(technical_features["date"].max()).tz_localize("UTC") + timedelta(days=1)
    ).to_pydatetime()
    feast.materialize_online(start, end)
    summary = {
        "offline_path": str(offline_path),
        "feature_service": feast.feature_service_name,
        "features": feast.feature_names,
        "rows": len(technical_features),
        "symbols": int(technical_features["symbol"].nunique()),
        "materialized_until": end.isoformat(),
    }
    context.add_output_metadata(
        {
            "dagster/row_count": len(technical_features),
            "feature_service": feast.feature_service_name,
            "offline_path": MetadataValue.path(str(offline_path)),
            "materialized_until": summary["materialized_until"],
        }
    )
    return summary


@asset(group_name="training", deps=[feast_feature_views], kinds={"feast", "pandas"})
def training_set(
    context: AssetExecutionContext, labels: pd.DataFrame, feast: FeastResource, platform: PlatformConfig
) -> pd.DataFrame:
    """Labels joined point-in-time to the features known at each label's date, through Feast."""
    entity_df = labels.rename(columns={"date": "event_timestamp"})
    joined = feast.historical_features(entity_df)
    joined["date"] = joined.pop("event_timestamp").dt.tz_convert(None).astype("datetime64[ns]")
    exits = pd.to_datetime(joined[EXIT_DATE])
    joined[EXIT_DATE] = (exits.dt.tz_convert(None) if exits.dt.tz else exits).astype("datetime64[ns]")
    ordered = ["symbol", "date", *feast.feature_names, label_column(platform.horizon_days), EXIT_DATE]
    frame = joined[ordered].sort_values(["date", "symbol"]).reset_index(drop=True)
    context.add_output_metadata({**frame_metadata(frame), "feature_service": feast.feature_service_name})
    return frame
