"""Bars posted to the API reach the pipeline: S3 landing zone -> landing-zone sensor -> validated bars.

A real ``bentoml serve`` writes into a bucket on moto's S3 server (standing in for MinIO); the platform's
own sensor finds the file, adds the new symbol's partition and asks for one run; that run ingests it.
"""

import boto3
import httpx
from dagster import DagsterInstance, build_sensor_context
from fixture_paths import SMALL_UNIVERSE_LIMITS

from quant_assets.assets.ingestion import SYMBOLS
from quant_assets.automation.symbol_sensors import landing_zone_sensor
from quant_assets.definitions import build_definitions
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.settings import BUNDLED_DATA_DIR, Settings

BUCKET, PREFIX = "quant-landing", "landing"
AAPL_NEXT_DAY = {  # the session after the bundled data ends
    "symbol": "AAPL",
    "date": "2018-02-08",
    "open": 160.29,
    "high": 161.0,
    "low": 155.03,
    "close": 155.15,
    "volume": 54390516,
}


def test_posted_bars_land_in_s3_and_the_sensor_ingests_them(start_server, s3_endpoint, api_keys, tmp_path):
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    env = {
        "QUANT_API_KEYS": api_keys[0],
        "QUANT_LANDING": f"s3://{BUCKET}/{PREFIX}",
        "QUANT_S3_ENDPOINT_URL": s3_endpoint,
    }
    bars = [AAPL_NEXT_DAY, {**AAPL_NEXT_DAY, "symbol": "NEWCO", "date": "2018-02-08"}]
    with start_server("s3", env) as server:
        response = httpx.post(f"{server.base}/api/data", json=bars, headers={"X-API-Key": api_keys[0]})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["rejected"] == []
    assert body["landing_uri"] == f"s3://{BUCKET}/{PREFIX}/{body['landing_file']}"

    settings = Settings(
        home=tmp_path / "home",
        data_dir=BUNDLED_DATA_DIR,
        symbols=("AAPL",),
        horizon_days=5,
        max_weight=0.5,
        risk_limits_file=SMALL_UNIVERSE_LIMITS,
        landing_uri=f"s3://{BUCKET}/{PREFIX}",
        s3_endpoint_url=s3_endpoint,
    )
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SYMBOLS.name, ["AAPL"])
    landing = LandingZoneResource(uri=settings.landing_zone, s3_endpoint_url=s3_endpoint)
    sensed = landing_zone_sensor(build_sensor_context(instance=instance, resources={"landing": landing}))
    assert [r.partition_keys for r in sensed.dynamic_partitions_requests] == [["NEWCO"]]
    instance.add_dynamic_partitions(SYMBOLS.name, ["NEWCO"])  # what the daemon does with the request
    (request,) = sensed.run_requests

    job = build_definitions(settings).resolve_job_def("ingestion_job")
    result = job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
    assert result.success
    validated = result.asset_value("validated_bars").set_index(["symbol", "date"])
    for symbol in ("AAPL", "NEWCO"):
        row = validated.loc[(symbol, "2018-02-08")]
        assert row["raw_open"] == 160.29 and row["raw_volume"] == 54390516
    # AAPL kept its bundled history under the new bar.
    assert len(validated.loc["AAPL"]) > 1000
