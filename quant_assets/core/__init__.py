"""The pure domain core: pandas/numpy in, pandas/numpy out.

Nothing in this package imports an orchestrator, a feature store, a tracker or a server, so every
function here can be unit-tested and reused from a notebook, a CLI or a Dagster asset alike.
"""
