"""Costs, oracle labels, and the wide and raw tables in RouterBench's formats."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.profile import load_profile, model_ids, prices_per_1m
from dacr.routerbench import SYNTHETIC_ATTR
from dacr.synth.evals import (
    _check_families,
    _draw_latents,
    _draw_rows,
    _eval_table,
    _sample_ids,
    allocate_eval_counts,
)
from dacr.synth.helpers import _obj
from dacr.synth.params import FORMATS
from dacr.synth.prompts import _draw_prompts
from dacr.synth.responses import _draw_responses
from dacr.synth.scores import _draw_scores, _success_probabilities

logger = logging.getLogger(__name__)


def query_costs(prompt_tokens: np.ndarray, response_tokens: np.ndarray) -> np.ndarray:
    """USD cost of every (prompt, model), models in score-column order.

    Parameters
    ----------
    prompt_tokens : numpy.ndarray
        Shape (n,), tokens of each prompt (shared by all models).
    response_tokens : numpy.ndarray
        Shape (n, models), tokens of each response.

    Returns
    -------
    numpy.ndarray
        ``(prompt_tokens * price_in + response_tokens * price_out) / 1e6``, float64.
    """
    prices = prices_per_1m()
    price_in = np.array([prices[m][0] for m in model_ids()])
    price_out = np.array([prices[m][1] for m in model_ids()])
    return (prompt_tokens[:, None] * price_in + response_tokens * price_out) / 1e6


def oracle_labels(scores: np.ndarray, cost_usd: np.ndarray) -> np.ndarray:
    """The real file's ``oracle_model_to_route_to`` rule.

    Parameters
    ----------
    scores, cost_usd : numpy.ndarray
        Shape (n, models), models in score-column order.

    Returns
    -------
    numpy.ndarray
        Object array: among the models with the row's maximum score, the cheapest (first in
        score-column order on a cost tie); ``no_model_correct`` where the maximum is not > 0.
    """
    best = scores.max(axis=1)
    cost_if_best = np.where(scores == best[:, None], cost_usd, np.inf)
    choice = _obj(model_ids())[np.argmin(cost_if_best, axis=1)]
    label = load_profile()["wide_columns_0shot"]["oracle_extra_label"]
    return np.where(best > 0, choice, label).astype(object)


def _assemble_wide(
    sample_id: np.ndarray,
    prompts: np.ndarray,
    eval_name: np.ndarray,
    scores: np.ndarray,
    responses: np.ndarray,
    cost_usd: np.ndarray,
    oracle: np.ndarray,
) -> pd.DataFrame:
    """The 37 columns in the real order and dtypes (object strings, object floats, float64)."""
    layout = load_profile()["wide_columns_0shot"]
    models = model_ids()
    col = {m: j for j, m in enumerate(models)}
    data: dict[str, pd.Series] = {
        "sample_id": pd.Series(sample_id, dtype=object),
        "prompt": pd.Series(prompts, dtype=object),
        "eval_name": pd.Series(eval_name, dtype=object),
    }
    for m in layout["score_cols"]:
        data[m] = pd.Series(scores[:, col[m]].astype(object), dtype=object)
    order = layout["response_and_cost_model_order"]
    for m in order:
        data[m + layout["response_suffix"]] = pd.Series(responses[:, col[m]], dtype=object)
    for m in order:
        data[m + layout["cost_suffix"]] = pd.Series(cost_usd[:, col[m]], dtype=np.float64)
    data[layout["tail"][0]] = pd.Series(oracle, dtype=object)
    return _object_columns(pd.DataFrame(data))


def _object_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Object-dtype column labels, as in the real files.

    pandas >= 3 would store string labels as an Arrow-backed ``str`` index, whose pickle needs
    pyarrow globals that a restricted unpickler of the real layout does not allow.
    """
    frame.columns = pd.Index(list(frame.columns), dtype=object)
    return frame


