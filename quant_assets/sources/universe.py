"""The universe file: which symbols the platform follows and where each one's bars come from.

Symbols are data, not code: adding a line adds a ticker. Format (YAML)::

    default_source: bundled        # bundled | yahoo | landing (landing zone only)
    symbols:
      - AAPL                       # the default source
      - {symbol: MSFT, source: yahoo}

Files in the landing zone apply to every symbol, whatever its source; a symbol that only ever arrives
through the landing zone needs no entry at all (the landing-zone sensor adds it).
"""

from __future__ import annotations

from pathlib import Path

import yaml

SOURCES = ("bundled", "yahoo", "landing")


def read_universe(path: Path | str) -> dict[str, str]:
    """``{symbol: source}`` in file order; errors name the file and the offending entry."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise ValueError(f"{path}: cannot read the universe file ({error.strerror or error})") from error
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("symbols"), list):
        raise ValueError(f"{path}: expected a mapping with a `symbols:` list")
    default = document.get("default_source", "bundled")
    universe: dict[str, str] = {}
    for position, entry in enumerate(document["symbols"], start=1):
        symbol, source = (
            (entry, default)
            if isinstance(entry, str)
            else (
                (entry.get("symbol"), entry.get("source", default))
                if isinstance(entry, dict)
                else (None, None)
            )
        )
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"{path}: symbols entry {position} ({entry!r}) has no symbol")
        if source not in SOURCES:
            raise ValueError(f"{path}: {symbol}: unknown source {source!r}; use one of {', '.join(SOURCES)}")
        universe[symbol.strip().upper()] = source
    return universe
