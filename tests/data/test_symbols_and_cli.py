"""Symbols are data: the universe file, the landing-zone sensor, and `quant ingest` / `quant symbols`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import build_sensor_context

from quant_assets.automation.symbol_sensors import landing_zone_sensor
from quant_assets.cli import main
from quant_assets.resources.landing_zone import LandingZoneResource
from quant_assets.settings import DEFAULT_SYMBOLS, DEFAULT_UNIVERSE_FILE
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


def test_landing_zone_sensor_requests_one_run_per_batch_of_new_files(tmp_path):
    landing = LandingZoneResource(uri=str(tmp_path))
    empty = landing_zone_sensor(build_sensor_context(resources={"landing": landing}))
    assert not empty.run_requests and "no new files" in empty.skip_reason.skip_message

    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "20240101T000000Z-a.csv").write_text(MSFT)
    (tmp_path / "notes.md").write_text("not data")
    first = landing_zone_sensor(build_sensor_context(resources={"landing": landing}, cursor=empty.cursor))
    assert len(first.run_requests) == 1 and first.run_requests[0].tags["quant/new_files"] == "1"
    again = landing_zone_sensor(build_sensor_context(resources={"landing": landing}, cursor=first.cursor))
    assert not again.run_requests

    (tmp_path / "api" / "20240102T000000Z-b.csv").write_text(MSFT)
    second = landing_zone_sensor(build_sensor_context(resources={"landing": landing}, cursor=first.cursor))
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != first.run_requests[0].run_key


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

    assert main(["symbols", "--json"]) == 0
    table = {row["symbol"]: row for row in json.loads(capsys.readouterr().out)}
    assert table["AAPL"]["source"] == "bundled" and table["AAPL"]["bars"] == 25
    assert table["AAPL"]["last"] == "2013-03-15"
    assert table["MSFT"]["source"] == "landing" and table["MSFT"]["last"] == "2013-03-14"
