"""Bars accepted over HTTP, written to the landing zone where the landing-zone sensor picks them up.

The zone is the platform's own (``quant_assets.sources.landing_zone``, packaged into the bento): a folder
or an ``s3://bucket/prefix`` on any S3 endpoint, as ``QUANT_LANDING`` and ``QUANT_S3_ENDPOINT_URL`` say
(default ``$QUANT_HOME/landing``). Files are ``api/<UTC timestamp>-<uuid>.csv`` in the bundled layout
(``date,open,high,low,close,volume,Name``); the zone never overwrites a file, and a folder file appears
whole (written aside, then linked into place), so the sensor never reads half a file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd

from quant_assets.sources.landing_zone import FolderLandingZone, LandingZone, S3LandingZone, parse_s3_uri

LANDING_COLUMNS = ("date", "open", "high", "low", "close", "volume", "Name")


def open_landing_zone(env: dict[str, str], quant_home: Path) -> LandingZone:
    """The zone ``QUANT_LANDING`` names (a folder or ``s3://``), or ``$QUANT_HOME/landing``."""
    zone = env.get("QUANT_LANDING", "").strip()
    if zone.startswith("s3://"):
        import boto3

        bucket, prefix = parse_s3_uri(zone)
        client = boto3.client(
            "s3",
            endpoint_url=env.get("QUANT_S3_ENDPOINT_URL") or None,
            region_name=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        )
        return S3LandingZone(client, bucket, prefix)
    return FolderLandingZone(Path(zone).expanduser() if zone else quant_home / "landing")


def landing_csv(valid: pd.DataFrame) -> bytes:
    """Validated bars (``symbol, date, open, ..., volume``) as CSV in the bundled layout."""
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(valid["date"]).dt.strftime("%Y-%m-%d"),
            **{c: valid[c].astype(float) for c in ("open", "high", "low", "close", "volume")},
            "Name": valid["symbol"],
        }
    )[list(LANDING_COLUMNS)]
    return frame.to_csv(index=False).encode()


def land_bars(valid: pd.DataFrame, zone: LandingZone, now: dt.datetime | None = None) -> str:
    """Write validated bars as one new file in ``zone``; returns its key (``api/<stamp>-<uuid>.csv``)."""
    now = now or dt.datetime.now(dt.UTC)
    name = f"api/{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex}.csv"
    return zone.land(name, landing_csv(valid))
