"""One place where configuration comes from the environment.

Every path the platform writes lives under ``QUANT_HOME`` (default ``./.quant``) so a run is
repeatable: delete the directory and the next run starts clean. Nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from quant_assets.sources.universe import read_universe

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA_DIR = PROJECT_ROOT / "data" / "sp500_2013_2018"
FEATURE_REPO_DIR = PROJECT_ROOT / "feature_repo"
BENTO_DIR = PROJECT_ROOT / "bentos"
# SPY daily bars (price only, unadjusted): the backtest's market benchmark. See data/benchmarks/SOURCES.md.
SPY_FILE = PROJECT_ROOT / "data" / "benchmarks" / "SPY.csv"

DEFAULT_UNIVERSE_FILE = PROJECT_ROOT / "universe.yaml"
# Risk limits of the trading cycle (see the file's comments and core/limits.py).
DEFAULT_RISK_LIMITS_FILE = PROJECT_ROOT / "risk_limits.yaml"
BROKERS = ("paper", "alpaca")
LABELS = ("return", "rank", "zscore")  # raw forward return, or normalised per date (core.dataset)
# The default universe is data: 20 bundled names listed in universe.yaml (see that file for why).
DEFAULT_UNIVERSE = read_universe(DEFAULT_UNIVERSE_FILE)
DEFAULT_SYMBOLS = tuple(DEFAULT_UNIVERSE)

MODEL_NAME = "quant-assets-xgb"


HOME_MARKER = ".quant-home"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default.resolve()


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    home: Path
    data_dir: Path
    symbols: tuple[str, ...]
    horizon_days: int
    max_weight: float
    extra: dict[str, str] = field(default_factory=dict)
    # symbol -> source (bundled | yahoo | landing); symbols not listed here come from bundled files
    sources: dict[str, str] = field(default_factory=dict)
    landing_uri: str = ""  # a folder or s3://bucket/prefix; empty: <home>/landing
    s3_endpoint_url: str | None = None
    # the YAML file the universe came from; sensors and runs re-read it, so a new line needs no reload
    universe_file: Path | None = None
    feature_set: str = "technical_v1"  # a name in quant_assets.core.feature_sets (QUANT_FEATURE_SET)
    # MLFLOW_TRACKING_URI as it was when the settings were loaded: read once, because mlflow.set_tracking_uri
    # writes that variable, and a later read would follow whichever platform last set it.
    mlflow_uri: str | None = None
    label: str = "return"  # what the model learns (QUANT_LABEL): one of LABELS
    risk_limits_file: Path = DEFAULT_RISK_LIMITS_FILE  # QUANT_RISK_LIMITS
    broker: str = "paper"  # QUANT_BROKER: paper (the platform's own ledger) or alpaca (paper account)
    ledger_url: str | None = None  # QUANT_LEDGER_URL: SQLAlchemy URL; empty: SQLite under home/trading
    environment: dict[str, str] = field(default_factory=dict)  # QUANT_ALERT_* and APCA_* as read at load

    @property
    def landing_zone(self) -> str:
        return self.landing_uri or str(self.home / "landing")

    @property
    def universe(self) -> dict[str, str]:
        """Every configured symbol with its source."""
        return {symbol: self.sources.get(symbol, "bundled") for symbol in self.symbols}

    def ensure_home(self) -> Path:
        """Create the state directory; mark it as ours if it is new (so ``--fresh`` may empty it later)."""
        is_new = not self.home.exists() or not any(self.home.iterdir())
        self.mlflow_dir.mkdir(parents=True, exist_ok=True)
        if is_new:
            (self.home / HOME_MARKER).write_text("state directory of quant-assets; safe to delete\n")
        return self.home

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"

    @property
    def ledger_database_url(self) -> str:
        return self.ledger_url or f"sqlite:///{self.home / 'trading' / 'ledger.db'}"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def load_settings() -> Settings:
    """Read ``QUANT_*`` variables, falling back to the embedded defaults.

    The universe comes from ``QUANT_SYMBOLS`` (comma-separated bundled tickers, or ``all``) if set, else
    from the YAML file ``QUANT_UNIVERSE`` (default: universe.yaml at the project root).
    """
    symbols_env = os.environ.get("QUANT_SYMBOLS", "")
    sources: dict[str, str] = {}
    universe_path: Path | None = None
    if symbols_env.strip().lower() == "all":
        symbols = tuple(sorted(p.name.removesuffix("_data.csv") for p in BUNDLED_DATA_DIR.glob("*_data.csv")))
    elif symbols_env.strip():
        symbols = tuple(s.strip().upper() for s in symbols_env.split(",") if s.strip())
    else:
        universe_path = _env_path("QUANT_UNIVERSE", DEFAULT_UNIVERSE_FILE)
        sources = read_universe(universe_path)
        symbols = tuple(sources)
    horizon = int(os.environ.get("QUANT_HORIZON_DAYS", "5"))
    if horizon < 1:
        raise ValueError(f"QUANT_HORIZON_DAYS must be >= 1 trading day, got {horizon}")
    max_weight = float(os.environ.get("QUANT_MAX_WEIGHT", "0.10"))
    if not 0 < max_weight <= 1:
        raise ValueError(f"QUANT_MAX_WEIGHT must be in (0, 1], got {max_weight}")
    label = os.environ.get("QUANT_LABEL", "return").strip() or "return"
    if label not in LABELS:
        raise ValueError(f"QUANT_LABEL must be one of {', '.join(LABELS)}, got {label!r}")
    broker = os.environ.get("QUANT_BROKER", "paper").strip().lower() or "paper"
    if broker not in BROKERS:
        raise ValueError(f"QUANT_BROKER must be one of {', '.join(BROKERS)}, got {broker!r}")
    return Settings(
        home=_env_path("QUANT_HOME", Path.cwd() / ".quant"),
        data_dir=_env_path("QUANT_DATA_DIR", BUNDLED_DATA_DIR),
        symbols=symbols,
        horizon_days=horizon,
        max_weight=max_weight,
        sources=sources,
        landing_uri=os.environ.get("QUANT_LANDING", ""),
        s3_endpoint_url=os.environ.get("QUANT_S3_ENDPOINT_URL") or None,
        universe_file=universe_path,
        feature_set=os.environ.get("QUANT_FEATURE_SET", "technical_v1").strip() or "technical_v1",
        mlflow_uri=os.environ.get("MLFLOW_TRACKING_URI") or None,
        label=label,
        risk_limits_file=_env_path("QUANT_RISK_LIMITS", DEFAULT_RISK_LIMITS_FILE),
        broker=broker,
        ledger_url=os.environ.get("QUANT_LEDGER_URL") or None,
        environment={
            k: v for k, v in os.environ.items() if k.startswith(("QUANT_ALERT_", "APCA_")) and v.strip()
        },
    )
