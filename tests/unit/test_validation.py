import numpy as np
import pandas as pd
import pandera.errors
import pytest

from quant_assets.core.schemas import VALID_BARS_SCHEMA
from quant_assets.core.validation import split_valid_bars
from quant_assets.settings import BUNDLED_DATA_DIR
from quant_assets.sources.bundled import load_bundled_bars, read_bundled_file


def bar(symbol="AAA", date="2020-01-02", o=10.0, h=11.0, low=9.0, c=10.5, v=1000.0):
    return {
        "symbol": symbol,
        "date": pd.Timestamp(date),
        "open": o,
        "high": h,
        "low": low,
        "close": c,
        "volume": v,
    }


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_flow():
    bars = pd.DataFrame(
        [
            bar(date="2020-01-02"),
            bar(date="2020-01-03", o=np.nan),
            bar(date="2020-01-06", low=10.8),  # low above open
            bar(date="2020-01-07", c=-1.0, low=-2.0),
            bar(date="2020-01-08", v=-5.0),
            bar(date="2020-01-09", h=np.inf),
            bar(date="2020-01-10"),
        ]
    )
    valid, quarantined = split_valid_bars(bars)
    assert valid["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-02", "2020-01-10"]
    reasons = dict(zip(quarantined["date"].dt.strftime("%m-%d"), quarantined["reason"], strict=True))
    assert reasons["01-03"] == "missing value"
    assert reasons["01-06"].startswith("OHLC inconsistent")
    assert "non-positive price" in reasons["01-07"]
    assert reasons["01-08"] == "negative volume"
    assert "non-finite price" in reasons["01-09"]
    VALID_BARS_SCHEMA.validate(valid)


def test_duplicate_dates_keep_the_last_row_as_a_correction():
    bars = pd.DataFrame([bar(c=10.5), bar(c=10.7)])
    valid, quarantined = split_valid_bars(bars)
    assert valid["close"].tolist() == [10.7]
    assert quarantined["reason"].tolist() == ["duplicate (symbol, date)"]
    assert quarantined["close"].tolist() == [10.5]


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="volume"):
        split_valid_bars(pd.DataFrame([bar()]).drop(columns="volume"))


def test_schema_rejects_what_validation_would_quarantine():
    bad = pd.DataFrame([bar(), bar()]).astype({"volume": float})
    with pytest.raises(pandera.errors.SchemaErrors):
        VALID_BARS_SCHEMA.validate(bad, lazy=True)


def test_bundled_data_real_flaws_are_caught():
    """BHF has a real row with missing open/high/low (2017-07-26); CHK has a real OHLC inconsistency."""
    bars = load_bundled_bars(BUNDLED_DATA_DIR, ["BHF", "CHK", "AAPL"])
    valid, quarantined = split_valid_bars(bars)
    bhf = quarantined[quarantined["symbol"] == "BHF"]
    assert bhf["date"].dt.strftime("%Y-%m-%d").tolist() == ["2017-07-26"]
    assert bhf["reason"].tolist() == ["missing value"]
    assert (quarantined["symbol"] == "CHK").sum() == 1
    assert len(valid) + len(quarantined) == len(bars)
    assert valid.groupby("symbol").size()["AAPL"] == 1259


def test_unknown_symbol_lists_what_is_available(tmp_path):
    with pytest.raises(FileNotFoundError, match="no bundled data for NOPE"):
        load_bundled_bars(BUNDLED_DATA_DIR, ["NOPE"])


def test_file_without_volume_column_is_an_error_naming_file_and_column(tmp_path):
    path = tmp_path / "XYZ_data.csv"
    path.write_text("date,open,high,low,close,Name\n2020-01-02,1,2,0.5,1.5,XYZ\n")
    with pytest.raises(ValueError, match=r"XYZ_data.csv: missing column\(s\) volume"):
        read_bundled_file(path)


def test_shipped_files_carry_their_true_dates_wherever_they_are_copied(tmp_path):
    """The mirror stamped 2018 rows as 2021; the shipped files are repaired (data/.../SOURCES.md), so a
    copy in any folder loads with a continuous calendar, not a three-year jump."""
    copy = tmp_path / "my_bars" / "AAL_data.csv"
    copy.parent.mkdir()
    copy.write_bytes((BUNDLED_DATA_DIR / "AAL_data.csv").read_bytes())
    bars = read_bundled_file(copy)
    assert bars["date"].max() == pd.Timestamp("2018-02-07")
    assert (bars["date"].dt.dayofweek < 5).all()
    assert bars["date"].is_monotonic_increasing
    assert bars["date"].diff().max() <= pd.Timedelta(days=4)  # long weekends at most


def test_future_and_weekend_dates_are_quarantined():
    bars = pd.DataFrame([bar(date="2020-01-03"), bar(date="2020-01-04"), bar(date="2020-01-06")])
    valid, quarantined = split_valid_bars(bars, today=pd.Timestamp("2020-01-05"))
    assert valid["date"].tolist() == [pd.Timestamp("2020-01-03")]
    assert quarantined["reason"].tolist() == ["weekend date (markets closed)", "date in the future"]