def generate_wide(n_prompts: int, seed: int, families: Sequence[str] | None = None) -> pd.DataFrame:
    """A synthetic RouterBench in the real 0-shot wide layout.

    Parameters
    ----------
    n_prompts : int
        Number of rows; 36497 with all families reproduces the real eval counts.
    seed : int
        Non-negative seed; every random draw derives from ``default_rng([seed, stream])``.
    families : sequence of str, optional
        Keep only these families (see :func:`valid_families`); ``test-match`` smoke rows appear
        only when it is selected (``None`` selects all).

    Returns
    -------
    pandas.DataFrame
        37 columns in the real order: ``sample_id, prompt, eval_name``, 11 score columns
        (object dtype holding floats), 11 ``|model_response`` and 11 ``|total_cost`` columns,
        ``oracle_model_to_route_to``; RangeIndex. See the module docstring for the model.

    Raises
    ------
    ValueError
        On an unknown family, ``n_prompts < 1`` or a negative seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    alloc = allocate_eval_counts(n_prompts, families)
    table = _eval_table(int(seed))
    ev = _draw_rows(table, alloc, seed)
    d, z = _draw_latents(table, ev, seed)
    prompts, prompt_tokens = _draw_prompts(table, ev, d, z, seed)
    scores = _draw_scores(table, ev, _success_probabilities(table, ev, d, z), seed)
    responses, response_tokens = _draw_responses(table, ev, scores, seed)
    cost_usd = query_costs(prompt_tokens, response_tokens)
    return _assemble_wide(
        _sample_ids(table, ev),
        prompts,
        table["eval_name"].to_numpy(dtype=object)[ev],
        scores,
        responses,
        cost_usd,
        oracle_labels(scores, cost_usd),
    )


def wide_to_raw(wide: pd.DataFrame) -> pd.DataFrame:
    """Convert the wide 0-shot layout to the long layout of ``routerbench_raw.pkl``.

    Parameters
    ----------
    wide : pandas.DataFrame
        A frame with the real wide columns (``sample_id, prompt, eval_name``, the score,
        ``|model_response`` and ``|total_cost`` columns).

    Returns
    -------
    pandas.DataFrame
        Columns ``index, sample_id, prompt, eval_name, performance, model_response, model_name,
        cost``; one row per (sample, model), samples in the wide order and models in score-column
        order; ``index`` int64 ``0..N-1``; ``performance`` a numeric string such as ``'0.75'``.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    layout = load_profile()["wide_columns_0shot"]
    models = list(layout["score_cols"])
    resp_cols = [m + layout["response_suffix"] for m in models]
    cost_cols = [m + layout["cost_suffix"] for m in models]
    missing = [c for c in [*layout["head"], *models, *resp_cols, *cost_cols] if c not in wide]
    if missing:
        raise ValueError(f"wide frame: missing columns {missing}; expected the 0-shot layout")
    n, n_models = len(wide), len(models)
    performance = wide[models].to_numpy(dtype=np.float64).ravel()

    def per_sample(col: str) -> np.ndarray:
        return np.repeat(wide[col].to_numpy(dtype=object), n_models)

    data = {
        "index": pd.Series(np.arange(n * n_models, dtype=np.int64)),
        "sample_id": pd.Series(per_sample("sample_id"), dtype=object),
        "prompt": pd.Series(per_sample("prompt"), dtype=object),
        "eval_name": pd.Series(per_sample("eval_name"), dtype=object),
        "performance": pd.Series(performance).astype(str).astype(object),
        "model_response": pd.Series(wide[resp_cols].to_numpy(dtype=object).ravel(), dtype=object),
        "model_name": pd.Series(np.tile(_obj(models), n), dtype=object),
        "cost": pd.Series(wide[cost_cols].to_numpy(dtype=np.float64).ravel()),
    }
    return _object_columns(pd.DataFrame(data))


def write_synthetic(
    path: str | Path,
    n_prompts: int,
    seed: int,
    fmt: str = "wide",
    families: Sequence[str] | None = None,
) -> Path:
    """Write a synthetic RouterBench pickle (protocol 5) in the wide or long layout.

    The frame goes to a hidden temporary file in the target directory that is then renamed over
    ``path``, so a crash never leaves a partial file under the final name.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file; its extension selects pandas' compression as in ``DataFrame.to_pickle``.
    n_prompts, seed, families
        As in :func:`generate_wide`.
    fmt : {"wide", "long"}
        ``wide``: the 0-shot layout; ``long``: the raw layout (:func:`wide_to_raw`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On an unknown ``fmt`` (before any work) or invalid generation parameters.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt: unknown format {fmt!r}; valid formats are {', '.join(FORMATS)}")
    path = Path(path)
    wide = generate_wide(n_prompts, seed, families)
    frame = wide if fmt == "wide" else wide_to_raw(wide)
    # Marks the file as synthetic, so the loader never labels results made from it RouterBench.
    frame.attrs[SYNTHETIC_ATTR] = "synthetic"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same name ending as the target, so pandas infers the same compression.
    tmp = path.with_name(f".{os.getpid()}.tmp.{path.name}")
    try:
        frame.to_pickle(tmp, protocol=5)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info(
        "synthetic RouterBench: %d prompts, %d rows (%s), seed %d, families %s -> %s",
        len(wide),
        len(frame),
        fmt,
        seed,
        "all" if families is None else ",".join(_check_families(families)),
        path,
    )
    return path
