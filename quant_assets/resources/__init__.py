"""Dagster resources: the only place the platform touches storage, Feast, MLflow and BentoML."""
