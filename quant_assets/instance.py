"""The persistent Dagster instance under ``$QUANT_HOME/dagster``, shared by the CLI and ``make dev``."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import DagsterInstance

from quant_assets.settings import PROJECT_ROOT, Settings


@contextmanager
def dagster_instance(settings: Settings) -> Iterator[DagsterInstance]:
    """Open (creating if needed) the instance whose runs the Dagster UI shows."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    with DagsterInstance.get() as instance:
        yield instance
