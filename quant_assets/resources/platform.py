"""Run-wide knobs of the pipeline (universe, horizon, limits), set from the environment by definitions."""

from dagster import ConfigurableResource

from quant_assets.sources.universe import read_universe


class PlatformConfig(ConfigurableResource):
    data_dir: str
    symbols: list[str]
    symbol_sources: dict[str, str] = {}  # symbol -> bundled | yahoo | landing; unlisted: bundled
    universe_file: str | None = None  # when set, read on every use: a new line counts without a reload
    horizon_days: int = 5
    max_weight: float = 0.10
    valid_fraction: float = 0.2
    seed: int = 42
    drift_tolerance: float = 0.10
    drift_window_days: int = 60
    feature_set: str = "technical_v1"  # what technical_features computes (core.feature_sets)
    label: str = "return"  # what the model learns: return, or rank / zscore per date (core.dataset)
    benchmark_file: str | None = None  # SPY bars for the backtest's market benchmark (None: left out)

    @property
    def universe(self) -> dict[str, str]:
        """``{symbol: source}``: the universe file as it is now, else the symbols given at load time."""
        if self.universe_file:
            return read_universe(self.universe_file)
        return {symbol: self.symbol_sources.get(symbol, "bundled") for symbol in self.symbols}
