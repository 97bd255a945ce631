"""Tables in and out: pandas or polars DataFrames, or file paths, handed to the engine as files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import pandas as pd

#: A table: a pandas or polars DataFrame, or the path of a CSV, TSV, JSON, NDJSON or Parquet file.
TableLike = Union["pd.DataFrame", Any, str, "os.PathLike[str]"]

#: How a DataFrame is named in engine messages that would otherwise name a temporary file.
FRAME_NAME = "<DataFrame>"


def is_polars(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "polars" and hasattr(data, "write_parquet")


def to_file(data: TableLike, folder: Path, stem: str) -> tuple[Path, dict[str, str]]:
    """The file the engine reads for ``data``, and how to name it in messages.

    A path is used as it is. A pandas DataFrame is written as CSV (no extra dependency; the
    engine infers types exactly as it does for a user's own CSV, so predictions for a frame and
    for the file it was read from are the same); a polars DataFrame as Parquet, which polars
    writes natively and which keeps its types.
    """
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        return path, {}
    if isinstance(data, pd.DataFrame):
        if not all(isinstance(c, str) for c in data.columns):
            data = data.rename(columns=str)
        path = folder / f"{stem}.csv"
        data.to_csv(path, index=False)
    elif is_polars(data):
        path = folder / f"{stem}.parquet"
        data.write_parquet(path)
    else:
        raise TypeError(
            f"expected a pandas or polars DataFrame or a file path, got {type(data).__name__}"
        )
    return path, {str(path): FRAME_NAME}


def index_of(data: TableLike) -> "pd.Index | None":
    """The pandas index predictions for ``data`` should carry (its own for a pandas frame)."""
    return data.index if isinstance(data, pd.DataFrame) else None
