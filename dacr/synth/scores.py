"""Per-(prompt, model) scores, calibrated to the published accuracies."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dacr.profile import eval_counts, family_of, load_profile, model_ids
from dacr.synth.helpers import _sigmoid
from dacr.synth.params import (
    _BETA,
    _CALIB_GROUPS,
    _GAMMA,
    _GSM_EDGE_PROB,
    _MC_FAMILIES,
    _STREAM_SCORES,
)


def _model_vector(values: dict[str, Any]) -> np.ndarray:
    return np.asarray([values[m] for m in model_ids()], dtype=float)


def calibration_targets() -> pd.DataFrame:
    """Expected score per model (columns) on each calibration group (rows).

    ``gsm`` and ``mbpp`` are the profile's accuracies, ``rest`` (MT-Bench, Chinese, other,
    test-match) the overall mean, and ``mc`` is solved from the real counts so that the
    count-weighted mean over all groups equals the overall mean (the profile's estimate,
    unrounded).

    Returns
    -------
    pandas.DataFrame
        Index ``mc, gsm, mbpp, rest``; one column per model id in score-column order.
    """
    acc = load_profile()["accuracy_0shot"]
    overall = _model_vector(acc["overall_mean"])
    gsm = _model_vector(acc["grade-school-math"])
    mbpp = _model_vector(acc["mbpp"])
    counts = eval_counts()
    n_gsm, n_mbpp = counts["grade-school-math"], counts["mbpp"]
    n_mc = sum(n for name, n in counts.items() if family_of(name) in _MC_FAMILIES)
    mc = (overall * (n_mc + n_gsm + n_mbpp) - gsm * n_gsm - mbpp * n_mbpp) / n_mc
    return pd.DataFrame([mc, gsm, mbpp, overall], index=list(_CALIB_GROUPS), columns=model_ids())


def _score_affine(kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected score ``c0 + c1 * p`` of each row's score kind."""
    is_gsm = kind == "gsm"
    c0 = np.where(is_gsm, 0.25 - 0.25 * _GSM_EDGE_PROB, 0.0)
    c1 = np.where(is_gsm, 0.5 + 0.5 * _GSM_EDGE_PROB, 1.0)
    return c0, c1


def _calibrate(
    x: np.ndarray,
    group: np.ndarray,
    c0: np.ndarray,
    c1: np.ndarray,
    targets: np.ndarray,
    max_iter: int = 60,
) -> np.ndarray:
    """Offsets ``a`` (groups, models) with ``mean(c0 + c1 sigmoid(a[group] + x)) == targets``.

    Newton steps on every (group, model) at once, each step clipped to +-2 logits; groups with
    no rows keep offset 0.
    """
    n_groups = targets.shape[0]
    onehot = (group[:, None] == np.arange(n_groups)).astype(float)
    counts = onehot.sum(axis=0)[:, None]
    present = counts > 0
    counts = np.where(present, counts, 1.0)
    a = np.zeros_like(targets)
    for _ in range(max_iter):
        p = _sigmoid(a[group] + x)
        gap = targets - onehot.T @ (c0[:, None] + c1[:, None] * p) / counts
        gap = np.where(present, gap, 0.0)
        if np.max(np.abs(gap)) < 1e-10:
            break
        slope = onehot.T @ (c1[:, None] * p * (1.0 - p)) / counts
        a += np.clip(gap / np.maximum(slope, 1e-12), -2.0, 2.0)
    return a


def _success_probabilities(
    table: pd.DataFrame, ev: np.ndarray, d: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Calibrated ``P(success)`` of every (prompt, model) in score-column order."""
    beta = _model_vector(_BETA)
    gamma = np.array([_GAMMA[m] for m in model_ids()])  # (models, groups)
    x = table["delta"].to_numpy()[ev][:, None] - d[:, None] * beta + z.astype(float) @ gamma.T
    group = table["calib_group"].to_numpy()[ev]
    c0, c1 = _score_affine(table["score_kind"].to_numpy()[ev])
    a = _calibrate(x, group, c0, c1, calibration_targets().to_numpy())
    return _sigmoid(a[group] + x)


def _draw_scores(table: pd.DataFrame, ev: np.ndarray, p: np.ndarray, seed: int) -> np.ndarray:
    """Scores (prompts, models): binary, GSM8K quarter grid, MT-Bench tenths, quarters."""
    rng = np.random.default_rng([seed, _STREAM_SCORES])
    kind = table["score_kind"].to_numpy()[ev]
    scores = (rng.random(p.shape) < p).astype(float)
    second = (rng.random(p.shape) < p).astype(float)
    edge = rng.random(p.shape) < _GSM_EDGE_PROB
    gsm = 0.25 + 0.25 * (scores + second)
    gsm = np.where(edge & (gsm == 0.25), 0.0, np.where(edge & (gsm == 0.75), 1.0, gsm))
    scores = np.where((kind == "gsm")[:, None], gsm, scores)
    for name, trials in (("tenth", 10), ("quarter", 4)):
        rows = np.flatnonzero(kind == name)
        scores[rows] = rng.binomial(trials, p[rows]) / trials
    return scores
