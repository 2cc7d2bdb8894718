"""Metadata helpers shared by assets: row counts, schemas and small markdown previews."""

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 5) -> dict[str, object]:
    schema = TableSchema(columns=[TableColumn(name=str(c), type=str(t)) for c, t in frame.dtypes.items()])
    metadata: dict[str, object] = {
        "dagster/row_count": len(frame),
        "dagster/column_schema": schema,
        "preview": MetadataValue.md(
            frame.head(preview_rows).to_markdown(index=False) if len(frame) else "_empty_"
        ),
    }
    if "symbol" in frame.columns:
        metadata["symbols"] = int(frame["symbol"].nunique())
    if "date" in frame.columns and len(frame):
        metadata["first_date"] = str(pd.Timestamp(frame["date"].min()).date())
        metadata["last_date"] = str(pd.Timestamp(frame["date"].max()).date())
    return metadata


def metrics_table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per model/baseline, one column per metric."""
    frame = pd.DataFrame(rows).T
    return frame.to_markdown(floatfmt=".5f")
