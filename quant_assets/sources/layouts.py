"""Read one bars file, whatever common layout it has, into raw long bars and corporate actions.

Accepted layouts (column names are matched case-insensitively, in any order):
- ours: ``date,open,high,low,close,volume,Name``;
- Yahoo's download: ``Date,Open,High,Low,Close,Adj Close,Volume`` (float volumes fine);
- yfinance ``history()`` exports: ``Datetime,...,Dividends,Stock Splits`` with tz-aware timestamps
  (the exchange-local date is kept; non-zero dividends and splits become corporate actions, and the
  split-adjusted prices are turned back into prices as traded);
- Stooq/Kaggle ``.txt``: ``Date,Open,High,Low,Close,Volume,OpenInt``;
- an actions file: ``symbol,date,action,value`` (action ``split`` with the ratio new/old shares, or
  ``dividend`` with the cash amount per share).
CSV (optionally gzipped) or Parquet. The symbol comes from a ``Name``/``symbol``/``ticker`` column or,
failing that, the file name (``AAPL.csv``, ``AAPL_data.csv``, ``aapl.us.txt``, ``CALM-1d-....csv``).

Parsing is strict on structure and lenient on values: a file that is not bars at all raises
:class:`BarFileError` naming the file and the problem; a cell that is not a number becomes NaN and the
text is kept in ``unparsed`` so validation can quarantine the row with its reason. Every row carries
``source`` (the file) and ``line`` (its line in a CSV, header = 1; its 1-based row in Parquet), so any
quarantined row can be found in the immutable raw file.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from quant_assets.core.corporate_actions import undo_split_adjustment
from quant_assets.core.schemas import BAR_COLUMNS, PRICE_COLUMNS
from quant_assets.framework_internals import STR_NA_VALUES

EXCHANGE_TIMEZONE = "America/New_York"
RAW_BAR_COLUMNS = (*BAR_COLUMNS, "source", "line", "unparsed")
ACTION_COLUMNS = ("symbol", "date", "action", "value")
SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".txt", ".parquet", ".pq")

_ALIASES = {
    "date": ("date", "datetime", "timestamp", "time", "day"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
    "symbol": ("name", "symbol", "ticker"),
    "adj_close": ("adj close", "adjclose", "adjusted close"),
    "dividends": ("dividends", "dividend"),
    "splits": ("stock splits", "splits"),
    "action": ("action", "kind", "type", "event"),
    "value": ("value", "ratio", "amount"),
}
_SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-^=]{0,14}$")
_INTERVAL_SUFFIX = re.compile(r"-(1d|1wk|1mo)(-.*)?$", re.IGNORECASE)
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


class BarFileError(ValueError):
    """A file that cannot be read as bars at all; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ParsedFile:
    """What one file holds: raw bars (``RAW_BAR_COLUMNS``), corporate actions and warnings."""

    source: str
    layout: str
    bars: pd.DataFrame
    actions: pd.DataFrame = field(default_factory=lambda: empty_actions())
    warnings: tuple[str, ...] = ()

    @property
    def symbols(self) -> list[str]:
        return sorted({*self.bars["symbol"].dropna().unique(), *self.actions["symbol"].dropna().unique()})


_EMPTY_ACTIONS = pd.DataFrame(
    {
        "symbol": pd.Series(dtype=object),
        "date": pd.Series(dtype="datetime64[ns]"),
        "action": pd.Series(dtype=object),
        "value": pd.Series(dtype=float),
    }
)


def empty_actions() -> pd.DataFrame:
    return _EMPTY_ACTIONS.copy()


def symbol_from_file_name(name: str) -> str | None:
    """``AAPL_data.csv`` -> AAPL, ``aapl.us.txt`` -> AAPL, ``CALM-1d-x.csv`` -> CALM; None if not a ticker."""
    stem = Path(name).name
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removesuffix("_data")
    stem = re.sub(r"\.us$", "", stem, flags=re.IGNORECASE)
    stem = _INTERVAL_SUFFIX.sub("", stem)
    candidate = stem.strip().upper()
    return candidate if _SYMBOL_PATTERN.match(candidate) else None


