"""raw_bars -> validated_bars through Dagster with a real landing zone: a folder, and S3 on moto's server.

Incremental and idempotent: the same input gives the same data versions; a late correction replaces the
old row and the old row is kept with why; a re-delivery changes nothing; a new split re-adjusts history;
the landed files are never touched. Each run covers the given symbol partitions in one go, as the sensors'
runs do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import boto3
import pandas as pd
from dagster import AssetKey, DagsterInstance, materialize

from quant_assets.assets.ingestion import raw_bars, validate_bars, validated_bars_schema
from quant_assets.automation.jobs import add_symbols, range_tags
from quant_assets.resources.lake import LakeIOManager
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.resources.platform import PlatformConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bars"
HEADER = "date,open,high,low,close,volume,Name"
# 2013-02-14 as shipped: 66.3599,67.3771,66.2885,66.6556,88809154
CORRECTION = f"{HEADER}\n2013-02-14,66.3599,67.3771,66.2885,66.7000,88809154,AAPL\n"


def ingest(tmp_path: Path, instance: DagsterInstance, landing: LandingZoneResource, symbols=("AAPL",)):
    ordered = add_symbols(instance, symbols)
    result = materialize(
        [raw_bars, validate_bars, validated_bars_schema],
        resources={
            "io_manager": LakeIOManager(base_dir=str(tmp_path / "lake")),
            "platform": PlatformConfig(data_dir=str(FIXTURES), symbols=["AAPL"]),
            "landing": landing,
        },
        instance=instance,
        tags=range_tags(ordered[0], ordered[-1]),
    )
    assert result.success
    return result


def data_version(instance: DagsterInstance, key: str) -> str:
    event = instance.get_latest_materialization_event(AssetKey(key))
    return event.dagster_event.event_specific_data.materialization.tags["dagster/data_version"]


def versions(instance: DagsterInstance) -> tuple[str, str, str]:
    return tuple(data_version(instance, k) for k in ("raw_bars", "validated_bars", "quarantined_bars"))


def test_folder_zone_is_incremental_idempotent_and_records_corrections(tmp_path):
    zone_dir = tmp_path / "landing"
    landing = LandingZoneResource(uri=str(zone_dir))
    instance = DagsterInstance.ephemeral()

    first = ingest(tmp_path, instance, landing)
    assert len(first.asset_value("validated_bars")) == 25
    before = versions(instance)
    ingest(tmp_path, instance, landing)
    assert versions(instance) == before  # same input, same data versions

    (zone_dir / "api").mkdir(parents=True)
    fix = zone_dir / "api" / "20240101T000000Z-1.csv"
    fix.write_text(CORRECTION)
    corrected = ingest(tmp_path, instance, landing)
    valid = corrected.asset_value("validated_bars").set_index("date")
    assert valid.loc["2013-02-14", "close"] == 66.70 and len(valid) == 25
    quarantined = corrected.asset_value("quarantined_bars")
    assert quarantined[["date", "close", "reason"]].values.tolist() == [
        [
            pd.Timestamp("2013-02-14"),
            66.6556,
            f"superseded by correction ({fix} line 2: close 66.6556 -> 66.7)",
        ]
    ]
    after_fix = versions(instance)
    assert after_fix[1] != before[1]

    # The same correction delivered again under another name: validated bars do not change.
    stamp = fix.stat().st_mtime_ns
    shutil.copyfile(fix, zone_dir / "api" / "20240102T000000Z-2.csv")
    again = ingest(tmp_path, instance, landing)
    assert data_version(instance, "validated_bars") == after_fix[1]
    assert again.asset_value("quarantined_bars")["reason"].str.startswith("unchanged re-delivery").sum() == 1
    assert fix.read_text() == CORRECTION and fix.stat().st_mtime_ns == stamp  # inputs untouched


def test_a_new_split_re_adjusts_history_and_keeps_raw_prices(tmp_path):
    zone_dir = tmp_path / "landing"
    landing = LandingZoneResource(uri=str(zone_dir))
    instance = DagsterInstance.ephemeral()
    plain = ingest(tmp_path, instance, landing).asset_value("validated_bars").set_index("date")
    assert (plain["price_factor"] == 1).all()

    zone_dir.mkdir()
    (zone_dir / "actions.csv").write_text("symbol,date,action,value\nAAPL,2013-03-01,split,2\n")
    adjusted = ingest(tmp_path, instance, landing).asset_value("validated_bars").set_index("date")
    before, after = adjusted.index < "2013-03-01", adjusted.index >= "2013-03-01"
    assert (adjusted.loc[before, "close"] == plain.loc[before, "close"] / 2).all()
    assert (adjusted.loc[before, "volume"] == plain.loc[before, "volume"] * 2).all()
    assert (adjusted.loc[after, ["close", "volume"]] == plain.loc[after, ["close", "volume"]]).all().all()
    assert (adjusted["raw_close"] == plain["close"]).all()
    assert (
        adjusted.loc[before, "price_factor"].eq(0.5).all() and adjusted.loc[after, "price_factor"].eq(1).all()
    )


def test_s3_landing_zone_on_a_real_endpoint(tmp_path, s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="quant-landing")
    landing = LandingZoneResource(uri="s3://quant-landing/landing", s3_endpoint_url=s3_endpoint)
    zone = landing.open()
    assert zone.land("api/fix.csv", CORRECTION.encode()) == "api/fix.csv"
    assert zone.land("api/fix.csv", CORRECTION.encode()) == "api/fix.csv"  # same bytes: already landed
    other = zone.land("api/fix.csv", CORRECTION.replace("66.7000", "66.8000").encode())
    assert other != "api/fix.csv"  # never overwritten
    original = client.get_object(Bucket="quant-landing", Key="landing/api/fix.csv")["Body"].read()
    assert original == CORRECTION.encode()
    client.put_object(Bucket="quant-landing", Key="landing/notes/readme.md", Body=b"# not data")

    instance = DagsterInstance.ephemeral()
    result = ingest(tmp_path, instance, landing)
    valid = result.asset_value("validated_bars").set_index("date")
    assert valid.loc["2013-02-14", "close"] in (66.70, 66.80) and len(valid) == 25
    reasons = result.asset_value("quarantined_bars")["reason"].tolist()
    assert len(reasons) == 2 and all(
        r.startswith("superseded by correction (s3://quant-landing/landing/api/") for r in reasons
    )
    first = versions(instance)
    ingest(tmp_path, instance, landing)
    assert versions(instance) == first


def test_unreadable_landed_file_is_reported_and_the_rest_flows(tmp_path):
    zone_dir = tmp_path / "landing"
    zone_dir.mkdir()
    (zone_dir / "oops.csv").write_text("<html><title>Service Unavailable</title></html>")
    (zone_dir / "MSFT.csv").write_text(f"{HEADER}\n2013-02-14,27.1,28.2,27.0,28.0,1000,MSFT\n")
    instance = DagsterInstance.ephemeral()
    landing = LandingZoneResource(uri=str(zone_dir))
    result = ingest(tmp_path, instance, landing, symbols=("AAPL", "MSFT"))  # MSFT as the sensor adds it
    valid = result.asset_value("validated_bars")
    assert sorted(valid["symbol"].unique()) == ["AAPL", "MSFT"]  # a new symbol, no code
    assert sorted(p.name for p in (tmp_path / "lake" / "validated_bars").iterdir()) == [
        "AAPL.parquet",
        "MSFT.parquet",
    ]
    event = instance.get_latest_materialization_event(AssetKey("raw_bars"))
    errors = event.asset_materialization.metadata["input_errors"].value
    assert errors == [
        f"{zone_dir / 'oops.csv'}: is an HTML page titled 'Service Unavailable', not CSV or Parquet "
        "(an error page saved instead of data?)"
    ]
    assert os.path.exists(zone_dir / "oops.csv")
