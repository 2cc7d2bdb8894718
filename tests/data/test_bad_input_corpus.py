"""The bad-input corpus: each kind of broken input, its exact outcome, and the good rows still landing.

Every case starts from the same 25 real AAPL bars (tests/fixtures/bars/AAPL_data.csv) and breaks one
thing. Row-level damage quarantines exactly the damaged rows with their reason and lets the other rows
through; file-level damage is an error naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from quant_assets.cli.data import validate_files
from quant_assets.core.validation import split_valid_bars
from quant_assets.sources.layouts import read_bar_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bars"
BASE = (FIXTURES / "AAPL_data.csv").read_text().splitlines()
HEADER, ROWS = BASE[0], BASE[1:]
BASE_DATES = [row.split(",")[0] for row in ROWS]
TODAY = pd.Timestamp("2020-01-01")


def with_cell(row: int, column: str, value: str) -> list[str]:
    """The base rows with one cell of data row ``row`` (0-based) replaced."""
    index = HEADER.split(",").index(column)
    rows = list(ROWS)
    cells = rows[row].split(",")
    cells[index] = value
    rows[row] = ",".join(cells)
    return rows


def text(rows: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def spike(row: int, factor: float) -> list[str]:
    rows = list(ROWS)
    date, o, h, low, c, v, name = rows[row].split(",")
    close = float(c) * factor
    rows[row] = ",".join([date, o, f"{max(float(h), close):.4f}", low, f"{close:.4f}", v, name])
    return rows


# (case, file name, content, quarantined [(date, exact reason)], extra accepted rows beyond the base)
ROW_CASES = [
    (
        "unparseable number",
        "AAPL.csv",
        text(with_cell(3, "open", "66.7x")),
        [("2013-02-13", "unparseable value (open='66.7x')")],
    ),
    ("empty cell", "AAPL.csv", text(with_cell(4, "high", "")), [("2013-02-14", "missing value")]),
    ("negative price", "AAPL.csv", text(with_cell(5, "low", "-1")), [("2013-02-15", "non-positive price")]),
    (
        "negative volume",
        "AAPL.csv",
        text(with_cell(6, "volume", "-100")),
        [("2013-02-19", "negative volume")],
    ),
    (
        "high below close",
        "AAPL.csv",
        text(with_cell(7, "high", "60")),
        [("2013-02-20", "OHLC inconsistent (need low <= min(open, close) <= max(open, close) <= high)")],
    ),
    ("infinite price", "AAPL.csv", text(with_cell(8, "close", "inf")), [("2013-02-21", "non-finite price")]),
    (
        "date in the future",
        "AAPL.csv",
        text([*ROWS, ROWS[-1].replace("2013-03-15", "2031-03-14")]),
        [("2031-03-14", "date in the future")],
    ),
    (
        "weekend date",
        "AAPL.csv",
        text([*ROWS, ROWS[-1].replace("2013-03-15", "2013-03-16")]),
        [("2013-03-16", "weekend date (markets closed)")],
    ),
    (
        "exchange holiday",
        "AAPL.csv",
        text([*ROWS, ROWS[5].replace("2013-02-15", "2013-02-18")]),
        [("2013-02-18", "exchange holiday (NYSE closed)")],
    ),
    (
        "duplicate date, last wins",
        "AAPL.csv",
        text([*ROWS, ROWS[9].replace("AAPL", "aapl")]),
        [("2013-02-22", "duplicate (symbol, date)")],
    ),
    (
        "unparseable date",
        "AAPL.csv",
        text(with_cell(10, "date", "2013-02-30")),
        [(None, "unparseable value (date='2013-02-30')")],
    ),
    (
        "fat-finger spike",
        "AAPL.csv",
        text(spike(12, 10.0)),
        [("2013-02-27", "outlier spike (close +890% then -90% the next session)")],
    ),
    ("missing symbol cell, named file", "AAPL_data.csv", text(with_cell(2, "Name", "")), []),
]


@pytest.mark.parametrize("case, name, content, expected", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_damage_is_quarantined_exactly_and_good_rows_land(tmp_path, case, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    report = validate_files([str(path)], today=TODAY)["files"][0]
    assert report["error"] is None
    assert [(q["date"], q["reason"]) for q in report["quarantined"]] == expected
    valid, _ = split_valid_bars(read_bar_file(path).bars, today=TODAY)
    landed = valid["date"].dt.strftime("%Y-%m-%d").tolist()
    extra_row = case.startswith(("duplicate", "date in", "weekend", "exchange"))  # added, base rows intact
    bad_dates = set() if extra_row and case.startswith("duplicate") else {d for d, _ in expected}
    damaged_base_rows = 0 if extra_row else len(expected)
    assert report["accepted"] == len(ROWS) - damaged_base_rows == len(valid)
    assert set(landed) == set(BASE_DATES) - bad_dates - (
        {"2013-02-25"} if case == "unparseable date" else set()
    )
    assert (valid["symbol"] == "AAPL").all()
    if case == "duplicate date, last wins":
        assert valid.loc[valid["date"] == "2013-02-22", "volume"].item() == float(ROWS[9].split(",")[5])


FILE_CASES = [
    (
        "missing column",
        "AAPL.csv",
        text([",".join(r.split(",")[:5] + r.split(",")[6:]) for r in ROWS], "date,open,high,low,close,Name"),
        "AAPL.csv: missing column(s) volume; found: date, open, high, low, close, Name",
    ),
    (
        "HTML error page",
        "AAPL.csv",
        b"<!DOCTYPE html><html><head><title>Yahoo! - 502 Bad Gateway</title></head><body></body></html>",
        "AAPL.csv: is an HTML page titled 'Yahoo! - 502 Bad Gateway', not CSV or Parquet",
    ),
    ("empty file", "AAPL.csv", b"", "AAPL.csv: file is empty"),
    ("binary, not CSV", "AAPL.csv", bytes(range(256)) * 4, "AAPL.csv: not a text file"),
    (
        "JSON instead of CSV",
        "AAPL.csv",
        b'{"chart": {"result": null}}',
        "AAPL.csv: is JSON, not CSV or Parquet",
    ),
    (
        "no symbol anywhere",
        "prices 2013.csv",
        text([r.rsplit(",", 1)[0] for r in ROWS], "date,open,high,low,close,volume"),
        "prices 2013.csv: no symbol: add a `Name` (or `symbol`) column",
    ),
    ("corrupt Parquet", "AAPL.parquet", b"PAR1" + b"\x00" * 64, "AAPL.parquet: not a readable Parquet file"),
    ("ragged CSV", "AAPL.csv", text([*ROWS[:3], ROWS[3] + ",1,2,3", *ROWS[4:]]), "AAPL.csv: not valid CSV"),
]


@pytest.mark.parametrize("case, name, content, message", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unreadable_files_fail_naming_file_and_problem(tmp_path, case, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    report = validate_files([str(path)], today=TODAY)["files"][0]
    assert report["accepted"] == 0 and report["quarantined"] == []
    assert report["error"].startswith(str(tmp_path / message.split(":")[0]))
    assert message.split(": ", 1)[1] in report["error"]


def test_header_only_file_is_accepted_empty_with_a_warning(tmp_path):
    path = tmp_path / "AAPL.csv"
    path.write_bytes(text([]))
    report = validate_files([str(path)], today=TODAY)["files"][0]
    assert (report["error"], report["accepted"], report["quarantined"]) == (None, 0, [])
    assert report["warnings"] == [f"{path}: has a header but no rows"]


def test_yahoo_layout_any_column_order_float_volume_symbol_from_file_name(tmp_path):
    """Yahoo's download layout, columns shuffled, volumes as floats, no symbol column."""
    frame = pd.read_csv(FIXTURES / "AAPL_data.csv")
    yahoo = pd.DataFrame(
        {
            "Volume": frame["volume"].astype(float),
            "Adj Close": frame["close"] * 0.9,
            "Date": frame["date"],
            "Close": frame["close"],
            "Low": frame["low"],
            "High": frame["high"],
            "Open": frame["open"],
        }
    )
    path = tmp_path / "aapl.us.csv"
    yahoo.to_csv(path, index=False)
    parsed = read_bar_file(path)
    assert parsed.layout == "yahoo" and parsed.symbols == ["AAPL"]
    valid, quarantined = split_valid_bars(parsed.bars, today=TODAY)
    assert len(valid) == 25 and quarantined.empty
    assert valid["close"].tolist() == frame["close"].tolist()


