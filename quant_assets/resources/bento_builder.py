"""Builds the serving bento from a champion, in a child process with its own BENTOML_HOME.

BentoML writes a model or bento straight into its store folder and rewrites ``latest`` in place, so a
build killed half-way would leave an item ``bentoml serve`` trips on. The child therefore builds into a
staging store (``<bentoml_home>/.staging.<pid>.partial``, its BENTOML_HOME and TMPDIR); only a finished
build is moved into the real store, one rename per item, then ``latest`` is renamed over. A killed build
leaves only the staging folder, which ``run_recovery`` removes once its process is gone.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import ConfigurableResource


def publish(staging: Path, home: Path, kind: str, tag: str) -> None:
    """Move the finished item ``tag`` (``name:version``) of store ``kind`` (models, bentos) from the staging
    store into ``home``, then point its ``latest`` at it; each step is one rename."""
    name, version = tag.split(":")
    target = home / kind / name / version
    target.parent.mkdir(parents=True, exist_ok=True)
    (staging / kind / name / version).rename(target)
    latest = target.with_name("latest")
    partial = latest.with_name(f"latest.{os.getpid()}.tmp")
    partial.write_text(version)
    partial.replace(latest)


class BentoBuilder(ConfigurableResource):
    bentoml_home: str
    bento_dir: str

    def package(self, model_file: Path, metadata: dict) -> dict[str, str]:
        """Returns ``{"model_tag", "bento_tag"}``; raises with the child's output if the build fails."""
        home = Path(self.bentoml_home)
        staging = home / f".staging.{os.getpid()}.partial"
        shutil.rmtree(staging, ignore_errors=True)  # this process's own, from a build that raised
        (staging / "tmp").mkdir(parents=True)
        try:
            metadata_file = staging / "metadata.json"
            metadata_file.write_text(json.dumps(metadata))
            env = {
                **os.environ,
                "BENTOML_HOME": str(staging),
                "BENTOML_DO_NOT_TRACK": "True",
                "TMPDIR": str(staging / "tmp"),
            }
            completed = subprocess.run(
                [
                    sys.executable,
                    str(Path(self.bento_dir) / "package.py"),
                    "--model-file",
                    str(model_file),
                    "--metadata",
                    str(metadata_file),
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
            )
            if completed.returncode != 0:
                raise RuntimeError(
                    f"bento build failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
                )
            tags = json.loads(completed.stdout.strip().splitlines()[-1])
            publish(staging, home, "models", tags["model_tag"])
            publish(staging, home, "bentos", tags["bento_tag"])
            return tags
        finally:
            shutil.rmtree(staging, ignore_errors=True)
