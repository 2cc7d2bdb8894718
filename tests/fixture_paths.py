"""Paths of shared test fixture files (importable from any test folder: ``pythonpath = ["tests"]``)."""

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
# The trading cycle's limits for universes of a few names capped at 50 % (the default file asks for 5
# names of at most 10 %: its checks would block these tests' cycles, as they should).
SMALL_UNIVERSE_LIMITS = FIXTURES / "risk_limits_small_universe.yaml"
