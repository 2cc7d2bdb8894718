"""Market data layers: raw bars as received, then validated (and adjusted) bars plus a quarantine.

raw_bars: every delivery of every bar, in arrival order (the symbol's source, then the landing zone's
files oldest first), with where each row came from. validated_bars: one row per (symbol, date), the
last valid delivery, adjusted for splits and dividends with the raw prices and factors beside them.
quarantined_bars: every row that did not make it, with the reason (bad values, corrections that
replaced it, spikes). Both carry a content data version: unchanged input, unchanged version.

All three are partitioned by symbol (dynamic partitions named ``symbols``, added by the symbol sensors,
``quant ingest`` and ``quant demo``): one partition per ticker keeps the count within Dagster's advice,
and ``BackfillPolicy.single_run()`` lets one run cover many symbols, because per-run overhead dominates.
The assets below see the run's symbols as one long frame; the lake stores one file per symbol.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pandera.errors
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AutomationCondition,
    BackfillPolicy,
    DataVersion,
    DynamicPartitionsDefinition,
    Failure,
    FreshnessPolicy,
    MetadataValue,
    Output,
    asset,
    multi_asset,
    multi_asset_check,
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
from quant_assets.resources.lake import split_by_partition
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.resources.platform import PlatformConfig
from quant_assets.sources.gather import gather_bars
from quant_assets.sources.yahoo import YahooClient

# Daily bars should land every trading day; a long weekend is the longest legitimate gap.
BARS_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(days=4), warn_window=timedelta(hours=26))

# One partition per ticker (never per ticker-day): a few thousand at most, far below Dagster's ~100k advice.
SYMBOLS = DynamicPartitionsDefinition(name="symbols")
ONE_RUN_FOR_MANY_SYMBOLS = BackfillPolicy.single_run()


def _markdown(frame: pd.DataFrame, rows: int = 50) -> MetadataValue:
    return MetadataValue.md(frame.head(rows).to_markdown(index=False) if len(frame) else "_none_")


def _describe_partitions(context: AssetExecutionContext, key: str, frame: pd.DataFrame) -> None:
    """Row count, dates and content fingerprint per symbol, so each partition tells its own story."""
    for symbol, part in split_by_partition(frame, list(context.partition_keys)).items():
        context.add_asset_metadata(
            {**frame_metadata(part, preview_rows=3), "fingerprint": frame_fingerprint(part)},
            asset_key=AssetKey(key),
            partition_key=symbol,
        )


@asset(
    group_name="market_data",
    freshness_policy=BARS_FRESHNESS,
    kinds={"pandas", "csv"},
    partitions_def=SYMBOLS,
    backfill_policy=ONE_RUN_FOR_MANY_SYMBOLS,
)
def raw_bars(
    context: AssetExecutionContext, platform: PlatformConfig, landing: LandingZoneResource
) -> Output[pd.DataFrame]:
    """Daily OHLCV exactly as the sources gave it (bad rows and every re-delivery included)."""
    symbols = list(context.partition_keys)
    universe = platform.universe
    sources = {symbol: universe.get(symbol, "landing") for symbol in symbols}  # not listed: landing only
    yahoo = YahooClient() if "yahoo" in sources.values() else None
    cache = landing.parse_cache()
    gathered = gather_bars(
        sources, Path(platform.data_dir), landing.open(), yahoo, only_symbols=set(symbols), cache=cache
    )
    if cache is not None and (cache.stats.parsed or cache.stats.cached):
        context.log.info(
            f"landing zone: {cache.stats.parsed} file(s) parsed, {cache.stats.cached} from the parse cache"
        )
    for error in gathered.errors:
        context.log.error(error)
    for warning in gathered.warnings:
        context.log.warning(warning)
    bars = gathered.bars
    orphans = bars["symbol"].isna()
    if orphans.any():  # no partition can hold them; the landed file keeps them unchanged
        where = ", ".join(sorted(bars.loc[orphans, "source"].astype(str).unique())[:5])
        context.log.warning(
            f"{int(orphans.sum())} row(s) without a symbol left in their landed file ({where}): "
            "fill the `Name` column or name the file after the ticker"
        )
        bars = bars[~orphans].reset_index(drop=True)
    if bars.empty and gathered.errors:
        raise Failure(f"no bars could be read: {'; '.join(gathered.errors[:5])}")
    files = pd.DataFrame(
        [(o.location, ", ".join(o.symbols), o.rows, o.error or "") for o in gathered.outcomes],
        columns=["input", "symbols", "rows", "error"],
    )
    _describe_partitions(context, "raw_bars", bars)
    return Output(
        bars,
        data_version=DataVersion(frame_fingerprint(bars)),
        metadata={
            "run_symbols": len(symbols),
            "run_rows": len(bars),
            "landing_zone": landing.uri,
            "inputs": MetadataValue.md(files.to_markdown(index=False) if len(files) else "_none_"),
            "input_errors": MetadataValue.json(gathered.errors),
            "warnings": MetadataValue.json(gathered.warnings[:100]),
        },
    )


@multi_asset(
    group_name="market_data",
    partitions_def=SYMBOLS,
    backfill_policy=ONE_RUN_FOR_MANY_SYMBOLS,
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
    """Split the run's raw bars into valid (adjusted) and quarantined rows; every rule is per symbol."""
    valid, quarantined = split_valid_bars(raw_bars)
    adjusted = adjust_for_actions(valid, actions_from_bars(raw_bars))
    gaps = missing_sessions(valid)
    suspects = [describe_suspected_split(row) for row in suspected_splits(adjusted).itertuples()]
    for suspect in suspects:
        context.log.warning(suspect)
    if len(quarantined):
        context.log.warning(f"quarantined {len(quarantined)} of {len(raw_bars)} bars; see quarantined_bars")
    _describe_partitions(context, "validated_bars", adjusted)
    _describe_partitions(context, "quarantined_bars", quarantined)
    yield Output(
        adjusted,
        "validated_bars",
        data_version=DataVersion(frame_fingerprint(adjusted)),
        metadata={
            "run_symbols": len(context.partition_keys),
            "run_rows": len(adjusted),
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
            "run_rows": len(quarantined),
            "reasons": MetadataValue.json(reason_kinds.value_counts().to_dict()),
            "rows": _markdown(quarantined.drop(columns=["unparsed"], errors="ignore")),
        },
    )


