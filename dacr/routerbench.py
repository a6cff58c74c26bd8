"""RouterBench tables to dacr's long form.

Three real layouts are understood (see ``dacr/data/routerbench_profile.json``):

* **wide** (``routerbench_0shot.pkl``, ``routerbench_5shot.pkl``): one row per prompt; a score
  column per model named by the bare model id (object dtype holding floats),
  ``<model>|model_response``, ``<model>|total_cost`` and ``oracle_model_to_route_to``.
* **raw** (``routerbench_raw.pkl``): one row per (prompt, model) with ``sample_id, prompt,
  eval_name, performance`` (a numeric string), ``model_response, model_name, cost``.
* **long**: a generic long table (``qid, prompt, domain, model, quality, cost`` and optional
  ``response, latency_s, prompt_tokens, completion_tokens``; :mod:`dacr.generic`): your own
  data, or dacr's own long form fed back in. It is validated strictly: no missing or
  out-of-range value, duplicate pair or incomplete query is dropped or filled in.

The long form has one row per (qid, model): ``qid, prompt, domain, model, response, quality,
cost, eval_name, family, prompt_chars, response_chars`` (plus ``latency_s, prompt_tokens,
completion_tokens`` when the input has them).
"""

from __future__ import annotations

import ast
import contextlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from dacr import __version__
from dacr.generic import GENERIC_OPTIONAL, GENERIC_REQUIRED, generic_to_long
from dacr.io import read_parquet_metadata, read_table, sha256_file, write_parquet
from dacr.profile import family_of

log = logging.getLogger(__name__)

RESPONSE_SUFFIX = "|model_response"
COST_SUFFIX = "|total_cost"
ORACLE_COLUMN = "oracle_model_to_route_to"
SMOKE_EVAL = "test-match"
WIDE_HEAD = ("sample_id", "prompt", "eval_name")
RAW_COLUMNS = (
    "sample_id",
    "prompt",
    "eval_name",
    "performance",
    "model_response",
    "model_name",
    "cost",
)
LONG_REQUIRED = GENERIC_REQUIRED
LONG_COLUMNS = (
    "qid",
    "prompt",
    "domain",
    "model",
    "response",
    "quality",
    "cost",
    "eval_name",
    "family",
    "prompt_chars",
    "response_chars",
)
PASSED_THROUGH = ("latency_s", "prompt_tokens", "completion_tokens")
DOMAIN_LEVELS = ("eval_name", "family")
# DataFrame.attrs key that dacr's synthetic generator sets, so its files are never taken for real.
SYNTHETIC_ATTR = "dacr_dataset"


def detect_schema(df: pd.DataFrame, where: str = "table") -> str:
    """Return ``"wide"``, ``"raw"`` or ``"long"`` for a RouterBench-like table.

    Raises
    ------
    ValueError
        The columns match none of the three layouts; the message lists what each needs.
    """
    cols = set(map(str, df.columns))
    if set(LONG_REQUIRED) <= cols or {"qid", "model"} <= cols:
        return "long"  # a generic table; its validation names what it lacks
    if {"model_name", "performance"} <= cols:
        return "raw"
    if any(c.endswith(RESPONSE_SUFFIX) for c in cols) or ORACLE_COLUMN in cols:
        return "wide"
    raise ValueError(
        f"{where} matches no dataset layout: RouterBench wide needs "
        f"{list(WIDE_HEAD)} + '<model>', '<model>{RESPONSE_SUFFIX}', '<model>{COST_SUFFIX}'; "
        f"raw needs {list(RAW_COLUMNS)}; a generic long table needs {list(LONG_REQUIRED)} "
        f"(optional {list(GENERIC_OPTIONAL)}). "
        f"Found columns: {sorted(cols)[:20]}"
    )


def _require(df: pd.DataFrame, columns: tuple[str, ...] | list[str], layout: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{layout} RouterBench table: missing column(s) {missing}; "
            f"found {list(map(str, df.columns))[:40]}"
        )


_LOOSE_LIST = re.compile(r"^\[(['\"])(.*)\1\]$", re.DOTALL)
_ESCAPE = re.compile(r"\\([\\'\"nt])")
_UNESCAPE = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _parse_loose(value: str) -> str | None:
    """Parse a list repr that Python cannot: RouterBench has reprs with unescaped quotes inside
    (``['Farmer's markets ...']``). Split on the quote-comma-quote separator and undo the
    escapes that the real files use."""
    m = _LOOSE_LIST.match(value)
    if m is None:
        return None
    quote = m.group(1)
    parts = m.group(2).split(f"{quote}, {quote}")
    return "\n".join(_ESCAPE.sub(lambda e: _UNESCAPE[e.group(1)], p) for p in parts)


