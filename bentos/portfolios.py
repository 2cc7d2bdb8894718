"""Target portfolio weights submitted over HTTP: validated, then stored as a new version; history is kept.

Versions are ``$QUANT_HOME/portfolio/v<NNNNNN>.json``. A version is written to a temporary file and
hard-linked to its final name, which fails if the name exists, so two workers storing at once get
distinct versions and a reader never sees half a file. The current portfolio is the highest version.
A worker killed between the two leaves its temporary file; the next save removes such leftovers once
they are older than any save can take (:data:`STALE_PARTIAL_SECONDS`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

_VERSION_FILE = re.compile(r"^v(\d{6,})\.json$")
STALE_PARTIAL_SECONDS = 60.0  # a save writes a few kilobytes: its temporary file lives milliseconds


def weight_problems(
    weights: dict[str, float], known: Iterable[str], cap: float, tolerance: float
) -> list[str]:
    """Every reason ``weights`` cannot be stored, each naming the symbols at fault (empty: valid)."""
    problems: list[str] = []
    non_finite = sorted(s for s, w in weights.items() if not math.isfinite(w))
    if non_finite:
        problems.append(f"weights must be finite numbers: {', '.join(non_finite)}")
    finite = {s: w for s, w in weights.items() if math.isfinite(w)}
    negative = sorted(s for s, w in finite.items() if w < 0)
    if negative:
        problems.append(f"weights must be >= 0 (long-only): {', '.join(negative)}")
    over = sorted(s for s, w in finite.items() if w > cap + 1e-12)
    if over:
        problems.append(f"weights must be <= the cap {cap:g} (QUANT_MAX_WEIGHT): {', '.join(over)}")
    unknown = sorted(set(weights) - set(known))
    if unknown:
        problems.append(
            f"unknown symbol(s) {', '.join(unknown)}: only symbols with features in the online store "
            "can be held"
        )
    # Weights outside [0, cap] can be huge either way (their sum may overflow); the sum means nothing then.
    if not non_finite and not over and not negative:
        total = math.fsum(weights.values())
        if abs(total - 1.0) > tolerance:
            problems.append(f"weights must sum to 1 (tolerance {tolerance:g}); they sum to {total:.10g}")
    return problems


class PortfolioStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _versions(self) -> list[int]:
        if not self.root.exists():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if (m := _VERSION_FILE.match(p.name)))

    def current(self) -> dict | None:
        versions = self._versions()
        return self.get(versions[-1]) if versions else None

    def get(self, version: int) -> dict | None:
        path = self.root / f"v{version:06d}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def history(self) -> list[int]:
        return self._versions()

    def _remove_stale_partials(self) -> None:
        """Temporary files of saves killed before they cleaned up (a live save's is never this old)."""
        cutoff = time.time() - STALE_PARTIAL_SECONDS
        for path in self.root.glob(".*.partial"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                continue

    def save(self, weights: dict[str, float], submitted_by: str, model_version: str) -> dict:
        """Store ``weights`` as the next version and return the stored record."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_partials()
        partial = self.root / f".{uuid.uuid4().hex}.partial"
        try:
            for _ in range(100):
                versions = self._versions()
                version = (versions[-1] if versions else 0) + 1
                record = {
                    "version": version,
                    "weights": dict(sorted(weights.items())),
                    "updated_at": dt.datetime.now(dt.UTC).isoformat(),
                    "submitted_by": submitted_by,
                    "model_version": model_version,
                }
                partial.write_text(json.dumps(record, indent=1))
                try:
                    os.link(partial, self.root / f"v{version:06d}.json")
                except FileExistsError:
                    continue  # another worker took this number; try the next
                return record
            raise RuntimeError("could not allocate a portfolio version after 100 attempts")
        finally:
            partial.unlink(missing_ok=True)
