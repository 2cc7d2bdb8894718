"""Technical indicators and forward-return labels, each typed by its pandera schema."""

import pandas as pd
from dagster import AssetExecutionContext, AutomationCondition, asset
from dagster_pandera import pandera_schema_to_dagster_type

from quant_assets.assets.metadata import frame_metadata
from quant_assets.core.feature_sets import build_feature_set, feature_set
from quant_assets.core.labels import forward_returns, label_column
from quant_assets.core.schemas import labels_schema, technical_features_schema
from quant_assets.resources.platform import PlatformConfig

# Any feature set: symbol, date and finite-or-NaN floats (the set's exact columns are checked as it is built).
TechnicalFeatures = pandera_schema_to_dagster_type(technical_features_schema())

# Eager, except that a symbol partition with no value yet (just added, or its ingestion failed) must not
# hold back every other symbol's new bars: plain eager() waits until *all* parent partitions exist.
# The lake's loader leaves such a symbol out, with a log line.
EAGER_OVER_SYMBOLS = AutomationCondition.eager().without(~AutomationCondition.any_deps_missing())


@asset(
    group_name="features",
    dagster_type=TechnicalFeatures,
    automation_condition=EAGER_OVER_SYMBOLS,
    kinds={"pandas", "talib"},
)
def technical_features(
    context: AssetExecutionContext, validated_bars: pd.DataFrame, platform: PlatformConfig
) -> pd.DataFrame:
    """The configured feature set (default technical_v1, TA-Lib indicators) per (symbol, date), each
    using only bars up to that date's close."""
    chosen = feature_set(platform.feature_set)
    features = build_feature_set(chosen.name, validated_bars)
    coverage = features[list(chosen.columns)].notna().mean().round(3).to_dict()
    context.add_output_metadata(
        {**frame_metadata(features), "feature_set": chosen.name, "non_null_share": coverage}
    )
    return features


@asset(group_name="features", automation_condition=EAGER_OVER_SYMBOLS, kinds={"pandas"})
def labels(
    context: AssetExecutionContext, validated_bars: pd.DataFrame, platform: PlatformConfig
) -> pd.DataFrame:
    """Forward returns over the horizon; kept apart from features and joined only at training time."""
    frame = forward_returns(validated_bars, platform.horizon_days)
    labels_schema(label_column(platform.horizon_days)).validate(frame)
    context.add_output_metadata(
        {
            **frame_metadata(frame),
            "horizon_days": platform.horizon_days,
            "label": label_column(platform.horizon_days),
        }
    )
    return frame
