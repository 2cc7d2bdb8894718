"""The persistent Dagster instance under ``$QUANT_HOME/dagster``, shared by the CLI and ``make dev``.

Opening it for a command first marks failed the runs whose process is gone (``run_recovery``): without a
daemon running, the next command is the first moment anyone can notice.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import DagsterInstance

from quant_assets.run_recovery import host_tags, recover_and_report
from quant_assets.settings import PROJECT_ROOT, Settings


@contextmanager
def dagster_instance(settings: Settings) -> Iterator[DagsterInstance]:
    """Open (creating if needed) the instance whose runs the Dagster UI shows; dead runs are failed first."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        partial = config.with_name(f"dagster.yaml.{os.getpid()}.tmp")  # never half a config
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", partial)
        partial.replace(config)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    with DagsterInstance.get() as instance:
        recover_and_report(instance, settings)
        yield instance


def ingest_symbols(settings: Settings, instance: DagsterInstance, symbols: list[str]) -> list:
    """Add the symbols as partitions (the universe's first, keeping its order) and ingest only these.

    One run per contiguous range of partition keys: usually a single run for all of them.
    """
    from quant_assets.automation.jobs import add_symbols, range_tags, symbol_ranges
    from quant_assets.definitions import build_definitions

    ordered = add_symbols(instance, [*settings.symbols, *symbols])
    job = build_definitions(settings).resolve_job_def("ingestion_job")
    return [
        job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={"quant/trigger": "cli", **host_tags(), **range_tags(first, last)},
        )
        for first, last in symbol_ranges(ordered, symbols)
    ]