def _sniff_table(data: bytes, name: str) -> pd.DataFrame:
    """Bytes -> a table of the file's cells, or a BarFileError saying what the bytes are instead."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except OSError as error:
            raise BarFileError(f"{name}: looks gzipped but cannot be decompressed ({error})") from error
    if not data.strip():
        raise BarFileError(f"{name}: file is empty")
    if data[:4] == b"PAR1":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as error:  # pyarrow raises several types for corrupt files
            raise BarFileError(f"{name}: not a readable Parquet file ({error})") from error
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head:
        title = re.search(rb"<title>(.*?)</title>", data[:8192], re.IGNORECASE | re.DOTALL)
        hint = f" titled {title.group(1).decode(errors='replace').strip()!r}" if title else ""
        raise BarFileError(
            f"{name}: is an HTML page{hint}, not CSV or Parquet (an error page saved instead of data?)"
        )
    if head.startswith((b"{", b"[")):
        raise BarFileError(f"{name}: is JSON, not CSV or Parquet")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BarFileError(
            f"{name}: not a text file (byte {error.start} is not UTF-8) and not Parquet"
        ) from error
    if "\x00" in text:
        raise BarFileError(f"{name}: not a text file (contains NUL bytes) and not Parquet")
    try:
        # Numbers parse in C; a column with any non-number stays text and is coerced cell by cell later.
        # Tickers are never "missing" words: NA (a NASDAQ ticker) and NULL must stay text, so the symbol
        # column treats only an empty cell as missing.
        columns = pd.read_csv(io.StringIO(text), skipinitialspace=True, nrows=0).columns
        symbol_columns = {c for c in columns if _normalised(c) in _ALIASES["symbol"]}
        missing = {c: [""] if c in symbol_columns else sorted(STR_NA_VALUES) for c in columns}
        return pd.read_csv(
            io.StringIO(text),
            skipinitialspace=True,
            low_memory=False,
            keep_default_na=False,
            na_values=missing,
        )
    except pd.errors.ParserError as error:
        raise BarFileError(f"{name}: not valid CSV ({str(error).strip()})") from error
    except pd.errors.EmptyDataError as error:
        raise BarFileError(f"{name}: file has no header row") from error


def _normalised(column: object) -> str:
    return re.sub(r"[\s_]+", " ", str(column).strip().lower())


def _canonical_columns(table: pd.DataFrame, name: str) -> dict[str, str]:
    """Map canonical names (``date``, ``open``...) to the file's own column names."""
    normalised = {_normalised(c): c for c in table.columns}
    found: dict[str, str] = {}
    for canonical, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in normalised:
                found[canonical] = normalised[alias]
                break
    return found


def _parse_dates(values: pd.Series) -> pd.Series:
    """Trading dates (midnight, naive). Timestamps with an offset keep their exchange-local date."""
    if pd.api.types.is_datetime64_any_dtype(values):
        dates = values
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_convert(EXCHANGE_TIMEZONE).dt.tz_localize(None)
        return dates.dt.normalize().astype("datetime64[ns]")
    text = values.astype("string").str.strip()
    dates = pd.to_datetime(text, errors="coerce", format="%Y-%m-%d")
    rest = dates.isna() & text.notna()
    if rest.any():
        has_tz = text[rest].str.contains(_TZ_SUFFIX, na=False)
        if has_tz.any():
            aware = pd.to_datetime(text[rest][has_tz], errors="coerce", utc=True, format="ISO8601")
            dates.loc[aware.index] = (
                aware.dt.tz_convert(EXCHANGE_TIMEZONE).dt.tz_localize(None).dt.normalize()
            )
        naive = rest & ~text.str.contains(_TZ_SUFFIX, na=False)
        if naive.any():
            dates.loc[naive] = pd.to_datetime(text[naive], errors="coerce", format="mixed").dt.normalize()
    return dates.astype("datetime64[ns]")


def _numbers(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype(float)


def _unparsed_note(raw: dict[str, pd.Series], parsed: dict[str, pd.Series], n: int) -> np.ndarray:
    """Per row, ``col='text'`` for every cell that had text but did not parse; empty string if none."""
    notes = np.full(n, "", dtype=object)
    for column, original in raw.items():
        if pd.api.types.is_numeric_dtype(original) or pd.api.types.is_datetime64_any_dtype(original):
            continue  # parsed by the reader: nothing was lost
        failed = original.notna().to_numpy() & parsed[column].isna().to_numpy()
        for index in np.flatnonzero(failed):
            cell = str(original.iloc[index])
            if not cell.strip():
                continue
            note = f"{column}={cell[:40]!r}"
            notes[index] = f"{notes[index]}, {note}" if notes[index] else note
    return notes


def _parse_actions(table: pd.DataFrame, columns: dict[str, str], name: str, file_symbol: str | None):
    symbol = _symbols(table, columns, name, file_symbol)
    action = table[columns["action"]].astype("string").str.strip().str.lower()
    action = action.replace({"stock split": "split", "splits": "split", "dividends": "dividend"})
    actions = pd.DataFrame(
        {
            "symbol": symbol,
            "date": _parse_dates(table[columns["date"]]),
            "action": action.astype(object),
            "value": _numbers(table[columns["value"]]),
        }
    )
    bad = (
        actions.isna().any(axis=1) | ~actions["action"].isin(["split", "dividend"]) | (actions["value"] <= 0)
    )
    if bad.any():
        lines = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:10])
        raise BarFileError(
            f"{name}: actions file has unusable row(s) at line(s) {lines}: need a symbol, a date, "
            "action 'split' (value = new shares per old share) or 'dividend' (cash per share), value > 0"
        )
    return actions


