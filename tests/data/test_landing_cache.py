"""The landing-zone parse cache: each file parsed once, and never a different answer than parsing it."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from quant_assets.sources import landing_cache
from quant_assets.sources.gather import gather_bars
from quant_assets.sources.landing_cache import LandingParseCache
from quant_assets.sources.landing_zone import FolderLandingZone

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bars"
FIX = "date,open,high,low,close,volume,Name\n2013-02-11,66.0,67.0,65.5,66.5,1000,AAPL\n"


@pytest.fixture
def zone_dir(tmp_path) -> Path:
    zone = tmp_path / "zone"
    (zone / "api").mkdir(parents=True)
    shutil.copy(FIXTURES / "AAPL_data.csv", zone / "AAPL_data.csv")  # ours
    shutil.copy(FIXTURES / "CALM-1d-no-bad-divs.csv", zone / "CALM.csv")  # yfinance: bars and dividends
    shutil.copy(FIXTURES / "de.us.txt", zone / "de.us.txt")  # Stooq
    (zone / "api" / "fix.csv").write_text(FIX)  # a correction
    (zone / "api" / "oops.csv").write_text("<html><title>502 Bad Gateway</title></html>")  # unreadable
    (zone / "orphan.csv").write_text("date,open,high,low,close,volume,Name\n2013-02-11,1,2,0.5,1.5,10,\n")
    return zone


def gather(zone_dir: Path, cache: LandingParseCache | None):
    universe = {"AAPL": "landing", "CALM": "landing", "DE": "landing"}
    return gather_bars(universe, Path("."), FolderLandingZone(zone_dir), cache=cache)


def assert_same(got, expected) -> None:
    pd.testing.assert_frame_equal(got.bars, expected.bars)
    assert got.outcomes == expected.outcomes
    assert got.warnings == expected.warnings


def test_cached_reads_equal_fresh_parses_and_parse_nothing_twice(zone_dir, tmp_path):
    expected = gather(zone_dir, cache=None)
    assert "CALM" in set(expected.bars["symbol"]) and expected.errors  # the fixture holds what it says
    assert expected.bars.loc[expected.bars["symbol"] == "CALM", "dividend"].sum() > 0  # actions came along
    cache = LandingParseCache(tmp_path / "cache")
    first = gather(zone_dir, cache)
    assert (cache.stats.parsed, cache.stats.cached) == (6, 0)
    assert_same(first, expected)
    second = gather(zone_dir, cache)
    assert (cache.stats.parsed, cache.stats.cached) == (0, 6)
    assert_same(second, expected)
    assert any("502 Bad Gateway" in e or "oops.csv" in e for e in second.errors)  # reported every run


def test_a_new_or_changed_file_is_the_only_one_parsed(zone_dir, tmp_path):
    cache = LandingParseCache(tmp_path / "cache")
    gather(zone_dir, cache)
    (zone_dir / "api" / "later.csv").write_text(FIX.replace("2013-02-11", "2013-02-12"))
    fixed = zone_dir / "api" / "fix.csv"
    fixed.write_text(FIX.replace("66.5", "66.6"))
    os.utime(fixed, (fixed.stat().st_atime, fixed.stat().st_mtime + 5))
    result = gather(zone_dir, cache)
    assert (cache.stats.parsed, cache.stats.cached) == (2, 5)
    assert_same(result, gather(zone_dir, cache=None))
    assert 66.6 in set(result.bars["close"])
    again = gather(zone_dir, cache)  # the old parse of fix.csv stays in an older batch: never read again
    assert (cache.stats.parsed, cache.stats.cached) == (0, 7)
    assert_same(again, result)


def test_new_parser_rules_or_a_lost_cache_mean_one_full_reparse(zone_dir, tmp_path, monkeypatch):
    cache = LandingParseCache(tmp_path / "cache")
    gather(zone_dir, cache)
    monkeypatch.setattr(landing_cache, "PARSER_VERSION", "next")
    gather(zone_dir, cache)
    assert cache.stats.parsed == 6
    shutil.rmtree(tmp_path / "cache")
    assert_same(gather(zone_dir, cache), gather(zone_dir, cache=None))
    assert cache.stats.parsed == 6


def test_many_small_batches_are_compacted_into_one(zone_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(landing_cache, "MAX_BATCHES", 3)
    cache = LandingParseCache(tmp_path / "cache")
    for day in range(12, 17):  # one new file per run, as a daily POST /api/data would add
        (zone_dir / "api" / f"2013-02-{day}.csv").write_text(FIX.replace("2013-02-11", f"2013-02-{day}"))
        gather(zone_dir, cache)
    assert cache.stats.compacted or len(list((tmp_path / "cache").glob("*.bars.parquet"))) <= 3
    assert len(list((tmp_path / "cache").glob("*.bars.parquet"))) <= 3
    assert_same(gather(zone_dir, cache), gather(zone_dir, cache=None))
    assert cache.stats.parsed == 0


def test_partial_files_of_a_run_that_died_are_cleaned_up(zone_dir, tmp_path):
    cache = LandingParseCache(tmp_path / "cache")
    gather(zone_dir, cache)
    dead = tmp_path / "cache" / ".0123abcd.bars.tmp"
    dead.write_bytes(b"half a parquet file")
    os.utime(dead, (0, 0))  # written long ago
    (zone_dir / "api" / "next.csv").write_text(FIX.replace("2013-02-11", "2013-02-13"))
    gather(zone_dir, cache)
    assert not dead.exists()


def test_the_sensor_parses_new_files_once_and_the_run_reads_them_from_the_cache(zone_dir, tmp_path):
    from dagster import DagsterInstance, build_sensor_context

    from quant_assets.automation.symbol_sensors import landing_zone_sensor
    from quant_assets.resources.landing_zone import LandingZoneResource

    landing = LandingZoneResource(uri=str(zone_dir), parse_cache_dir=str(tmp_path / "cache"))
    sensed = landing_zone_sensor(
        build_sensor_context(instance=DagsterInstance.ephemeral(), resources={"landing": landing})
    )
    (added,) = sensed.dynamic_partitions_requests
    # oops.csv (unreadable) adds nothing; orphan.csv's empty Name cells take the symbol from its file name
    assert set(added.partition_keys) == {"AAPL", "CALM", "DE", "ORPHAN"}
    cache = LandingParseCache(tmp_path / "cache")
    assert_same(gather(zone_dir, cache), gather(zone_dir, cache=None))
    assert (cache.stats.parsed, cache.stats.cached) == (0, 6)
