"""Builds the serving bento from a champion, in a child process with its own BENTOML_HOME."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dagster import ConfigurableResource


class BentoBuilder(ConfigurableResource):
    bentoml_home: str
    bento_dir: str

    def package(self, model_file: Path, metadata: dict) -> dict[str, str]:
        """Returns ``{"model_tag", "bento_tag"}``; raises with the child's output if the build fails."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(metadata, handle)
        env = {**os.environ, "BENTOML_HOME": self.bentoml_home, "BENTOML_DO_NOT_TRACK": "True"}
        completed = subprocess.run(
            [
                sys.executable,
                str(Path(self.bento_dir) / "package.py"),
                "--model-file",
                str(model_file),
                "--metadata",
                handle.name,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        Path(handle.name).unlink(missing_ok=True)
        if completed.returncode != 0:
            raise RuntimeError(
                f"bento build failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
            )
        return json.loads(completed.stdout.strip().splitlines()[-1])
