"""Paired comparisons between policies: paired bootstrap differences and Holm's correction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dacr.metrics._common import _require
from dacr.metrics.bootstrap import (
    CHUNK_CELLS,
    _check_alpha,
    _layout,
    _percentile_ci,
    resample_counts,
)


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control).

    Parameters
    ----------
    pvalues
        Raw p-values in [0, 1]; NaN entries stay NaN and are not counted in the family.

    Returns
    -------
    numpy.ndarray
        ``p_(i) * (m - i + 1)`` made monotone by a running maximum, capped at 1, in input order.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    ok = ~np.isnan(p)
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        bad = p[ok][(p[ok] < 0) | (p[ok] > 1)][0]
        raise ValueError(f"p-value {bad} is outside [0, 1]")
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    m = order.size
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def _pairs(keys: pd.DataFrame, target: str, baselines: Sequence[str]) -> list[tuple[int, int]]:
    """(target group, baseline group) index pairs: same λ when both sweep λ, else all λ."""
    policy = keys["policy"].astype(str).to_numpy()
    lam = keys["lambda_cost"].to_numpy(float)
    t_idx = np.flatnonzero(policy == target)
    pairs = []
    for base in baselines:
        b_idx = np.flatnonzero(policy == base)
        t_has, b_has = ~np.isnan(lam[t_idx]).all(), ~np.isnan(lam[b_idx]).all()
        for t in t_idx:
            for b in b_idx:
                if t_has and b_has and lam[t] != lam[b]:
                    continue
                pairs.append((int(t), int(b)))
    return pairs


def paired_bootstrap(
    per_query: pd.DataFrame,
    target: str = "dacr",
    baselines: Sequence[str] | None = None,
    metric: str | Sequence[str] = "quality",
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    strata_col: str | None = "domain",
    alpha: float = 0.05,
    chunk_cells: int = CHUNK_CELLS,
) -> pd.DataFrame:
    """Paired differences of means, target minus baseline, on the same queries.

    Pairs: at each λ both policies have when both sweep λ; every target λ against a λ-free
    baseline (and a λ-free target against every baseline λ). The difference is the mean over
    queries of ``target - baseline`` (joined on qid), resampled with stratified query
    resamples shared by all pairs.

    Parameters
    ----------
    per_query
        Per-query rows with ``policy, lambda_cost, qid``, the stratum and metric columns.
    target
        Policy under test.
    baselines
        Policies to compare against; default all other policies.
    metric
        Per-query column(s) to compare (``quality``, ``cost``, ``slo_violation``, ...).
    rng, n_resamples, strata_col, alpha, chunk_cells
        As in :func:`bootstrap_ci`.

    Returns
    -------
    pandas.DataFrame
        ``target, target_lambda, baseline, baseline_lambda, metric, diff, ci_low, ci_high,
        p_value, p_holm``. ``p_value`` is the two-sided bootstrap p-value
        ``min(1, 2 * min((#{d* <= 0} + 1) / (B + 1), (#{d* >= 0} + 1) / (B + 1)))`` (it falls
        below alpha about when the percentile interval excludes 0); ``p_holm`` adjusts over all
        rows of one metric.

    Raises
    ------
    ValueError
        If a policy is unknown, or a pair lacks the metric on some query (e.g. latency off).
    """
    _check_alpha(alpha)
    metrics = [metric] if isinstance(metric, str) else list(metric)
    _require(per_query, ["policy", "lambda_cost", *metrics], "per_query")
    layout = _layout(per_query, ("policy", "lambda_cost"), strata_col)
    known = sorted(layout.keys["policy"].astype(str).unique())
    if target not in known:
        raise ValueError(f"target policy {target!r} is not in per_query; policies: {known}")
    baselines = [p for p in known if p != target] if baselines is None else list(baselines)
    unknown = [b for b in baselines if b not in known or b == target]
    if unknown:
        raise ValueError(f"baselines {unknown} are unknown or equal the target; policies: {known}")
    pairs = _pairs(layout.keys, target, baselines)
    if not pairs:
        raise ValueError(f"no (target, baseline) pair shares a λ for target {target!r}")
    t_idx = np.array([t for t, _ in pairs])
    b_idx = np.array([b for _, b in pairs])
    D = np.concatenate(
        [_differences(per_query, layout, col, t_idx, b_idx, target) for col in metrics], axis=1
    )  # (n, metrics x pairs)
    n = layout.qids.size
    boot = np.concatenate(
        [
            c @ D / n
            for c in resample_counts(layout.strata, n_resamples, rng, chunk_cells=chunk_cells)
        ]
    )
    lo, hi = _percentile_ci(boot, alpha)
    keys = layout.keys
    out = pd.DataFrame(
        {
            "target": target,
            "target_lambda": np.tile(keys["lambda_cost"].to_numpy(float)[t_idx], len(metrics)),
            "baseline": np.tile(keys["policy"].astype(str).to_numpy()[b_idx], len(metrics)),
            "baseline_lambda": np.tile(keys["lambda_cost"].to_numpy(float)[b_idx], len(metrics)),
            "metric": np.repeat(metrics, len(pairs)),
            "diff": D.mean(axis=0),
            "ci_low": lo,
            "ci_high": hi,
            "p_value": _bootstrap_p(boot),
        }
    )
    out["p_holm"] = out.groupby("metric", sort=False)["p_value"].transform(
        lambda p: holm(p.to_numpy())
    )
    return out


def _differences(per_query, layout, col, t_idx, b_idx, target) -> np.ndarray:
    """Per-query ``target - baseline`` of one metric for every pair (queries x pairs); an error
    names the pair when a query lacks the value."""
    X = layout.matrix(per_query[col].to_numpy(float))
    d = X[:, t_idx] - X[:, b_idx]
    missing = np.isnan(d).sum(axis=0)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"metric {col!r}: {int(missing[k])} of {d.shape[0]} queries lack a value for "
            f"{target!r} vs {layout.keys['policy'].iloc[b_idx[k]]!r} "
            f"(λ {layout.keys['lambda_cost'].iloc[t_idx[k]]}); a paired comparison needs "
            "both values on every query (is latency off, or a policy missing queries?)"
        )
    return d


def _bootstrap_p(boot: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-values of zero difference, per column of resampled means."""
    B = boot.shape[0]
    below = ((boot <= 0).sum(axis=0) + 1) / (B + 1)
    above = ((boot >= 0).sum(axis=0) + 1) / (B + 1)
    return np.minimum(1.0, 2 * np.minimum(below, above))
