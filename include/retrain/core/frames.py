"""DataFrame <-> bytes codecs for landing batches and run artifacts.

Parquet is written deterministically (no pandas index, fixed compression) so the same frame
always has the same bytes and content hash: a re-run reproduces identical objects.
"""

from __future__ import annotations

import io

import pandas as pd

from retrain.errors import MissingInputError


def to_bytes(df: pd.DataFrame, fmt: str = "parquet") -> bytes:
    buf = io.BytesIO()
    if fmt == "parquet":
        df.to_parquet(buf, index=False, compression="snappy")
    elif fmt == "csv":
        df.to_csv(buf, index=False)
    else:
        raise ValueError(f"unsupported format {fmt!r}")
    return buf.getvalue()


def from_bytes(data: bytes, fmt: str = "parquet", name: str = "object") -> pd.DataFrame:
    """Parse a batch; an unreadable one is a MissingInputError naming it (never an empty frame)."""
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # broad ok: parses bytes already in memory (no storage); pyarrow/pandas raise many types
        raise MissingInputError(f"{name} is not readable as {fmt}: {exc}") from exc
    raise ValueError(f"unsupported format {fmt!r}")
