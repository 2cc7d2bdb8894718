"""The landing-zone sensor: new files in the landing zone (folder or S3 prefix) start an ingestion run.

Anything that drops a file there (a person, ``quant ingest``, ``POST /api/data`` writing
``landing/api/<timestamp>-<uuid>.csv``) gets it ingested without a schedule; eager automation then
carries the new bars down the graph. New symbols in those files join the ingestion by themselves.
The cursor maps each file to its fingerprint, so a file is acted on once, and a replaced object (an S3
key overwritten by someone else) counts as new.
"""

from __future__ import annotations

import hashlib
import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from quant_assets.automation.jobs import ingestion_job
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.sources.landing_zone import LandingZone


def evaluate_landing_zone(context: SensorEvaluationContext, zone: LandingZone) -> SensorResult:
    """One ingestion run for all files that are new or changed since the cursor."""
    files = zone.list_files()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    new = [f for f in files if seen.get(f.key) != f.fingerprint]
    cursor = json.dumps({f.key: f.fingerprint for f in files}, sort_keys=True)
    if not new:
        return SensorResult(
            skip_reason=SkipReason(f"no new files in {zone.uri} ({len(files)} known)"), cursor=cursor
        )
    batch = hashlib.sha256("\n".join(f"{f.key}@{f.fingerprint}" for f in new).encode()).hexdigest()[:16]
    listed = ", ".join(f.key for f in new[:5]) + (f" and {len(new) - 5} more" if len(new) > 5 else "")
    context.log.info(f"{len(new)} new file(s) in {zone.uri}: {listed}")
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=f"landing-{batch}",
                tags={"quant/trigger": "landing_zone", "quant/new_files": str(len(new))},
            )
        ],
        cursor=cursor,
    )


@sensor(
    job=ingestion_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Ingest whenever new bar files land in the landing zone (folder or S3 prefix).",
)
def landing_zone_sensor(context: SensorEvaluationContext, landing: LandingZoneResource):
    return evaluate_landing_zone(context, landing.open())
