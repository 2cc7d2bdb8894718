"""The universe sensor: a line added to the universe file becomes exactly one new partition and one run.
The daily schedule: one run over every symbol."""

from dagster import (
    DagsterInstance,
    PartitionKeyRange,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from quant_assets.assets.ingestion import SYMBOLS
from quant_assets.automation.schedules import daily_ingestion_request
from quant_assets.automation.symbol_sensors import universe_sensor
from quant_assets.resources.platform import PlatformConfig
from quant_assets.settings import DEFAULT_UNIVERSE_FILE
from quant_assets.sources.universe import read_universe


def _evaluate(instance: DagsterInstance, universe_file):
    platform = PlatformConfig(data_dir="unused", symbols=[], universe_file=str(universe_file))
    result = universe_sensor(build_sensor_context(instance=instance, resources={"platform": platform}))
    for request in result.dynamic_partitions_requests:  # what the sensor daemon does with them
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_a_symbol_added_to_the_universe_file_adds_that_partition_and_one_run_for_it(tmp_path):
    universe = tmp_path / "universe.yaml"
    universe.write_text("symbols:\n  - AAPL\n  - ABT\n")
    instance = DagsterInstance.ephemeral()
    first = _evaluate(instance, universe)
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["AAPL", "ABT"]]
    assert [r.partition_key_range for r in first.run_requests] == [PartitionKeyRange("AAPL", "ABT")]

    unchanged = _evaluate(instance, universe)
    assert not unchanged.run_requests and not unchanged.dynamic_partitions_requests

    universe.write_text("symbols:\n  - AAPL\n  - ABT\n  - {symbol: MSFT, source: yahoo}\n")
    added = _evaluate(instance, universe)  # no reload, no code: the file is read on every evaluation
    assert [r.partition_keys for r in added.dynamic_partitions_requests] == [["MSFT"]]
    assert len(added.run_requests) == 1
    request = added.run_requests[0]
    assert request.partition_key_range == PartitionKeyRange("MSFT", "MSFT")
    assert request.tags["quant/new_symbols"] == "1"
    assert instance.get_dynamic_partitions(SYMBOLS.name) == ["AAPL", "ABT", "MSFT"]


def test_partition_count_equals_the_universe_size():
    instance = DagsterInstance.ephemeral()
    result = _evaluate(instance, DEFAULT_UNIVERSE_FILE)
    universe = read_universe(DEFAULT_UNIVERSE_FILE)
    assert instance.get_dynamic_partitions(SYMBOLS.name) == list(universe)
    assert len(universe) == 20
    # one run for all of them, not one per symbol
    first, last = list(universe)[0], list(universe)[-1]
    assert [r.partition_key_range for r in result.run_requests] == [PartitionKeyRange(first, last)]


def test_daily_schedule_is_one_run_over_every_symbol_partition():
    with instance_for_test() as instance:
        assert (
            "no symbol partitions"
            in daily_ingestion_request(build_schedule_context(instance=instance)).skip_message
        )
        instance.add_dynamic_partitions(SYMBOLS.name, ["AAPL", "ABT", "MSFT"])
        request = daily_ingestion_request(build_schedule_context(instance=instance))
        assert request.partition_key_range == PartitionKeyRange("AAPL", "MSFT")
