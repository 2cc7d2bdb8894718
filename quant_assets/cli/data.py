"""Data commands: ``quant validate``, ``quant ingest``, ``quant symbols``.

``validate`` is a data health check that needs no state: it parses each file, applies every rule and
reports, per file, the accepted rows, the quarantined rows with reasons, warnings (calendar gaps,
suspected unrecorded splits) and a file-level error when the file cannot be read at all. The exit code
is non-zero only for unreadable files: bad rows are an outcome, not a failure.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from quant_assets.core.calendar import missing_sessions
from quant_assets.core.corporate_actions import (
    adjust_for_actions,
    attach_actions,
    describe_suspected_split,
    suspected_duplicate_dividends,
    suspected_splits,
)
from quant_assets.core.validation import split_valid_bars
from quant_assets.resources.lake import read_partitions, stored_partitions
from quant_assets.settings import Settings, load_settings
from quant_assets.sources.landing_zone import FolderLandingZone, LandingZone, S3LandingZone, is_bar_file
from quant_assets.sources.layouts import BarFileError, ParsedFile, read_bar_file

MAX_LISTED_GAPS = 10


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; folders searched recursively for bar files (sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_bar_file(p.name)))
        else:
            files.append(path)
    return files


def _gap_warnings(valid: pd.DataFrame) -> list[str]:
    warnings = []
    for symbol, gaps in missing_sessions(valid).groupby("symbol"):
        listed = ", ".join(str(d.date()) for d in gaps["date"].head(MAX_LISTED_GAPS))
        more = f" and {len(gaps) - MAX_LISTED_GAPS} more" if len(gaps) > MAX_LISTED_GAPS else ""
        warnings.append(f"{symbol}: {len(gaps)} NYSE session(s) without a bar: {listed}{more}")
    return warnings


def file_report(parsed: ParsedFile, today: pd.Timestamp | None = None) -> dict:
    """The ``--json`` entry for one parsed file."""
    bars, attach_warnings = attach_actions(parsed.bars, parsed.actions)
    valid, quarantined = split_valid_bars(bars, today=today)
    adjusted = adjust_for_actions(valid, parsed.actions)
    suspects = [describe_suspected_split(r) for r in suspected_splits(adjusted).itertuples()]
    suspects += [
        f"{r.symbol} {r.date.date()}: dividend {r.value:g} repeats the one on {r.repeated_on.date()}; "
        "likely a duplicate in the feed, not corrected automatically"
        for r in suspected_duplicate_dividends(parsed.actions).itertuples()
    ]
    symbols = parsed.symbols
    return {
        "path": parsed.source,
        "symbol": symbols[0] if len(symbols) == 1 else (", ".join(symbols) or None),
        "accepted": len(valid),
        "quarantined": [
            {"date": None if pd.isna(d) else str(pd.Timestamp(d).date()), "reason": r}
            for d, r in zip(quarantined["date"], quarantined["reason"], strict=True)
        ],
        "warnings": [*parsed.warnings, *attach_warnings, *_gap_warnings(valid), *suspects],
        "error": None,
    }


def validate_files(paths: list[str], today: pd.Timestamp | None = None) -> dict:
    reports = []
    for path in expand_paths(paths):
        try:
            parsed = read_bar_file(path)
        except BarFileError as error:
            reports.append(
                {
                    "path": str(path),
                    "symbol": None,
                    "accepted": 0,
                    "quarantined": [],
                    "warnings": [],
                    "error": str(error),
                }
            )
            continue
        reports.append(file_report(parsed, today))
    return {"files": reports}


def _print_human(result: dict) -> None:
    for report in result["files"]:
        if report["error"]:
            print(f"{report['path']}: ERROR {report['error']}")
            continue
        print(
            f"{report['path']}: {report['symbol'] or '?'}: {report['accepted']} accepted, "
            f"{len(report['quarantined'])} quarantined"
        )
        for row in report["quarantined"][:20]:
            print(f"    {row['date']}  {row['reason']}")
        if len(report["quarantined"]) > 20:
            print(f"    ... {len(report['quarantined']) - 20} more (use --json for all)")
        for warning in report["warnings"]:
            print(f"  warning: {warning}")


def validate_command(paths: list[str], as_json: bool) -> int:
    result = validate_files(paths)
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        _print_human(result)
    return 1 if any(r["error"] for r in result["files"]) else 0


def open_zone(settings: Settings) -> LandingZone:
    if settings.landing_zone.startswith("s3://"):
        from quant_assets.resources.landing_zone import LandingZoneResource

        return LandingZoneResource(uri=settings.landing_zone, s3_endpoint_url=settings.s3_endpoint_url).open()
    return FolderLandingZone(settings.landing_zone)


def land_files(
    zone: LandingZone | S3LandingZone, paths: list[Path], batch: str
) -> tuple[list[tuple[Path, str]], list[str]]:
    """Copy readable files into ``cli/<batch>/`` of the zone; refuses (BarFileError) unreadable ones.

    Returns ``(path, key)`` per landed file and the symbols the files hold (sorted).
    """
    # An unreadable file would only ever produce an error downstream: parse all before landing any.
    symbols = sorted({s for path in paths for s in read_bar_file(path).symbols})
    return [(path, zone.land(f"cli/{batch}/{path.name}", path.read_bytes())) for path in paths], symbols


def ingest_command(paths: list[str]) -> int:
    settings = load_settings()
    files = expand_paths(paths)
    if not files:
        print("nothing to ingest: no CSV or Parquet files in the given paths", file=sys.stderr)
        return 1
    zone = open_zone(settings)
    batch = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        landed, touched = land_files(zone, files, batch)
    except BarFileError as error:
        print(f"not ingested: {error}", file=sys.stderr)
        return 1
    for path, key in landed:
        print(f"landed {path} -> {zone.location(key)}")
    if not touched:
        print("landed, but no symbol could be read from the files; nothing to materialise", file=sys.stderr)
        return 1
    from quant_assets.instance import dagster_instance, ingest_symbols

    settings.ensure_home()
    with dagster_instance(settings) as instance:
        results = ingest_symbols(settings, instance, touched)
    failed = [r.run_id for r in results if not r.success]
    if failed:
        print(f"ingestion run(s) {', '.join(failed)} failed; see the Dagster UI (make dev)", file=sys.stderr)
        return 1
    valid = pd.concat([r.asset_value("validated_bars") for r in results], ignore_index=True)
    quarantined = pd.concat([r.asset_value("quarantined_bars") for r in results], ignore_index=True)
    for symbol in touched:
        rows = valid[valid["symbol"] == symbol]
        last = rows["date"].max().date() if len(rows) else "-"
        bad = int((quarantined["symbol"] == symbol).sum()) if len(quarantined) else 0
        print(f"{symbol}: {len(rows)} validated bars up to {last}, {bad} quarantined")
    runs = ", ".join(r.run_id for r in results)
    print(
        f"run {runs}: ingested {len(touched)} symbol(s); downstream assets follow by eager automation "
        "(make dev)"
    )
    return 0


def symbols_table(settings: Settings, today: pd.Timestamp | None = None) -> pd.DataFrame:
    """Universe symbols (and landing-only ones seen in the lake) with source and freshness."""
    today = pd.Timestamp.now().normalize() if today is None else pd.Timestamp(today)
    stored = stored_partitions(settings.lake_dir, "validated_bars")
    bars = read_partitions(settings.lake_dir, "validated_bars", stored) if stored else None
    universe = dict(settings.universe)
    if bars is not None:
        for symbol in sorted(set(bars["symbol"]) - set(universe)):
            universe[symbol] = "landing"
    rows = []
    for symbol, source in universe.items():
        dates = (
            bars.loc[bars["symbol"] == symbol, "date"]
            if bars is not None
            else pd.Series(dtype="datetime64[ns]")
        )
        last = dates.max() if len(dates) else pd.NaT
        rows.append(
            {
                "symbol": symbol,
                "source": source,
                "bars": len(dates),
                "first": None if dates.empty else str(dates.min().date()),
                "last": None if pd.isna(last) else str(last.date()),
                "days_behind": None if pd.isna(last) else int((today - last).days),
            }
        )
    return pd.DataFrame(rows)


def symbols_command(as_json: bool) -> int:
    settings = load_settings()
    table = symbols_table(settings)
    if as_json:
        print(table.to_json(orient="records", indent=2))
    else:
        print(table.to_string(index=False))
        if not stored_partitions(settings.lake_dir, "validated_bars"):
            print(f"(no validated bars yet in {settings.lake_dir}; run `quant demo` or `quant ingest`)")
    return 0


def register(subparsers) -> None:
    validate = subparsers.add_parser("validate", help="check bar files without ingesting them")
    validate.add_argument("paths", nargs="+", help="CSV/Parquet files or folders")
    validate.add_argument("--json", action="store_true", help="machine-readable report")
    validate.set_defaults(handler=lambda args: validate_command(args.paths, args.json))

    ingest = subparsers.add_parser("ingest", help="copy files into the landing zone and ingest them")
    ingest.add_argument("paths", nargs="+", help="CSV/Parquet files or folders")
    ingest.set_defaults(handler=lambda args: ingest_command(args.paths))

    symbols = subparsers.add_parser("symbols", help="the universe, each symbol's source and freshness")
    symbols.add_argument("--json", action="store_true")
    symbols.set_defaults(handler=lambda args: symbols_command(args.json))
