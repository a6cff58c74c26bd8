"""Simulated per-(query, model) latency, and latency logs as matrices.

Model
-----
``latency_s = (t_init_s + out_tokens / speed_tps) * noise * lat_mult`` with per-model
``t_init_s`` and ``speed_tps`` from ``config/latency.yaml`` (a cost-derived fallback for models
not listed), ``out_tokens`` estimated from the RouterBench response text, ``noise`` log-normal
with mean 1 and coefficient of variation ``noise_cv`` (so latency is never negative), and
``lat_mult`` the stream's load multiplier (1 for training queries that are not streamed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dacr.io import read_jsonl, read_parquet, read_parquet_metadata, write_frame_jsonl

log = logging.getLogger(__name__)

TOKEN_METHODS = ("chars", "words", "max", "tiktoken")
IMPUTATIONS = ("none", "model_median")
LATENCY_COLUMNS = ("qid", "model", "latency_s", "out_tokens", "ok")


def _positive(value: object, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not np.isfinite(out) or out <= 0:
        raise ValueError(f"{where}={value!r} must be a number > 0")
    return out


def load_latency_config(path: str | Path) -> dict:
    """Read and check ``config/latency.yaml``: ``models`` and ``fallback`` blocks."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"latency config not found: {path}")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(cfg, dict) or not isinstance(cfg.get("models", {}), dict):
        raise ValueError(f"{path}: expected a mapping with a 'models' mapping")
    unknown = sorted(set(cfg) - {"models", "fallback"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; valid keys: ['fallback', 'models']")
    models = {}
    for model, spec in (cfg.get("models") or {}).items():
        if not isinstance(spec, dict) or set(spec) != {"t_init_s", "speed_tps"}:
            raise ValueError(
                f"{path}: models.{model} must have exactly t_init_s and speed_tps, got {spec!r}"
            )
        models[str(model)] = (
            _positive(spec["t_init_s"], f"{path}: models.{model}.t_init_s"),
            _positive(spec["speed_tps"], f"{path}: models.{model}.speed_tps"),
        )
    fb = cfg.get("fallback") or {}
    fallback = {
        "t_init_s": _positive(fb.get("t_init_s", 0.35), f"{path}: fallback.t_init_s"),
        "speed_tps": _positive(fb.get("speed_tps", 60.0), f"{path}: fallback.speed_tps"),
        "speed_range": tuple(fb.get("speed_range", (8.0, 250.0))),
        "t_init_range": tuple(fb.get("t_init_range", (0.05, 3.0))),
    }
    return {"models": models, "fallback": fallback}


def fallback_params(mean_cost: pd.Series, fallback: dict) -> dict[str, tuple[float, float]]:
    """Cost-derived (t_init_s, speed_tps) per model: dearer models start later and run slower."""
    cost = np.maximum(mean_cost.to_numpy(dtype=float), 1e-12)
    ref = float(np.median(cost))
    speed = np.clip(fallback["speed_tps"] * (ref / cost) ** 0.5, *fallback["speed_range"])
    t_init = np.clip(fallback["t_init_s"] * (cost / ref) ** 0.3, *fallback["t_init_range"])
    return {m: (float(a), float(b)) for m, a, b in zip(mean_cost.index, t_init, speed, strict=True)}


def model_params(
    models: Sequence[str], cfg: dict, mean_cost: pd.Series
) -> dict[str, tuple[float, float]]:
    """(t_init_s, speed_tps) for every model: from the config, else the cost-derived fallback."""
    derived = fallback_params(mean_cost, cfg["fallback"])
    out = {}
    unlisted = []
    for m in models:
        if m in cfg["models"]:
            out[m] = cfg["models"][m]
        else:
            out[m] = derived[m]
            unlisted.append(m)
    if unlisted:
        log.warning("latency parameters derived from mean cost for unlisted models: %s", unlisted)
    return out


def estimate_tokens(
    texts: pd.Series, method: str = "max", chars_per_token: float = 4.0
) -> np.ndarray:
    """Output tokens estimated from response text (at least 1 per response).

    ``chars``: ceil(characters / chars_per_token); ``words``: whitespace-separated words;
    ``max``: the larger of the two; ``tiktoken``: the ``cl100k_base`` tokenizer (needs tiktoken
    and its cached encoding).
    """
    if method not in TOKEN_METHODS:
        raise ValueError(
            f"token_method={method!r} is not valid; choose one of {list(TOKEN_METHODS)}"
        )
    texts = texts.astype(str)
    if method == "tiktoken":
        try:
            import tiktoken
        except ImportError as exc:
            raise ImportError("token_method 'tiktoken' needs the tiktoken package") from exc
        enc = tiktoken.get_encoding("cl100k_base")
        codes, uniques = pd.factorize(texts)
        counts = np.array([len(t) for t in enc.encode_batch(list(uniques))], dtype=np.int64)
        return np.maximum(1, counts[codes])
    chars_per_token = _positive(chars_per_token, "chars_per_token")
    by_chars = np.ceil(texts.str.len().to_numpy(dtype=float) / chars_per_token).astype(np.int64)
    if method == "chars":
        return np.maximum(1, by_chars)
    words = texts.str.count(r"\S+").to_numpy(dtype=np.int64)
    if method == "words":
        return np.maximum(1, words)
    return np.maximum(1, np.maximum(by_chars, words))


def lognormal_noise(n: int, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative noise with mean 1 and coefficient of variation ``cv`` (always > 0)."""
    if cv < 0:
        raise ValueError(f"noise_cv={cv} must be >= 0")
    if cv == 0:
        return np.ones(n)
    sigma2 = np.log1p(cv**2)
    return rng.lognormal(mean=-sigma2 / 2, sigma=np.sqrt(sigma2), size=n)


def simulate_latency(
    pairs: pd.DataFrame,
    params: dict[str, tuple[float, float]],
    *,
    token_method: str = "max",
    chars_per_token: float = 4.0,
    noise_cv: float = 0.1,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Base latency for (qid, model, response) rows; returns qid, model, latency_s, out_tokens."""
    models = pairs["model"].astype(str)
    codes, uniques = pd.factorize(models)
    t_init = np.array([params[m][0] for m in uniques])[codes]
    speed = np.array([params[m][1] for m in uniques])[codes]
    if "completion_tokens" in pairs and pairs["completion_tokens"].notna().all():
        out_tokens = np.maximum(1, pairs["completion_tokens"].to_numpy(dtype=np.int64))
    else:
        out_tokens = estimate_tokens(pairs["response"], token_method, chars_per_token)
    base = (t_init + out_tokens / speed) * lognormal_noise(len(pairs), noise_cv, rng)
    return pd.DataFrame(
        {
            "qid": pairs["qid"].astype(str).to_numpy(),
            "model": models.to_numpy(),
            "latency_s": base,
            "out_tokens": out_tokens,
            "ok": True,
        }
    )


def run_simulate_latency(
    long_path: str | Path,
    stream_path: str | Path,
    split_path: str | Path,
    eff_path: str | Path,
    base_path: str | Path,
    *,
    config_file: str | Path,
    token_method: str = "max",
    chars_per_token: float = 4.0,
    noise_cv: float = 0.1,
    seed: int = 0,
    base_source: str = "tokens",
) -> pd.DataFrame:
    """Rule entry point: latency of every (qid, model) of the stream and of the train split.

    ``base_source="tokens"`` simulates the service time from output tokens (the responses'
    length, or the table's ``completion_tokens``); ``"data"`` takes it from the table's
    ``latency_s`` column (``latency: from_data``). Either way the stream's load multiplier
    scales it.
    """
    from dacr.stream import read_stream

    if base_source not in BASE_SOURCES:
        raise ValueError(f"base_source={base_source!r} is not valid; choose one of {BASE_SOURCES}")
    stream = read_stream(stream_path)
    split = read_parquet(split_path, columns=["qid", "split"])
    mult = stream.groupby("qid", sort=False)["lat_mult"].max()
    wanted = pd.Index(split.loc[split["split"] == "train", "qid"]).union(mult.index)
    long = read_latency_inputs(long_path, base_source)
    pairs = long.loc[long["qid"].isin(wanted)].sort_values(["qid", "model"], kind="stable")
    if base_source == "data":
        base = latency_from_data(pairs, long_path)
    else:
        mean_cost = long.groupby("model", observed=True)["cost"].mean()
        mean_cost.index = mean_cost.index.astype(str)
        cfg = load_latency_config(config_file)
        params = model_params(list(mean_cost.index), cfg, mean_cost)
        base = simulate_latency(
            pairs,
            params,
            token_method=token_method,
            chars_per_token=chars_per_token,
            noise_cv=noise_cv,
            rng=np.random.default_rng([seed, 2]),
        )
    lat_mult = mult.reindex(base["qid"]).fillna(1.0).to_numpy()
    eff = base.assign(latency_s=base["latency_s"].to_numpy() * lat_mult, lat_mult=lat_mult)
    write_frame_jsonl(base, base_path)
    write_frame_jsonl(eff, eff_path)
    log.info(
        "simulated %d (qid, model) latencies for %d queries; base mean %.2f s p95 %.2f s; "
        "effective mean %.2f s p95 %.2f s",
        len(base),
        base["qid"].nunique(),
        base["latency_s"].mean(),
        base["latency_s"].quantile(0.95),
        eff["latency_s"].mean(),
        eff["latency_s"].quantile(0.95),
    )
    return eff


BASE_SOURCES = ("tokens", "data")


def read_latency_inputs(long_path: str | Path, base_source: str) -> pd.DataFrame:
    """The long-form columns the latency needs; checks that the table can provide them."""
    import pyarrow.parquet as pq

    present = set(pq.read_schema(long_path).names)
    origin = read_parquet_metadata(long_path).get("input_file", long_path)
    if base_source == "data":
        if "latency_s" not in present:
            raise ValueError(
                f"latency: from_data, but the dataset ({origin}) has no latency_s column; "
                "add it (seconds per (qid, model)) or use latency: simulated"
            )
        columns = ["qid", "model", "latency_s"]
    else:
        columns = ["qid", "model", "response", "cost"] + [
            c for c in ("completion_tokens",) if c in present
        ]
    long = read_parquet(long_path, columns=columns)
    long["qid"] = long["qid"].astype(str)
    if base_source == "tokens" and "completion_tokens" not in long:
        if (long["response"].astype(str).str.len() == 0).all():
            raise ValueError(
                f"latency: simulated estimates output tokens from the responses, but the "
                f"dataset ({origin}) has neither response text nor completion_tokens; add one, "
                "give latency_s and use latency: from_data, or use latency: none"
            )
    return long


def latency_from_data(pairs: pd.DataFrame, long_path: str | Path) -> pd.DataFrame:
    """Base latency rows from the table's ``latency_s`` (no noise: it was measured)."""
    missing = pairs["latency_s"].isna().to_numpy()
    if missing.any():
        origin = read_parquet_metadata(long_path).get("input_file", long_path)
        examples = pairs.loc[missing, ["qid", "model"]].head(5).to_dict("records")
        raise ValueError(
            f"latency: from_data, but {int(missing.sum())} (qid, model) pairs of the dataset "
            f"({origin}) have no latency_s, e.g. {examples}; every pair needs one"
        )
    return pd.DataFrame(
        {
            "qid": pairs["qid"].to_numpy(),
            "model": pairs["model"].astype(str).to_numpy(),
            "latency_s": pairs["latency_s"].to_numpy(dtype=float),
            "out_tokens": np.nan,  # measured, not simulated from tokens
            "ok": True,
        }
    )


def collapse_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (qid, model): the last ``ok`` row, else the last failed one.

    Measured logs may hold a failed attempt and a later success for the same pair after a
    resumed run; consumers must see each pair once.
    """
    df = df.astype({"qid": str, "model": str}).assign(
        _order=np.arange(len(df)), ok=df["ok"].astype(bool)
    )
    df = df.sort_values(["ok", "_order"], kind="stable")
    last = df.drop_duplicates(["qid", "model"], keep="last").sort_values("_order", kind="stable")
    return last.drop(columns="_order").reset_index(drop=True)


def read_latency_log(path: str | Path) -> pd.DataFrame:
    """Read a latency JSONL (simulated or measured) as one row per (qid, model).

    ``latency_s`` must be a number of seconds >= 0 on every ``ok`` row; errors name the file,
    the column and example rows.
    """
    df = read_jsonl(path, required=("qid", "model", "latency_s", "ok"))
    latency = pd.to_numeric(df["latency_s"], errors="coerce")
    ok = df["ok"].astype(bool)
    bad = ok & (latency.isna() | ~np.isfinite(latency) | (latency < 0))
    if bad.any():
        examples = df.loc[bad, ["qid", "model", "latency_s"]].head(5).to_dict("records")
        raise ValueError(
            f"{path}: column 'latency_s': {int(bad.sum())} ok row(s) are not a number of "
            f"seconds >= 0, e.g. {examples}; write plain numbers (1.45, not '1.45s')"
        )
    return collapse_pairs(df.assign(latency_s=latency.astype(float)))


def latency_matrix(
    qids: Sequence[str],
    models: Sequence[str],
    log_df: pd.DataFrame,
    *,
    impute: str = "none",
    source: str = "latency log",
) -> np.ndarray:
    """A (queries x models) latency matrix from a latency log.

    Missing pairs (absent, or ``ok`` false) are an error naming the count and examples, unless
    ``impute="model_median"`` fills them with the model's median over its ok rows.
    """
    if impute not in IMPUTATIONS:
        raise ValueError(
            f"latency impute={impute!r} is not valid; choose one of {list(IMPUTATIONS)}"
        )
    ok = log_df.loc[log_df["ok"].astype(bool)]
    unknown = sorted(set(ok["model"].astype(str)) - set(map(str, models)))
    if unknown:
        n_rows = int(ok["model"].astype(str).isin(unknown).sum())
        log.warning(
            "%s: %d row(s) name models the dataset lacks, left out: %s", source, n_rows, unknown
        )
    wide = ok.pivot(index="qid", columns="model", values="latency_s")
    mat = wide.reindex(index=pd.Index(qids, dtype=object), columns=list(models)).to_numpy(
        float, copy=True
    )
    missing = np.isnan(mat)
    if missing.any():
        rows, cols = np.nonzero(missing)
        examples = [(qids[r], models[c]) for r, c in zip(rows[:5], cols[:5], strict=True)]
        if impute == "none":
            raise ValueError(
                f"{source}: latency missing for {int(missing.sum())} of {mat.size} (qid, model) "
                f"pairs, e.g. {examples}; rerun the latency step, or set latency_impute: "
                "model_median to fill them with each model's median explicitly"
            )
        medians = ok.groupby("model")["latency_s"].median().reindex(list(models)).to_numpy()
        if np.isnan(medians[cols]).any():
            raise ValueError(f"{source}: some models have no ok latency at all to impute from")
        mat[rows, cols] = medians[cols]
        log.warning("%s: imputed %d missing latencies with model medians", source, len(rows))
    return mat
