"""Symbols are data: the universe file, the landing-zone sensor, and `quant ingest` / `quant symbols`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, PartitionKeyRange, build_sensor_context

from quant_assets.assets.ingestion import SYMBOLS
from quant_assets.automation.symbol_sensors import landing_zone_sensor
from quant_assets.cli import main
from quant_assets.instance import dagster_instance
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.settings import DEFAULT_SYMBOLS, DEFAULT_UNIVERSE_FILE, load_settings
from quant_assets.sources.universe import read_universe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bars"
MSFT = "date,open,high,low,close,volume,Name\n2013-03-14,27.9,28.1,27.8,28.0,31000000,MSFT\n"


def test_default_universe_is_the_yaml_file():
    assert tuple(read_universe(DEFAULT_UNIVERSE_FILE)) == DEFAULT_SYMBOLS
    assert len(DEFAULT_SYMBOLS) == 20 and {"BHF", "APTV"} <= set(DEFAULT_SYMBOLS)


def test_universe_file_errors_name_file_and_entry(tmp_path):
    path = tmp_path / "universe.yaml"
    path.write_text("symbols:\n  - AAPL\n  - {symbol: MSFT, source: bloomberg}\n")
    with pytest.raises(ValueError, match=r"universe.yaml: MSFT: unknown source 'bloomberg'"):
        read_universe(path)
    path.write_text("symbols:\n  - AAPL\n  - {source: yahoo}\n")
    with pytest.raises(ValueError, match=r"symbols entry 2 .* has no symbol"):
        read_universe(path)


def test_landing_zone_sensor_adds_new_symbols_and_requests_one_run_for_the_touched_ones(tmp_path):
    landing = LandingZoneResource(uri=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SYMBOLS.name, ["AAPL", "ABT"])

    def evaluate(cursor):
        return landing_zone_sensor(
            build_sensor_context(instance=instance, resources={"landing": landing}, cursor=cursor)
        )

    empty = evaluate(None)
    assert not empty.run_requests and "no new files" in empty.skip_reason.skip_message

    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "20240101T000000Z-a.csv").write_text(MSFT)
    (tmp_path / "notes.md").write_text("not data")
    first = evaluate(empty.cursor)
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["MSFT"]]
    assert len(first.run_requests) == 1 and first.run_requests[0].tags["quant/new_files"] == "1"
    assert first.run_requests[0].partition_key_range == PartitionKeyRange("MSFT", "MSFT")
    instance.add_dynamic_partitions(SYMBOLS.name, ["MSFT"])  # what the daemon does with the request
    assert not evaluate(first.cursor).run_requests

    # A correction for a followed symbol: no new partition, a run for that symbol only.
    (tmp_path / "api" / "20240102T000000Z-b.csv").write_text(MSFT.replace("MSFT", "AAPL"))
    second = evaluate(first.cursor)
    assert not second.dynamic_partitions_requests
    assert [r.partition_key_range for r in second.run_requests] == [PartitionKeyRange("AAPL", "AAPL")]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key

    # An error page saved as oops.csv touches no symbol and must not become a partition named OOPS.
    (tmp_path / "oops.csv").write_text("<html><title>Error</title></html>")
    third = evaluate(second.cursor)
    assert not third.run_requests and not third.dynamic_partitions_requests


def test_quant_ingest_lands_and_materialises_then_symbols_shows_freshness(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("QUANT_DATA_DIR", str(FIXTURES))
    monkeypatch.setenv("QUANT_SYMBOLS", "AAPL")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "MSFT.csv").write_text(MSFT)
    (drop / "broken.csv").write_text("<html><title>Error</title></html>")

    assert main(["ingest", str(drop)]) == 1  # one unreadable file: nothing is landed
    assert "not ingested:" in capsys.readouterr().err
    assert not (tmp_path / "home" / "landing").exists()

    (drop / "broken.csv").unlink()
    assert main(["ingest", str(drop)]) == 0
    out = capsys.readouterr().out
    landed = list((tmp_path / "home" / "landing" / "cli").rglob("MSFT.csv"))
    assert len(landed) == 1 and landed[0].read_text() == MSFT
    assert "MSFT: 1 validated bars up to 2013-03-14, 0 quarantined" in out
    lake = tmp_path / "home" / "lake" / "validated_bars"
    assert [p.name for p in lake.iterdir()] == ["MSFT.parquet"]  # only the touched symbol was run

    assert main(["symbols", "--json"]) == 0
    table = {row["symbol"]: row for row in json.loads(capsys.readouterr().out)}
    assert table["AAPL"]["source"] == "bundled" and table["AAPL"]["bars"] == 0  # followed, not ingested yet
    assert table["MSFT"]["source"] == "landing" and table["MSFT"]["last"] == "2013-03-14"

    # Ingesting AAPL's file now runs AAPL alone; MSFT's partition is left as it was.
    msft_stamp = (lake / "MSFT.parquet").stat().st_mtime_ns
    assert main(["ingest", str(FIXTURES / "AAPL_data.csv")]) == 0
    assert "AAPL: 25 validated bars up to 2013-03-15" in capsys.readouterr().out
    assert (lake / "MSFT.parquet").stat().st_mtime_ns == msft_stamp
    with dagster_instance(load_settings()) as instance:
        assert instance.get_dynamic_partitions(SYMBOLS.name) == ["AAPL", "MSFT"]
