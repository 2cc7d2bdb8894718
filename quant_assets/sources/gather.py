"""Collect raw bars for the universe from every source, in arrival order, without losing a file.

Order is the order of knowledge: the symbol's own source first (bundled files, Yahoo), then the
landing zone's files from oldest to newest, so a later delivery of a (symbol, date) corrects an earlier
one when validation picks the last valid row. A file or symbol that fails is reported with the reason
and the rest flows; nothing here edits, moves or deletes an input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from quant_assets.core.corporate_actions import attach_actions
from quant_assets.sources.bundled import read_bundled_file
from quant_assets.sources.landing_cache import KEY_COLUMN, LandedRows, LandingParseCache, read_landed_rows
from quant_assets.sources.landing_zone import LandingZone
from quant_assets.sources.layouts import BarFileError, ParsedFile, empty_actions, empty_raw_bars
from quant_assets.sources.yahoo import YahooClient, YahooError


@dataclass(frozen=True)
class FileOutcome:
    """What one input gave: its location, symbols and row count, or the error that stopped it."""

    location: str
    symbols: tuple[str, ...] = ()
    rows: int = 0
    error: str | None = None


@dataclass
class GatheredBars:
    bars: pd.DataFrame  # raw bars in arrival order, with ``split`` / ``dividend`` columns
    outcomes: list[FileOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [o.error for o in self.outcomes if o.error]


def _from_source(
    symbol: str, source: str, data_dir: Path, yahoo: YahooClient | None, start, end
) -> ParsedFile:
    if source == "bundled":
        path = Path(data_dir) / f"{symbol}_data.csv"
        if not path.exists():
            raise BarFileError(f"{path}: no bundled file for {symbol}")
        bars = read_bundled_file(path)
        return ParsedFile(str(path), "quant", bars)
    if source == "yahoo":
        if yahoo is None:
            raise YahooError(f"{symbol}: the universe asks for Yahoo but no Yahoo client is configured")
        return yahoo.history(symbol, start, end)
    return ParsedFile(f"landing:{symbol}", "none", empty_raw_bars())  # landing-only symbol


def _landed_outcomes(
    landed: LandedRows, wanted_mask
) -> tuple[list[FileOutcome], pd.DataFrame, pd.DataFrame, list[str]]:
    """Per file: its outcome (only files with wanted rows, or an error); the wanted rows and warnings."""
    bars = landed.bars[wanted_mask(landed.bars["symbol"], keep_missing=True)]
    actions = landed.actions[wanted_mask(landed.actions["symbol"], keep_missing=False)]
    rows = bars.groupby(KEY_COLUMN, sort=False).size()
    symbols = (
        pd.concat([bars[[KEY_COLUMN, "symbol"]], actions[[KEY_COLUMN, "symbol"]]])
        .dropna()
        .groupby(KEY_COLUMN, sort=False)["symbol"]
        .agg(lambda s: tuple(sorted(set(s))))
    )
    has_actions = set(actions[KEY_COLUMN])
    outcomes, warnings = [], []
    for key, info in landed.files.items():
        if info.error is not None:
            outcomes.append(FileOutcome(info.location, (), 0, info.error))
        elif key in rows.index or key in has_actions:
            outcomes.append(FileOutcome(info.location, symbols.get(key, ()), int(rows.get(key, 0))))
            warnings.extend(info.warnings)
    return outcomes, bars.drop(columns=KEY_COLUMN), actions.drop(columns=KEY_COLUMN), warnings


def gather_bars(
    universe: dict[str, str],
    data_dir: Path,
    zone: LandingZone | None = None,
    yahoo: YahooClient | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    only_symbols: set[str] | None = None,
    cache: LandingParseCache | None = None,
) -> GatheredBars:
    """Raw bars of the universe's symbols plus every symbol found in the landing zone.

    ``only_symbols`` limits the result (e.g. to the symbols a new file touched); with a ``cache`` only
    landed files that are new or changed since an earlier call are read and parsed.
    """
    start = pd.Timestamp(start) if start is not None else pd.Timestamp("1970-01-01")
    end = pd.Timestamp(end) if end is not None else pd.Timestamp.now().normalize()
    wanted = (lambda s: s in only_symbols) if only_symbols is not None else (lambda s: True)

    def wanted_mask(symbols: pd.Series, keep_missing: bool) -> pd.Series:
        if only_symbols is None:
            return pd.Series(True, index=symbols.index)
        return symbols.isin(only_symbols) | (symbols.isna() if keep_missing else False)

    parsed: list[ParsedFile] = []
    outcomes: list[FileOutcome] = []
    for symbol, source in universe.items():
        if not wanted(symbol):
            continue
        try:
            one = _from_source(symbol, source, data_dir, yahoo, start, end)
        except (BarFileError, YahooError, OSError) as error:
            outcomes.append(FileOutcome(f"{source}:{symbol}", (symbol,), 0, str(error)))
            continue
        if source != "landing":
            parsed.append(one)
            outcomes.append(FileOutcome(one.source, tuple(one.symbols), len(one.bars)))
    files = zone.list_files() if zone is not None else []
    if zone is not None and files:
        landed = cache.parse(zone, files) if cache is not None else read_landed_rows(zone, files)
        outcomes_landed, landed_bars, landed_actions, landed_warnings = _landed_outcomes(landed, wanted_mask)
        outcomes.extend(outcomes_landed)
        parsed.append(
            ParsedFile("landing zone", "mixed", landed_bars, landed_actions, tuple(landed_warnings))
        )
    frames = [p.bars for p in parsed if len(p.bars)]
    bars = pd.concat(frames, ignore_index=True) if frames else empty_raw_bars()
    action_frames = [p.actions for p in parsed if len(p.actions)]
    actions = pd.concat(action_frames, ignore_index=True) if action_frames else empty_actions()
    bars, warnings = attach_actions(bars, actions)
    return GatheredBars(bars, outcomes, [w for p in parsed for w in p.warnings] + warnings)