def test_parquet_with_tz_aware_timestamps_keeps_the_exchange_date(tmp_path):
    frame = pd.read_csv(FIXTURES / "AAPL_data.csv")
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize("America/New_York")
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    parsed = read_bar_file(path)
    assert parsed.bars["date"].dt.strftime("%Y-%m-%d").tolist() == BASE_DATES
    assert parsed.bars["line"].tolist() == list(range(1, 26))


def test_calendar_gap_is_a_warning_and_rows_still_flow(tmp_path):
    path = tmp_path / "AAPL.csv"
    path.write_bytes(text([r for r in ROWS if not r.startswith(("2013-02-20", "2013-02-21"))]))
    report = validate_files([str(path)], today=TODAY)["files"][0]
    assert report["accepted"] == 23 and report["quarantined"] == []
    assert report["warnings"] == ["AAPL: 2 NYSE session(s) without a bar: 2013-02-20, 2013-02-21"]


def test_real_decimal_shift_errors_in_deere_1994_are_quarantined():
    """The known bad prints of the Kaggle set (its SOURCES.md): DE 1994, High/Close a decimal off."""
    parsed = read_bar_file(FIXTURES / "de.us.txt")
    assert parsed.symbols == ["DE"]
    valid, quarantined = split_valid_bars(parsed.bars)
    bad = dict(zip(quarantined["date"].dt.strftime("%Y-%m-%d"), quarantined["reason"], strict=True))
    assert bad["1994-02-11"].startswith("OHLC inconsistent") and bad["1994-02-15"].startswith("OHLC")
    assert all(r.startswith("OHLC inconsistent") for r in bad.values())
    assert len(valid) + len(quarantined) == len(parsed.bars)
    assert valid["close"].min() > 5  # every decimal-shifted print is gone


