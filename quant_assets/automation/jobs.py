"""Asset jobs the schedules and sensors launch, and how a set of symbols becomes as few runs as possible.

The ingestion layer is partitioned by symbol; a run covers a range of partition keys (in the order they
were added), so the symbols one request touches are grouped into contiguous ranges: one run per range,
usually one run in all (new symbols are added at the end, next to each other).
"""

from collections.abc import Iterable, Sequence

from dagster import AssetSelection, DagsterInstance, RunRequest, define_asset_job

from quant_assets.assets.ingestion import SYMBOLS
from quant_assets.framework_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

INGESTION = AssetSelection.assets("raw_bars", "validated_bars", "quarantined_bars")
# Retraining rebuilds the training set and everything that depends on the model. The backtest (minutes
# of replay, not needed to serve) runs with the whole graph or on its own job.
BACKTEST = AssetSelection.assets("backtest")
# The daily trading cycle: account -> targets (risk limits) -> orders -> broker. Off the retrain path:
# a new champion changes tomorrow's weights; orders go out only when the cycle runs.
TRADING = AssetSelection.groups("trading")
RETRAINING = AssetSelection.assets("training_set").downstream() - BACKTEST - TRADING

ingestion_job = define_asset_job(
    "ingestion_job", selection=INGESTION, description="Fetch and validate the newest daily bars."
)
retrain_job = define_asset_job(
    "retrain_job",
    selection=RETRAINING,
    description="Train a challenger, gate it, rebuild bento, predictions and weights.",
)
backtest_job = define_asset_job(
    "backtest_job",
    selection=BACKTEST,
    description="Replay the policy out of sample with costs, beside SPY, equal weight and top-k.",
)
trading_cycle_job = define_asset_job(
    "trading_cycle",
    selection=TRADING,
    description="Fill yesterday's orders, reconcile, judge today's targets by the risk limits, send orders.",
)
everything_job = define_asset_job(
    "everything_job",
    selection=AssetSelection.all(),
    description="The whole graph, from raw bars to portfolio weights and the paper account's orders.",
)


def symbol_ranges(ordered: Sequence[str], wanted: Iterable[str]) -> list[tuple[str, str]]:
    """Contiguous runs of ``wanted`` within the partition order ``ordered``, as (first, last) keys."""
    wanted = set(wanted)
    ranges: list[tuple[str, str]] = []
    start = previous = None
    for key in ordered:
        if key in wanted:
            start = key if start is None else start
            previous = key
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    unknown = wanted - set(ordered)
    if unknown:
        raise ValueError(f"not symbol partitions (add them first): {', '.join(sorted(unknown))}")
    return ranges


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags that make one run materialise every partition from ``first`` to ``last``."""
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def symbol_run_requests(
    ordered: Sequence[str], wanted: Iterable[str], run_key: str | None, tags: dict[str, str]
) -> list[RunRequest]:
    """One run request per contiguous range of ``wanted`` symbols (a run key per range when given)."""
    ranges = symbol_ranges(ordered, wanted)
    return [
        RunRequest(
            run_key=None if run_key is None else f"{run_key}-{i}" if len(ranges) > 1 else run_key,
            tags={**tags, **range_tags(first, last)},
        )
        for i, (first, last) in enumerate(ranges)
    ]


def add_symbols(instance: DagsterInstance, symbols: Iterable[str]) -> list[str]:
    """Add the missing symbol partitions (keeping the given order); returns every partition, in order."""
    known = instance.get_dynamic_partitions(SYMBOLS.name)
    new = [s for s in dict.fromkeys(symbols) if s not in set(known)]
    if new:
        instance.add_dynamic_partitions(SYMBOLS.name, new)
    return [*known, *new]
