"""A server we run ourselves on loopback (bentoml serve, a baseline app): started, awaited, always stopped.

The process gets a process group of its own, so stopping it by its own id (never by name) also reaches
the workers it forked. Used by the integration tests and the serving benchmark.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(
    cmd: list[str], *, env: dict[str, str], cwd: Path, log_path: Path, ready_url: str, timeout_s: float = 90
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` (output to ``log_path``) until ``ready_url`` answers 200; stop its group on exit."""
    import httpx

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{' '.join(cmd[:3])} exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{' '.join(cmd[:3])} not ready after {timeout_s:g} s:\n{tail}")
            time.sleep(0.3)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