SCHEMA_CHECK = AssetCheckSpec(
    "validated_bars_schema",
    asset="validated_bars",
    blocking=True,
    partitions_def=SYMBOLS,
    description="ValidBars pandera schema: types, positive prices, OHLC order, unique (symbol, date).",
)
COVERAGE_CHECK = AssetCheckSpec(
    "validated_bars_cover_universe",
    asset="validated_bars",
    partitions_def=SYMBOLS,
    description="Every symbol followed has validated bars.",
)


def _evaluation(spec: AssetCheckSpec, symbol: str, passed: bool, severity, **details) -> AssetCheckEvaluation:
    """One result per symbol, even in a run over many: Dagster then knows which partition is blocked."""
    return AssetCheckEvaluation(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=passed,
        partition=symbol,
        blocking=spec.blocking,
        severity=severity,
        **details,
    )


def _check_done(spec: AssetCheckSpec) -> Output:
    """The check step's own output: downstream steps gate on it (a failed blocking result fails the step)."""
    return Output(None, output_name=spec.get_python_identifier())


def schema_failures_by_symbol(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Pandera failure cases per symbol; a whole-frame failure (a wrong dtype) counts for every symbol."""
    try:
        VALID_BARS_SCHEMA.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        rows = pd.to_numeric(cases["index"], errors="coerce")
        owner = frame["symbol"].reindex(rows.dropna().astype(int)).set_axis(rows.dropna().index)
        whole = cases[rows.isna()]
        return {
            symbol: pd.concat([cases.loc[owner.index[owner == symbol]], whole])
            for symbol in frame["symbol"].unique()
            if (owner == symbol).any() or len(whole)
        }
    return {}


@multi_asset_check(specs=[SCHEMA_CHECK])
def validated_bars_schema(context: AssetCheckExecutionContext, validated_bars: pd.DataFrame):
    """Blocking, per symbol: a symbol that fails stays out of every downstream read; the others flow."""
    failures = schema_failures_by_symbol(validated_bars)
    symbols = context.op_execution_context.partition_keys
    for symbol in symbols:
        cases = failures.get(symbol)
        if cases is None:
            rows = int((validated_bars["symbol"] == symbol).sum())
            yield _evaluation(SCHEMA_CHECK, symbol, True, AssetCheckSeverity.ERROR, metadata={"rows": rows})
            continue
        yield _evaluation(
            SCHEMA_CHECK,
            symbol,
            False,
            AssetCheckSeverity.ERROR,
            description=f"{symbol}: {len(cases)} schema violation(s); downstream assets leave it out",
            metadata={
                "failure_cases": MetadataValue.md(cases.head(30).to_markdown(index=False)),
                "failed_checks": MetadataValue.json(sorted(cases["check"].astype(str).unique().tolist())),
            },
        )
    if failures:
        context.log.error(f"validated_bars_schema failed for {', '.join(sorted(failures))}")
    yield _check_done(SCHEMA_CHECK)


@multi_asset_check(specs=[COVERAGE_CHECK])
def validated_bars_cover_universe(context: AssetCheckExecutionContext, validated_bars: pd.DataFrame):
    """A warning per symbol of the run that ended up with no validated bar at all."""
    counts = validated_bars["symbol"].value_counts()
    for symbol in context.op_execution_context.partition_keys:
        rows = int(counts.get(symbol, 0))
        yield _evaluation(COVERAGE_CHECK, symbol, rows > 0, AssetCheckSeverity.WARN, metadata={"rows": rows})
    yield _check_done(COVERAGE_CHECK)
