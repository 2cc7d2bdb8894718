"""Parse each landed file once: later runs read its rows from a local cache instead of the zone.

Ingestion reads the whole landing zone on every run (a file's symbols are only known once it is parsed),
and the zone grows by a file per ``POST /api/data`` or per drop, forever. Parsing costs about 2.6 ms per
small file on local disk and a round trip per object on S3, so a year of daily per-symbol files would
cost minutes per run (``benchmarks/landing.py``). The cache keys each file by its key and fingerprint
(a changed object is parsed again) and by ``PARSER_VERSION`` (new parsing rules redo everything); files
that could not be parsed are remembered with their error, which is reported again on every run.

Rows come back as one frame for all files (tagged ``landed_key``, in the files' order), never as a frame
per file: building thousands of small frames costs as much as parsing them.

Layout under ``root``: ``manifest.json`` (key -> fingerprint, batch, layout, warnings, error) and one
Parquet pair per batch of newly parsed files (``<batch>.bars.parquet``, ``<batch>.actions.parquet``).
Writes go to new names and the manifest is replaced atomically, so a run that dies half-way leaves at
worst unused batch files. Many small batches are compacted into one. The cache is derived data:
deleting it costs one full re-parse.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from quant_assets.sources.landing_zone import LandedFile, LandingZone, read_landed
from quant_assets.sources.layouts import (
    BarFileError,
    ParsedFile,
    empty_actions,
    empty_raw_bars,
    symbol_from_file_name,
)

PARSER_VERSION = "1"  # bump whenever parsing or layout rules change
MAX_BATCHES = 32  # more live batches than this and they are rewritten as one
KEY_COLUMN = "landed_key"


@dataclass(frozen=True)
class FileParse:
    """What parsing one landed file said, besides its rows."""

    location: str
    layout: str = ""
    warnings: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class LandedRows:
    """Every landed file's rows in one frame each for bars and actions (``landed_key`` names the file)."""

    bars: pd.DataFrame
    actions: pd.DataFrame
    files: dict[str, FileParse] = field(default_factory=dict)  # in the order the files were given


@dataclass
class CacheStats:
    parsed: int = 0  # files read from the zone and parsed in this call
    cached: int = 0  # files served from the cache
    compacted: bool = False


def _empty(kind: str) -> pd.DataFrame:
    base = empty_raw_bars() if kind == "bars" else empty_actions()
    return base.assign(**{KEY_COLUMN: pd.Series(dtype=object)})


