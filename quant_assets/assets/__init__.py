"""Thin Dagster assets: load, call the core, persist, describe with metadata."""
