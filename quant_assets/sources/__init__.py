"""Market-data sources. Each returns raw long OHLCV (symbol, date, open, high, low, close, volume)."""