def _typed(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Exactly the columns and dtypes of a fresh parse, plus ``landed_key``."""
    empty = _empty(kind)
    return frame[list(empty.columns)].astype(empty.dtypes.to_dict()).reset_index(drop=True)


def _parse_files(
    zone: LandingZone, files: list[LandedFile]
) -> tuple[dict[str, ParsedFile], dict[str, FileParse]]:
    parsed: dict[str, ParsedFile] = {}
    info: dict[str, FileParse] = {}
    for landed in files:
        try:
            one = read_landed(zone, landed)
        except BarFileError as error:
            info[landed.key] = FileParse(zone.location(landed.key), error=str(error))
            continue
        parsed[landed.key] = one
        info[landed.key] = FileParse(one.source, one.layout, tuple(one.warnings))
    return parsed, info


def _frames(parsed: dict[str, ParsedFile], kind: str) -> pd.DataFrame:
    parts = [
        getattr(p, kind).assign(**{KEY_COLUMN: key}) for key, p in parsed.items() if len(getattr(p, kind))
    ]
    return _typed(pd.concat(parts, ignore_index=True), kind) if parts else _empty(kind)


def _in_file_order(frame: pd.DataFrame, order: dict[str, int], kind: str) -> pd.DataFrame:
    if not len(frame):
        return _empty(kind)
    position = frame[KEY_COLUMN].map(order)
    frame = frame[position.notna()]
    return _typed(frame.iloc[position[position.notna()].argsort(kind="stable")], kind)


@dataclass(frozen=True)
class TouchedSymbols:
    """What some landed files are about: symbols read from their rows, and the unreadable files."""

    symbols: list[str]  # from bars or actions, in the files' order (sorted within a file)
    errors: list[str]  # one per unreadable file, naming it
    named_by_unreadable: list[str]  # what the unreadable files' names suggest (``AAPL.csv`` -> AAPL)


def touched_symbols(rows: LandedRows, keys: list[str]) -> TouchedSymbols:
    """The symbols the files ``keys`` touch, from rows already parsed (nothing is read again)."""
    tagged = pd.concat([rows.bars[[KEY_COLUMN, "symbol"]], rows.actions[[KEY_COLUMN, "symbol"]]]).dropna()
    per_file = (
        tagged[tagged[KEY_COLUMN].isin(keys)].groupby(KEY_COLUMN)["symbol"].agg(lambda s: sorted(set(s)))
    )
    symbols = dict.fromkeys(s for key in keys for s in per_file.get(key, []))
    unreadable = [key for key in keys if rows.files[key].error is not None]
    named = dict.fromkeys(
        guess for key in unreadable if (guess := symbol_from_file_name(PurePosixPath(key).name))
    )
    return TouchedSymbols(list(symbols), [rows.files[k].error for k in unreadable], list(named))


def read_landed_rows(zone: LandingZone, files: list[LandedFile]) -> LandedRows:
    """Parse every file (no cache)."""
    parsed, info = _parse_files(zone, files)
    return LandedRows(_frames(parsed, "bars"), _frames(parsed, "actions"), info)


class LandingParseCache:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.stats = CacheStats()

    def _load_manifest(self) -> dict[str, dict]:
        try:
            manifest = json.loads((self.root / "manifest.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return manifest.get("files", {}) if manifest.get("parser") == PARSER_VERSION else {}

    def _save_manifest(self, entries: dict[str, dict]) -> None:
        partial = self.root / f".manifest.{uuid.uuid4().hex}.tmp"
        partial.write_text(json.dumps({"parser": PARSER_VERSION, "files": entries}, sort_keys=True))
        os.replace(partial, self.root / "manifest.json")

    def _write_batch(self, bars: pd.DataFrame, actions: pd.DataFrame) -> str:
        batch = uuid.uuid4().hex[:16]
        for kind, frame in (("bars", bars), ("actions", actions)):
            partial = self.root / f".{batch}.{kind}.tmp"
            frame.to_parquet(partial, index=False)
            os.replace(partial, self.root / f"{batch}.{kind}.parquet")
        return batch

    def _read_batches(self, batches: set[str]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        frames = {}
        for batch in sorted(batches):
            try:
                frames[batch] = tuple(
                    pd.read_parquet(self.root / f"{batch}.{k}.parquet") for k in ("bars", "actions")
                )
            except OSError:
                continue  # compacted away by a concurrent run: its files are parsed again
        return frames

    def parse(self, zone: LandingZone, files: list[LandedFile]) -> LandedRows:
        """All files' rows; only files that are new or changed since an earlier call are read."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.stats = CacheStats()
        manifest = self._load_manifest()
        wanted = {f.key: f for f in files}
        hits = {
            k: e for k, e in manifest.items() if k in wanted and e.get("fingerprint") == wanted[k].fingerprint
        }
        batches = self._read_batches({e["batch"] for e in hits.values() if e.get("batch")})
        hits = {k: e for k, e in hits.items() if e.get("error") or e.get("batch") in batches}
        misses = [f for f in files if f.key not in hits]
        parsed, fresh_info = _parse_files(zone, misses)
        self.stats.parsed, self.stats.cached = len(misses), len(hits)

        # From each batch only the files the manifest files under it: a changed file's old rows still
        # sit in an older batch that other files keep alive.
        keys_of = {b: {k for k, e in hits.items() if e.get("batch") == b} for b in batches}
        cached_bars = [f[f[KEY_COLUMN].isin(keys_of[b])] for b, (f, _) in batches.items() if len(f)]
        cached_actions = [f[f[KEY_COLUMN].isin(keys_of[b])] for b, (_, f) in batches.items() if len(f)]
        bars = pd.concat([*cached_bars, _frames(parsed, "bars")], ignore_index=True)
        actions = pd.concat([*cached_actions, _frames(parsed, "actions")], ignore_index=True)
        order = {f.key: i for i, f in enumerate(files)}
        result = LandedRows(_in_file_order(bars, order, "bars"), _in_file_order(actions, order, "actions"))
        for landed in files:
            entry = hits.get(landed.key)
            if entry is None:
                result.files[landed.key] = fresh_info[landed.key]
            elif entry.get("error"):
                result.files[landed.key] = FileParse(zone.location(landed.key), error=entry["error"])
            else:
                result.files[landed.key] = FileParse(
                    entry["source"], entry["layout"], tuple(entry["warnings"])
                )

        self._update(manifest, hits, wanted, misses, parsed, result)
        return result

    def _update(
        self,
        manifest: dict[str, dict],
        hits: dict[str, dict],
        wanted: dict[str, LandedFile],
        misses: list[LandedFile],
        parsed: dict[str, ParsedFile],
        result: LandedRows,
    ) -> None:
        """Record the new parses (compacting when batches pile up); no write when nothing changed."""
        entries = dict(hits)
        live = {e["batch"] for e in entries.values() if e.get("batch")}
        new_keys: list[str] = []
        if len(live) + bool(parsed) > MAX_BATCHES:  # rewrite every parsed file as one batch
            new_bars, new_actions = result.bars, result.actions
            new_keys = [k for k, info in result.files.items() if info.error is None]
            entries = {k: e for k, e in entries.items() if e.get("error")}
            self.stats.compacted = True
        elif parsed:
            new_bars, new_actions = _frames(parsed, "bars"), _frames(parsed, "actions")
            new_keys = list(parsed)
        if not misses and not new_keys and len(entries) == len(manifest):
            return
        batch = self._write_batch(new_bars, new_actions) if new_keys else None
        for key in new_keys:
            info = result.files[key]
            entries[key] = {"fingerprint": wanted[key].fingerprint, "batch": batch, "source": info.location,
                            "layout": info.layout, "warnings": list(info.warnings)}  # fmt: skip
        for landed in misses:
            if (error := result.files[landed.key].error) is not None:
                entries[landed.key] = {"fingerprint": landed.fingerprint, "error": error}
        self._save_manifest(entries)
        used = {e["batch"] for e in entries.values() if e.get("batch")}
        for path in self.root.glob("*.parquet"):
            if path.name.split(".")[0] not in used:
                path.unlink(missing_ok=True)
        stale = time.time() - 3600  # partial files of a run that died (a live run's are seconds old)
        for path in self.root.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < stale:
                    path.unlink()
