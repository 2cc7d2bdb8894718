"""Bars accepted over HTTP, written to the landing zone where the landing-zone sensor picks them up.

Files are ``$QUANT_HOME/landing/api/<UTC timestamp>-<uuid>.csv`` in the bundled layout
(``date,open,high,low,close,volume,Name``). Each is written under a hidden temporary name and renamed
into place, so a sensor listing ``*.csv`` never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

import pandas as pd

LANDING_COLUMNS = ("date", "open", "high", "low", "close", "volume", "Name")


def landing_dir(env: dict[str, str], quant_home: Path) -> Path:
    """``<zone>/api``; the zone is ``QUANT_LANDING`` (as the platform reads it) or ``$QUANT_HOME/landing``.

    Only a folder zone is written here; an ``s3://`` zone raises so the service refuses to start
    half-configured rather than accept bars it cannot store.
    """
    zone = env.get("QUANT_LANDING", "").strip()
    if zone.startswith("s3://"):
        raise ValueError(f"QUANT_LANDING={zone}: the HTTP API writes to a folder landing zone only")
    return (Path(zone).expanduser() if zone else quant_home / "landing") / "api"


def write_landing_file(valid: pd.DataFrame, directory: Path, now: dt.datetime | None = None) -> Path:
    """Write validated bars (``symbol, date, open, ..., volume``) as one new CSV; returns its path."""
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{uuid.uuid4().hex}.csv"
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(valid["date"]).dt.strftime("%Y-%m-%d"),
            **{c: valid[c].astype(float) for c in ("open", "high", "low", "close", "volume")},
            "Name": valid["symbol"],
        }
    )[list(LANDING_COLUMNS)]
    final = directory / name
    partial = directory / f".{name}.partial"
    with open(partial, "w", newline="") as handle:
        frame.to_csv(handle, index=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, final)
    return final