def _clean_symbol(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().upper()


def _symbols(table: pd.DataFrame, columns: dict[str, str], name: str, file_symbol: str | None) -> pd.Series:
    if "symbol" in columns:
        column = table[columns["symbol"]]
        cleaned = {value: _clean_symbol(value) for value in pd.unique(column)}  # few distinct values
        symbols = column.map(cleaned).astype(object)
        if file_symbol is not None:
            symbols = symbols.where(symbols.notna(), file_symbol)
        return symbols.where(symbols.notna(), None)
    if file_symbol is None:
        raise BarFileError(
            f"{name}: no symbol: add a `Name` (or `symbol`) column, or name the file after the ticker "
            "(e.g. AAPL.csv)"
        )
    return pd.Series([file_symbol] * len(table), dtype=object)


def _actions_from_yahoo_columns(bars: pd.DataFrame, table: pd.DataFrame, columns: dict[str, str]):
    frames = []
    for canonical, action in (("dividends", "dividend"), ("splits", "split")):
        if canonical in columns:
            values = _numbers(table[columns[canonical]])
            hit = values.fillna(0) > 0
            frames.append(
                pd.DataFrame(
                    {
                        "symbol": bars.loc[hit, "symbol"],
                        "date": bars.loc[hit, "date"],
                        "action": action,
                        "value": values[hit],
                    }
                )
            )
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_actions()


def parse_bar_file(data: bytes, name: str) -> ParsedFile:
    """Parse the bytes of one file called ``name`` (a path or an object key, used in messages)."""
    table = _sniff_table(data, name)
    table.columns = [str(c) for c in table.columns]
    columns = _canonical_columns(table, name)
    file_symbol = symbol_from_file_name(name)
    if {"date", "action", "value"} <= columns.keys() and "close" not in columns:
        actions = _parse_actions(table, columns, name, file_symbol)
        return ParsedFile(name, "actions", empty_raw_bars(), actions)
    missing = [c for c in ("date", *PRICE_COLUMNS, "volume") if c not in columns]
    if missing:
        raise BarFileError(
            f"{name}: missing column(s) {', '.join(missing)}; found: {', '.join(table.columns) or 'none'}"
        )
    warnings: list[str] = []
    if table.empty:
        warnings.append(f"{name}: has a header but no rows")
    raw = {c: table[columns[c]] for c in ("date", *PRICE_COLUMNS, "volume")}
    parsed = {"date": _parse_dates(raw["date"]), **{c: _numbers(raw[c]) for c in (*PRICE_COLUMNS, "volume")}}
    is_csv = not data.startswith(b"PAR1")
    bars = pd.DataFrame(
        {
            "symbol": _symbols(table, columns, name, file_symbol),
            **parsed,
            "source": name,
            "line": np.arange(len(table), dtype=np.int64) + (2 if is_csv else 1),
            "unparsed": _unparsed_note(raw, parsed, len(table)),
        }
    )
    layout = (
        "yfinance"
        if "dividends" in columns or "splits" in columns
        else "yahoo"
        if "adj_close" in columns
        else "quant"
        if str(columns.get("symbol", "")).lower() == "name"
        else "generic"
    )
    actions = _actions_from_yahoo_columns(bars, table, columns)
    if layout == "yfinance":  # yfinance's prices and dividends are split-adjusted: back to as traded
        bars, actions = undo_split_adjustment(bars, actions)
    return ParsedFile(name, layout, bars, actions, tuple(warnings))


def read_bar_file(path: Path | str) -> ParsedFile:
    """Parse a file on disk; a missing or unreadable file is a BarFileError naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BarFileError(f"{path}: cannot be read ({error.strerror or error})") from error
    return parse_bar_file(data, str(path))


def empty_raw_bars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "date": pd.Series(dtype="datetime64[ns]"),
            **{c: pd.Series(dtype=float) for c in (*PRICE_COLUMNS, "volume")},
            "source": pd.Series(dtype=object),
            "line": pd.Series(dtype=np.int64),
            "unparsed": pd.Series(dtype=object),
        }
    )
