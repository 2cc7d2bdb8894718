"""Symbols are data: two sensors turn new symbols and new files into symbol partitions and runs.

``universe_sensor``: a symbol listed in the universe file that is not yet a partition is added, and one
run ingests the added symbols. ``landing_zone_sensor``: new files in the landing zone (folder or S3 prefix;
a person, ``quant ingest``, ``POST /api/data`` writing ``landing/api/<timestamp>-<uuid>.csv``) are read
for the symbols they touch; unknown symbols become partitions and a run ingests exactly the touched
symbols. Eager automation then carries the new bars down the graph.

The landing cursor maps each file to its fingerprint, so a file is acted on once, and a replaced object
(an S3 key overwritten by someone else) counts as new. Runs cover contiguous ranges of the partition
order, usually one run for many symbols.
"""

from __future__ import annotations

import hashlib
import json

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from quant_assets.assets.ingestion import SYMBOLS
from quant_assets.automation.jobs import ingestion_job, symbol_run_requests
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.resources.platform import PlatformConfig
from quant_assets.sources.landing_cache import LandingParseCache, read_landed_rows, touched_symbols
from quant_assets.sources.landing_zone import LandingZone


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _listed(items: list[str], shown: int = 5) -> str:
    return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")


def evaluate_universe(context: SensorEvaluationContext, universe: dict[str, str]) -> SensorResult:
    """Add the universe's symbols that are not partitions yet, and ingest exactly those."""
    known = context.instance.get_dynamic_partitions(SYMBOLS.name)
    new = [symbol for symbol in universe if symbol not in set(known)]
    if not new:
        return SensorResult(skip_reason=SkipReason(f"all {len(universe)} universe symbols are partitions"))
    context.log.info(f"{len(new)} new symbol(s) in the universe: {_listed(new)}")
    return SensorResult(
        dynamic_partitions_requests=[SYMBOLS.build_add_request(new)],
        run_requests=symbol_run_requests(
            [*known, *new],
            new,
            run_key=f"universe-{_digest(new)}",
            tags={"quant/trigger": "universe", "quant/new_symbols": str(len(new))},
        ),
    )


def evaluate_landing_zone(
    context: SensorEvaluationContext, zone: LandingZone, cache: LandingParseCache | None = None
) -> SensorResult:
    """Ingestion runs for the symbols touched by files that are new or changed since the cursor.

    With the parse cache the new files are parsed here once and the run reads them from the cache.
    """
    files = zone.list_files()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    new_files = [f for f in files if seen.get(f.key) != f.fingerprint]
    cursor = json.dumps({f.key: f.fingerprint for f in files}, sort_keys=True)
    if not new_files:
        return SensorResult(
            skip_reason=SkipReason(f"no new files in {zone.uri} ({len(files)} known)"), cursor=cursor
        )
    context.log.info(f"{len(new_files)} new file(s) in {zone.uri}: {_listed([f.key for f in new_files])}")
    # The cache is kept for the whole listing (it forgets files it is not shown), so it gets them all.
    landed = cache.parse(zone, files) if cache is not None else read_landed_rows(zone, new_files)
    touched = touched_symbols(landed, [f.key for f in new_files])
    for error in touched.errors:
        context.log.warning(error)
    known = context.instance.get_dynamic_partitions(SYMBOLS.name)
    # An unreadable file only counts for a symbol we already follow (``oops.csv`` must not become OOPS).
    symbols = list(dict.fromkeys([*touched.symbols, *(s for s in touched.named_by_unreadable if s in known)]))
    if not symbols:
        return SensorResult(
            skip_reason=SkipReason(f"{len(new_files)} new file(s), but no symbol could be read from them"),
            cursor=cursor,
        )
    added = [s for s in symbols if s not in set(known)]
    batch = _digest([f"{f.key}@{f.fingerprint}" for f in new_files])
    return SensorResult(
        dynamic_partitions_requests=[SYMBOLS.build_add_request(added)] if added else [],
        run_requests=symbol_run_requests(
            [*known, *added],
            symbols,
            run_key=f"landing-{batch}",
            tags={"quant/trigger": "landing_zone", "quant/new_files": str(len(new_files))},
        ),
        cursor=cursor,
    )


@sensor(
    job=ingestion_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Add symbols listed in the universe file as partitions and ingest them.",
)
def universe_sensor(context: SensorEvaluationContext, platform: PlatformConfig):
    return evaluate_universe(context, platform.universe)


@sensor(
    job=ingestion_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Ingest the symbols touched by new bar files in the landing zone (folder or S3 prefix).",
)
def landing_zone_sensor(context: SensorEvaluationContext, landing: LandingZoneResource):
    return evaluate_landing_zone(context, landing.open(), landing.parse_cache())
