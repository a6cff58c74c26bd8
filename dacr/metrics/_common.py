"""Checks shared by the metrics modules."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: missing columns {missing}; it has {list(df.columns)}")