def test_cli_validate_json_shape_and_exit_codes(tmp_path, capsys):
    from quant_assets.cli import main

    good = tmp_path / "AAPL.csv"
    good.write_bytes(text(with_cell(4, "high", "")))
    assert main(["validate", "--json", str(good)]) == 0  # bad rows are an outcome, not a failure
    import json

    result = json.loads(capsys.readouterr().out)
    assert result == {
        "files": [
            {
                "path": str(good),
                "symbol": "AAPL",
                "accepted": 24,
                "quarantined": [{"date": "2013-02-14", "reason": "missing value"}],
                # the quarantined row leaves a session without a valid bar, and that is said
                "warnings": ["AAPL: 1 NYSE session(s) without a bar: 2013-02-14"],
                "error": None,
            }
        ]
    }
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"")
    assert main(["validate", str(good), str(broken)]) == 1
    out = capsys.readouterr().out
    assert "AAPL: 24 accepted, 1 quarantined" in out and f"{broken}: ERROR {broken}: file is empty" in out


def test_tickers_that_look_like_missing_words_stay_tickers(tmp_path):
    """NA (a NASDAQ ticker) and NULL are symbols; an "NA" price is still a missing value."""
    path = tmp_path / "20180208T220000.000000Z-9f2c.csv"  # as POST /api/data names files: no ticker
    path.write_text(
        "date,open,high,low,close,volume,Name\n"
        "2018-02-08,10,11,9,10.5,1000,NA\n"
        "2018-02-08,10,11,9,10.5,1000,NULL\n"
        "2018-02-08,NA,11,9,10.5,1000,AAPL\n"
        "2018-02-08,10,11,9,10.5,1000,\n"
    )
    bars = read_bar_file(path).bars
    assert bars["symbol"].tolist()[:3] == ["NA", "NULL", "AAPL"]
    assert pd.isna(bars["symbol"].iloc[3])  # an empty cell is the only missing symbol
    assert pd.isna(bars["open"].iloc[2]) and bars["open"].iloc[0] == 10
