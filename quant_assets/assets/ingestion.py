"""Market data layers: raw bars as received, then validated bars plus a quarantine of bad rows."""

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pandera.errors
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetOut,
    AutomationCondition,
    FreshnessPolicy,
    MetadataValue,
    Output,
    asset,
    asset_check,
    multi_asset,
)

from quant_assets.assets.metadata import frame_metadata
from quant_assets.core.schemas import VALID_BARS_SCHEMA
from quant_assets.core.validation import split_valid_bars
from quant_assets.resources.platform import PlatformConfig
from quant_assets.sources.bundled import load_bundled_bars

# Daily bars should land every trading day; a long weekend is the longest legitimate gap.
BARS_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(days=4), warn_window=timedelta(hours=26))


@asset(group_name="market_data", freshness_policy=BARS_FRESHNESS, kinds={"pandas", "csv"})
def raw_bars(context: AssetExecutionContext, platform: PlatformConfig) -> pd.DataFrame:
    """Daily OHLCV for the universe exactly as the source gave it (bad rows included)."""
    bars = load_bundled_bars(Path(platform.data_dir), platform.symbols)
    context.add_output_metadata({**frame_metadata(bars), "source": platform.data_dir})
    return bars


@multi_asset(
    group_name="market_data",
    outs={
        "validated_bars": AssetOut(
            description="Bars that passed every rule, one per (symbol, date).",
            freshness_policy=BARS_FRESHNESS,
            kinds={"pandas"},
            automation_condition=AutomationCondition.eager(),
        ),
        "quarantined_bars": AssetOut(
            description="Rejected bars, kept with the reasons they failed.",
            kinds={"pandas"},
            automation_condition=AutomationCondition.eager(),
        ),
    },
)
def validate_bars(context: AssetExecutionContext, raw_bars: pd.DataFrame):
    valid, quarantined = split_valid_bars(raw_bars)
    if len(quarantined):
        context.log.warning(f"quarantined {len(quarantined)} of {len(raw_bars)} bars; see quarantined_bars")
    yield Output(valid, "validated_bars", metadata={**frame_metadata(valid), "quarantined": len(quarantined)})
    reasons = quarantined["reason"].value_counts().to_dict() if len(quarantined) else {}
    yield Output(
        quarantined,
        "quarantined_bars",
        metadata={
            "dagster/row_count": len(quarantined),
            "reasons": MetadataValue.json(reasons),
            "rows": MetadataValue.md(
                quarantined.head(50).to_markdown(index=False) if len(quarantined) else "_none_"
            ),
        },
    )


@asset_check(
    asset="validated_bars",
    blocking=True,
    description="ValidBars pandera schema: types, positive prices, OHLC order, unique (symbol, date).",
)
def validated_bars_schema(validated_bars: pd.DataFrame) -> AssetCheckResult:
    try:
        VALID_BARS_SCHEMA.validate(validated_bars, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=f"{len(cases)} schema violation(s); downstream assets are not updated",
            metadata={
                "failure_cases": MetadataValue.md(cases.head(30).to_markdown(index=False)),
                "failed_checks": MetadataValue.json(sorted(cases["check"].astype(str).unique().tolist())),
            },
        )
    return AssetCheckResult(passed=True, metadata={"rows": len(validated_bars)})


@asset_check(asset="validated_bars", description="Every symbol of the universe has validated bars.")
def validated_bars_cover_universe(validated_bars: pd.DataFrame, platform: PlatformConfig) -> AssetCheckResult:
    present = set(validated_bars["symbol"].unique())
    missing = sorted(set(platform.symbols) - present)
    return AssetCheckResult(
        passed=not missing,
        severity=AssetCheckSeverity.WARN,
        metadata={"missing_symbols": MetadataValue.json(missing), "symbols": len(present)},
    )