def _parse_one(value: object) -> object:
    if not isinstance(value, str) or not value.startswith("["):
        return value
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        loose = _parse_loose(value)
        return value if loose is None else loose
    if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
        return "\n".join(parsed)
    return value


def text_codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse list-repr text once per distinct value: (codes per row, distinct parsed texts).

    RouterBench repeats each prompt once per model and short answers (``"['A']"``) often, so
    parsing distinct values and keeping codes avoids materialising repeated strings.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    parsed = np.array([_parse_one(u) for u in uniques], dtype=object)
    # Two raw reprs may parse to the same text; categories are distinct and sorted, so the
    # result does not depend on the input's row order.
    parsed_codes, parsed_uniques = pd.factorize(
        pd.Series(parsed, dtype=object), use_na_sentinel=False, sort=True
    )
    return parsed_codes[codes], np.asarray(parsed_uniques, dtype=object)


def parse_text(values: pd.Series | np.ndarray) -> np.ndarray:
    """Turn string reprs of Python lists (``"['a', 'b']"``) into joined text (``"a\\nb"``).

    A value that is not a list-of-str repr is kept as is. Reprs that Python cannot parse because
    of unescaped quotes (they occur in the real files) are split on the quote-comma-quote
    separator instead.
    """
    codes, texts = text_codes(values)
    return texts[codes]


def _numeric(values: pd.Series, column: str) -> np.ndarray:
    """Convert a score/cost column to float64, naming the column and a bad value on failure."""
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(out) & values.notna().to_numpy()
    if bad.any():
        example = values[bad].iloc[0]
        raise ValueError(
            f"column {column!r}: {int(bad.sum())} value(s) are not numbers, e.g. {example!r}; "
            "expected floats (scores in [0, 1], costs in USD)"
        )
    return out


