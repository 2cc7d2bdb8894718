"""Market data layers: raw bars as received, then validated (and adjusted) bars plus a quarantine.

raw_bars: every delivery of every bar, in arrival order (the symbol's source, then the landing zone's
files oldest first), with where each row came from. validated_bars: one row per (symbol, date), the
last valid delivery, adjusted for splits and dividends with the raw prices and factors beside them.
quarantined_bars: every row that did not make it, with the reason (bad values, corrections that
replaced it, spikes). Both carry a content data version: unchanged input, unchanged version.
"""

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
    DataVersion,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    Output,
    asset,
    asset_check,
    multi_asset,
)

from quant_assets.assets.metadata import frame_metadata
from quant_assets.core.calendar import missing_sessions
from quant_assets.core.corporate_actions import (
    actions_from_bars,
    adjust_for_actions,
    describe_suspected_split,
    suspected_splits,
)
from quant_assets.core.fingerprint import frame_fingerprint
from quant_assets.core.schemas import VALID_BARS_SCHEMA
from quant_assets.core.validation import split_valid_bars
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.resources.platform import PlatformConfig
from quant_assets.sources.gather import gather_bars
from quant_assets.sources.yahoo import YahooClient

# Daily bars should land every trading day; a long weekend is the longest legitimate gap.
BARS_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(days=4), warn_window=timedelta(hours=26))


def _markdown(frame: pd.DataFrame, rows: int = 50) -> MetadataValue:
    return MetadataValue.md(frame.head(rows).to_markdown(index=False) if len(frame) else "_none_")


@asset(group_name="market_data", freshness_policy=BARS_FRESHNESS, kinds={"pandas", "csv"})
def raw_bars(
    context: AssetExecutionContext, platform: PlatformConfig, landing: LandingZoneResource
) -> Output[pd.DataFrame]:
    """Daily OHLCV exactly as the sources gave it (bad rows and every re-delivery included)."""
    universe = platform.universe
    yahoo = YahooClient() if "yahoo" in universe.values() else None
    gathered = gather_bars(universe, Path(platform.data_dir), landing.open(), yahoo)
    for error in gathered.errors:
        context.log.error(error)
    for warning in gathered.warnings:
        context.log.warning(warning)
    if gathered.bars.empty and gathered.errors:
        raise Failure(f"no bars could be read: {'; '.join(gathered.errors[:5])}")
    files = pd.DataFrame(
        [(o.location, ", ".join(o.symbols), o.rows, o.error or "") for o in gathered.outcomes],
        columns=["input", "symbols", "rows", "error"],
    )
    return Output(
        gathered.bars,
        data_version=DataVersion(frame_fingerprint(gathered.bars)),
        metadata={
            **frame_metadata(gathered.bars),
            "landing_zone": landing.uri,
            "inputs": MetadataValue.md(files.to_markdown(index=False) if len(files) else "_none_"),
            "input_errors": MetadataValue.json(gathered.errors),
            "warnings": MetadataValue.json(gathered.warnings[:100]),
        },
    )


@multi_asset(
    group_name="market_data",
    outs={
        "validated_bars": AssetOut(
            description="Bars that passed every rule, one per (symbol, date), adjusted for splits and "
            "dividends (raw_* prices and the factors kept beside them).",
            freshness_policy=BARS_FRESHNESS,
            kinds={"pandas"},
            automation_condition=AutomationCondition.eager(),
        ),
        "quarantined_bars": AssetOut(
            description="Rejected or replaced bars, kept with the reasons and the file and line they "
            "came from.",
            kinds={"pandas"},
            automation_condition=AutomationCondition.eager(),
        ),
    },
)
def validate_bars(context: AssetExecutionContext, raw_bars: pd.DataFrame):
    valid, quarantined = split_valid_bars(raw_bars)
    adjusted = adjust_for_actions(valid, actions_from_bars(raw_bars))
    gaps = missing_sessions(valid)
    suspects = [describe_suspected_split(row) for row in suspected_splits(adjusted).itertuples()]
    for suspect in suspects:
        context.log.warning(suspect)
    if len(quarantined):
        context.log.warning(f"quarantined {len(quarantined)} of {len(raw_bars)} bars; see quarantined_bars")
    yield Output(
        adjusted,
        "validated_bars",
        data_version=DataVersion(frame_fingerprint(adjusted)),
        metadata={
            **frame_metadata(adjusted),
            "quarantined": len(quarantined),
            "adjusted_symbols": int(adjusted.loc[adjusted["price_factor"] != 1, "symbol"].nunique()),
            "calendar_gaps": len(gaps),
            "missing_sessions": _markdown(gaps),
            "suspected_unrecorded_splits": MetadataValue.json(suspects),
        },
    )
    reason_kinds = quarantined["reason"].str.split(" [(]").str[0] if len(quarantined) else pd.Series()
    yield Output(
        quarantined,
        "quarantined_bars",
        data_version=DataVersion(frame_fingerprint(quarantined)),
        metadata={
            "dagster/row_count": len(quarantined),
            "reasons": MetadataValue.json(reason_kinds.value_counts().to_dict()),
            "rows": _markdown(quarantined.drop(columns=["unparsed"], errors="ignore")),
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
