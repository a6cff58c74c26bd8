"""Your own data: a generic long table (CSV or parquet) in place of RouterBench.

One row per (query, model)::

    qid, prompt, domain, model, quality, cost          (required)
    response, latency_s, prompt_tokens, completion_tokens   (optional)

Any number of models (at least two), any domains, ``quality`` in [0, 1] (fractional is fine),
``cost`` in USD (>= 0). Every query needs a row for every model, with the same prompt and
domain. A table that breaks a rule is refused with the file, the column, the bad values and
what is valid; nothing is dropped or filled in silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GENERIC_REQUIRED = ("qid", "prompt", "domain", "model", "quality", "cost")
GENERIC_OPTIONAL = ("response", "latency_s", "prompt_tokens", "completion_tokens")
_EXAMPLES = 5


def _fail(where: str, column: str, what: str, bad: pd.DataFrame | list, valid: str) -> None:
    examples = bad.head(_EXAMPLES).to_dict("records") if isinstance(bad, pd.DataFrame) else bad
    raise ValueError(f"{where}: column {column!r}: {what}, e.g. {examples}; {valid}")


def _check_columns(df: pd.DataFrame, where: str) -> None:
    missing = [c for c in GENERIC_REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing}; a dataset table needs "
            f"{list(GENERIC_REQUIRED)} (optional: {list(GENERIC_OPTIONAL)}); found "
            f"{list(map(str, df.columns))[:20]}"
        )


def _check_text(df: pd.DataFrame, where: str) -> None:
    for column in ("qid", "prompt", "domain", "model"):
        values = df[column]
        blank = values.isna() | (values.astype(str).str.strip() == "")
        if blank.any():
            rows = df.loc[blank, ["qid", "model"]].assign(row=np.flatnonzero(blank))
            _fail(where, column, f"{int(blank.sum())} empty value(s)", rows, "every row needs one")


def _number(df: pd.DataFrame, column: str, where: str) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        _fail(
            where,
            column,
            f"{int(bad.sum())} value(s) are not numbers",
            df.loc[bad, ["qid", "model", column]],
            "expected numbers",
        )
    return values.to_numpy(dtype=np.float64)


def _check_range(df, values, column, where, ok, valid: str, allow_nan: bool = False) -> None:
    """Rows whose value fails ``ok`` (or is missing, unless ``allow_nan``) are an error."""
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        bad = ~missing & ~ok(values)
    if not allow_nan:
        bad |= missing
    if bad.any():
        rows = df.loc[bad, ["qid", "model", column]]
        _fail(where, column, f"{int(bad.sum())} bad value(s)", rows, valid)


def _check_values(df: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
    quality = _number(df, "quality", where)
    _check_range(
        df,
        quality,
        "quality",
        where,
        lambda q: (q >= 0) & (q <= 1),
        "quality must be a number in [0, 1] (no missing values)",
    )
    cost = _number(df, "cost", where)
    _check_range(
        df,
        cost,
        "cost",
        where,
        lambda c: np.isfinite(c) & (c >= 0),
        "cost must be a finite number >= 0 (USD; no missing values)",
    )
    out = {"quality": quality, "cost": cost}
    if "latency_s" in df:
        lat = _number(df, "latency_s", where)
        _check_range(
            df,
            lat,
            "latency_s",
            where,
            lambda v: np.isfinite(v) & (v > 0),
            "latency_s must be a finite number > 0 (seconds) or empty",
            allow_nan=True,
        )
        out["latency_s"] = lat
    for column in ("prompt_tokens", "completion_tokens"):
        if column in df:
            tokens = _number(df, column, where)
            _check_range(
                df,
                tokens,
                column,
                where,
                lambda v: (v >= 0) & (v == np.round(v)),
                f"{column} must be a whole number >= 0 or empty",
                allow_nan=True,
            )
            out[column] = tokens
    return out


def _check_keys(df: pd.DataFrame, where: str) -> None:
    dup = df.duplicated(["qid", "model"], keep=False)
    if dup.any():
        _fail(
            where,
            "qid",
            f"{int(dup.sum())} rows repeat a (qid, model) pair",
            df.loc[dup, ["qid", "model"]].drop_duplicates(),
            "each (qid, model) must appear once",
        )
    models = sorted(df["model"].astype(str).unique())
    if len(models) < 2:
        raise ValueError(
            f"{where}: column 'model': only {models} found; routing needs at least two models"
        )
    per_query = df.groupby("qid", sort=True)["model"].nunique()
    short = per_query[per_query < len(models)]
    if len(short):
        have = df.loc[df["qid"].isin(short.index[:_EXAMPLES])].groupby("qid")["model"].agg(set)
        examples = [{"qid": q, "missing": sorted(set(models) - m)} for q, m in have.items()]
        _fail(
            where,
            "model",
            f"{len(short)} queries lack some of the {len(models)} models",
            examples,
            "every query needs a row for every model",
        )
    for column in ("prompt", "domain"):
        varies = df.groupby("qid", sort=True)[column].nunique()
        varies = varies[varies > 1]
        if len(varies):
            _fail(
                where,
                column,
                f"{len(varies)} queries have more than one {column}",
                [{"qid": q} for q in varies.index[:_EXAMPLES]],
                f"a query has one {column}",
            )


def validate_generic(df: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
    """Check a generic table against every rule (module docstring); returns its numeric
    columns as float arrays. Errors name ``where`` (the file), the column and examples."""
    _check_columns(df, where)
    if df.empty:
        raise ValueError(f"{where}: the table has no rows")
    _check_text(df, where)
    numbers = _check_values(df, where)
    _check_keys(df.assign(qid=df["qid"].astype(str), model=df["model"].astype(str)), where)
    return numbers


def generic_to_long(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """A validated generic table as the melted frame :func:`dacr.routerbench.finalize_long`
    takes (the domain doubles as ``eval_name``; a missing response is empty text)."""
    numbers = validate_generic(df, where)
    out = {
        "qid": df["qid"].astype(str).to_numpy(dtype=object),
        "prompt": df["prompt"].astype(str).to_numpy(dtype=object),
        "eval_name": df["domain"].astype(str).to_numpy(dtype=object),
        "model": df["model"].astype(str).to_numpy(dtype=object),
        "response": (
            df["response"].fillna("").astype(str).to_numpy(dtype=object)
            if "response" in df
            else np.full(len(df), "", dtype=object)
        ),
    }
    return pd.DataFrame({**{k: pd.Series(v, dtype=object) for k, v in out.items()}, **numbers})