def _object_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A DataFrame whose text columns stay object arrays of references (no string copies)."""
    return pd.DataFrame(
        {
            k: pd.Series(v, dtype=object) if np.asarray(v).dtype == object else v
            for k, v in columns.items()
        }
    )


def wide_models(df: pd.DataFrame) -> list[str]:
    """Model ids of a wide table: columns that have a score, a response and a cost column."""
    responses = [
        c[: -len(RESPONSE_SUFFIX)] for c in map(str, df.columns) if c.endswith(RESPONSE_SUFFIX)
    ]
    if not responses:
        raise ValueError(f"wide RouterBench table: no '<model>{RESPONSE_SUFFIX}' columns found")
    for m in responses:
        _require(df, [m, m + COST_SUFFIX], "wide")
    return sorted(responses)


def wide_to_long(df: pd.DataFrame) -> pd.DataFrame:
    """Melt a wide 0-shot/5-shot table to one row per (sample, model), vectorised."""
    _require(df, list(WIDE_HEAD), "wide")
    models = wide_models(df)
    n, n_models = len(df), len(models)
    quality = (
        np.column_stack([_numeric(df[m], m) for m in models]) if n else np.empty((0, n_models))
    )
    cost = np.column_stack([_numeric(df[m + COST_SUFFIX], m + COST_SUFFIX) for m in models])
    responses = np.column_stack([df[m + RESPONSE_SUFFIX].to_numpy(dtype=object) for m in models])
    return _object_frame(
        {
            "qid": np.repeat(df["sample_id"].to_numpy(dtype=object), n_models),
            "prompt": np.repeat(df["prompt"].to_numpy(dtype=object), n_models),
            "eval_name": np.repeat(df["eval_name"].to_numpy(dtype=object), n_models),
            "model": np.tile(np.array(models, dtype=object), n),
            "response": responses.reshape(-1),
            "quality": quality.reshape(-1),
            "cost": cost.reshape(-1) if n else np.empty(0),
        }
    )


def raw_to_long(df: pd.DataFrame) -> pd.DataFrame:
    """Rename the raw long layout's columns to dacr's and parse ``performance`` strings."""
    _require(df, list(RAW_COLUMNS), "raw")
    return _object_frame(
        {
            "qid": df["sample_id"].to_numpy(dtype=object),
            "prompt": df["prompt"].to_numpy(dtype=object),
            "eval_name": df["eval_name"].to_numpy(dtype=object),
            "model": df["model_name"].to_numpy(dtype=object),
            "response": df["model_response"].to_numpy(dtype=object),
            "quality": _numeric(df["performance"], "performance"),
            "cost": _numeric(df["cost"], "cost"),
        }
    )


def _drop_smoke_rows(long: pd.DataFrame) -> pd.DataFrame:
    smoke = (long["eval_name"] == SMOKE_EVAL).to_numpy()
    if smoke.any():
        log.info("dropped %d '%s' smoke rows", int(smoke.sum()), SMOKE_EVAL)
        long = long.loc[~smoke]
    return long


def _drop_missing_quality(long: pd.DataFrame) -> pd.DataFrame:
    missing = np.isnan(long["quality"].to_numpy())
    if missing.any():
        per_model = long.loc[missing, "model"].value_counts().to_dict()
        log.warning(
            "dropped %d (qid, model) rows with no score (NaN), per model: %s",
            int(missing.sum()),
            per_model,
        )
        long = long.loc[~missing]
    return long


def _dedupe(long: pd.DataFrame) -> pd.DataFrame:
    key = long.duplicated(["qid", "model"], keep=False).to_numpy()
    if not key.any():
        return long
    dup = long.loc[key]
    exact = dup.duplicated(["qid", "model", "prompt", "response", "quality", "cost"], keep=False)
    if not exact.all():
        bad = dup.loc[~exact.to_numpy(), ["qid", "model"]].drop_duplicates().head(5)
        raise ValueError(
            f"{int((~exact).sum())} duplicate (qid, model) rows disagree, e.g. "
            f"{bad.to_dict('records')}; each (qid, model) must appear once"
        )
    deduped = long.drop_duplicates(["qid", "model"], keep="first")
    log.warning("dropped %d exact duplicate (qid, model) rows", len(long) - len(deduped))
    return deduped


def _check_values(long: pd.DataFrame) -> None:
    q = long["quality"].to_numpy()
    c = long["cost"].to_numpy()
    bad_q = (q < 0) | (q > 1)
    if bad_q.any():
        row = long.loc[bad_q].iloc[0]
        raise ValueError(
            f"quality must lie in [0, 1]; {int(bad_q.sum())} row(s) outside, e.g. "
            f"qid={row['qid']!r} model={row['model']!r} quality={float(row['quality'])}"
        )
    bad_c = ~np.isfinite(c) | (c < 0)
    if bad_c.any():
        row = long.loc[bad_c].iloc[0]
        raise ValueError(
            f"cost must be a finite number >= 0 USD; {int(bad_c.sum())} row(s) are not, e.g. "
            f"qid={row['qid']!r} model={row['model']!r} cost={float(row['cost'])}"
        )
    if long["prompt"].isna().any():
        qid = long.loc[long["prompt"].isna(), "qid"].iloc[0]
        raise ValueError(f"prompt is missing for qid={qid!r}; every query needs its prompt text")


def finalize_long(
    long: pd.DataFrame, domain_level: str = "eval_name", *, routerbench: bool = True
) -> pd.DataFrame:
    """Clean a melted table and add the derived columns of the long form.

    For RouterBench tables, drops ``test-match`` smoke rows and NaN scores (with logged
    counts); for every table, rejects conflicting duplicates, checks value ranges, parses
    list-repr text, adds ``family``, ``domain``, ``prompt_chars`` and ``response_chars``,
    keeps ``latency_s, prompt_tokens, completion_tokens`` when present, and sorts by (qid,
    model).
    """
    if domain_level not in DOMAIN_LEVELS:
        raise ValueError(
            f"domain_level={domain_level!r} is not valid; choose one of {list(DOMAIN_LEVELS)}"
        )
    if long.empty:
        raise ValueError("RouterBench table has no rows")
    if routerbench:
        long = _drop_missing_quality(_drop_smoke_rows(long))
    if long.empty:
        raise ValueError(
            "RouterBench table has no rows left after dropping smoke rows and NaN scores"
        )
    _check_values(long)
    long = _dedupe(long)
    missing_resp = long["response"].isna().to_numpy()
    if missing_resp.any():
        log.warning(
            "%d row(s) have no response text; kept with an empty response", int(missing_resp.sum())
        )
    p_codes, prompts = text_codes(long["prompt"])
    r_codes, responses = text_codes(long["response"].fillna(""))
    q_codes, qids = pd.factorize(long["qid"].astype(str).to_numpy(dtype=object), sort=True)
    m_codes, models = pd.factorize(long["model"].astype(str).to_numpy(dtype=object), sort=True)
    e_codes, evals = pd.factorize(long["eval_name"].astype(str).to_numpy(dtype=object), sort=True)
    f_codes, families = pd.factorize(
        np.array([family_of(e) for e in evals], dtype=object), sort=True
    )
    f_codes = f_codes[e_codes]
    order = np.lexsort((m_codes, q_codes))
    prompt_len = np.fromiter(map(len, prompts), dtype=np.int32, count=len(prompts))
    response_len = np.fromiter(map(len, responses), dtype=np.int32, count=len(responses))

    def cat(codes: np.ndarray, categories: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(codes[order], categories=pd.Index(categories))

    domain_codes, domain_cats = (
        (e_codes, evals) if domain_level == "eval_name" else (f_codes, families)
    )
    extra = {c: long[c].to_numpy(dtype=np.float64)[order] for c in PASSED_THROUGH if c in long}
    return pd.DataFrame(
        {
            "qid": pd.array(np.asarray(qids, dtype=object)[q_codes[order]], dtype="str"),
            "prompt": cat(p_codes, prompts),
            "domain": cat(domain_codes, domain_cats),
            "model": cat(m_codes, models),
            "response": pd.array(responses[r_codes[order]], dtype="str"),
            "quality": long["quality"].to_numpy(dtype=np.float64)[order],
            "cost": long["cost"].to_numpy(dtype=np.float64)[order],
            "eval_name": cat(e_codes, evals),
            "family": cat(f_codes, families),
            "prompt_chars": prompt_len[p_codes[order]],
            "response_chars": response_len[r_codes[order]],
            **extra,
        }
    )


def to_long(
    df: pd.DataFrame, domain_level: str = "eval_name", *, where: str = "dataset table"
) -> pd.DataFrame:
    """Convert any layout (RouterBench wide or raw, or a generic long table) to dacr's long
    form; ``where`` (the file) prefixes every validation error."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    schema = detect_schema(df, where)
    log.info("reading a %s table: %d rows x %d columns", schema, *df.shape)
    if schema == "long":
        return finalize_long(generic_to_long(df, where), domain_level, routerbench=False)
    melt = {"wide": wide_to_long, "raw": raw_to_long}[schema]
    long = finalize_long(melt(df), domain_level=domain_level)
    if long["model"].nunique() < 2:
        raise ValueError(
            f"{where}: only one model ({list(long['model'].unique())}); routing needs two"
        )
    return long


