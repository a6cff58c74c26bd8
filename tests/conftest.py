from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def real_csv() -> pd.DataFrame:
    """Seven real rows of routerbench_0shot.pkl, as published (CSV, all 37 columns)."""
    return pd.read_csv(DATA / "routerbench_0shot_7rows.csv")


@pytest.fixture
def real_wide(real_csv: pd.DataFrame) -> pd.DataFrame:
    """The seven rows in the real pickle's dtypes: object score columns, float64 costs."""
    df = real_csv.copy()
    models = [c for c in df.columns if f"{c}|model_response" in df.columns]
    for m in models:
        df[m] = pd.Series([float(v) for v in df[m]], dtype=object)
    for col in df.columns:
        if col not in models and not col.endswith("|total_cost"):
            df[col] = df[col].astype(object)
    return df


def joined(text: str) -> str:
    """What the loader should make of a list-repr cell, computed independently."""
    return "\n".join(ast.literal_eval(text))