def summarize_long(long: pd.DataFrame) -> str:
    """A short text summary: rows, queries, models and per-domain query counts."""
    per_domain = long.drop_duplicates("qid")["domain"].value_counts().sort_index()
    lines = [
        f"rows={len(long)} qids={long['qid'].nunique()} models={long['model'].nunique()} "
        f"domains={len(per_domain)}",
        "mean quality per model: "
        + ", ".join(
            f"{m}={q:.3f}"
            for m, q in long.groupby("model", observed=True)["quality"].mean().items()
        ),
        "queries per domain: " + ", ".join(f"{d}={n}" for d, n in per_domain.items()),
    ]
    return "\n".join(lines)


def run_long_form(
    input_path: str | Path,
    output_path: str | Path,
    *,
    domain_level: str = "eval_name",
    trust_pickle: bool = False,
    dataset: str = "routerbench",
    source: dict | None = None,
) -> pd.DataFrame:
    """Read a RouterBench file, convert it to the long form and write it as parquet.

    Parameters
    ----------
    input_path
        A ``.pkl`` in any of the three real layouts, or a long ``.parquet``.
    output_path
        Where to write the long-form parquet (zstd, dictionary-encoded strings).
    domain_level
        ``eval_name`` (default) or ``family`` (``mmlu-anatomy`` -> ``mmlu``).
    trust_pickle
        Allow full unpickling (only for trusted local files).
    dataset
        ``routerbench`` or ``synthetic``; a generic long table is ``custom``, a file that
        carries dacr's synthetic marker ``synthetic``, and a parquet written by dacr keeps the
        label in its metadata.
    source
        Provenance of the input (source kind, repo, revision, ...) stored in the metadata.
    """
    input_path = Path(input_path)
    df = read_table(input_path, trust_pickle=trust_pickle)
    if detect_schema(df, str(input_path)) == "long" and dataset == "routerbench":
        dataset = "custom"  # a table of one's own, unless its metadata says otherwise
    if df.attrs.get(SYNTHETIC_ATTR) == "synthetic":
        dataset = "synthetic"
    if input_path.suffix.lower() == ".parquet":
        with contextlib.suppress(ValueError):
            dataset = read_parquet_metadata(input_path).get("dataset", dataset)
    long = to_long(df, domain_level=domain_level, where=str(input_path))
    meta = {
        "dataset": dataset,
        "domain_level": domain_level,
        "input_file": input_path.name,
        "input_sha256": sha256_file(input_path),
        "rows": len(long),
        "qids": int(long["qid"].nunique()),
        "models": sorted(long["model"].cat.categories.tolist()),
        "source": source or {},
        "dacr_version": __version__,
    }
    write_parquet(long, output_path, metadata=meta)
    log.info("wrote %s (%s data)\n%s", output_path, dataset, summarize_long(long))
    return long
