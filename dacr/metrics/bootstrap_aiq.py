"""AIQ under the bootstrap: every router's NDCH per resample, at once."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dacr.metrics._common import _require
from dacr.metrics.aiq import SINGLE_PREFIX, ZERO_ROUTER, _cumulative_area
from dacr.metrics.bootstrap import (
    CHUNK_CELLS,
    _check_alpha,
    _layout,
    _percentile_ci,
    _resampled_mean,
    resample_counts,
)


def _batch_ndch(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, ...]:
    """NDCH of many small point sets at once (one per row), by chords.

    For rows of m points (b, m): sorts each row by cost, evaluates the upper hull ``H`` at each
    cost (best of the points at that cost and of every chord strictly spanning it; O(m^3)),
    and the NDCH ``V`` as the running maximum of ``H``. Returns sorted costs, ``V``, and each
    row's first and last NDCH cost (the last cost where ``H`` still equals ``V``).
    """
    order = np.argsort(cost, axis=1, kind="stable")
    xs = np.take_along_axis(cost, order, axis=1)
    ys = np.take_along_axis(quality, order, axis=1)
    same = xs[:, :, None] == xs[:, None, :]
    H = np.where(same, ys[:, None, :], -np.inf).max(axis=2)
    xk, xi, xj = xs[:, :, None, None], xs[:, None, :, None], xs[:, None, None, :]
    yi, yj = ys[:, None, :, None], ys[:, None, None, :]
    spans = (xi < xk) & (xk < xj)
    with np.errstate(invalid="ignore", divide="ignore"):
        chord = yi + (yj - yi) * (xk - xi) / (xj - xi)
    H = np.maximum(H, np.where(spans, chord, -np.inf).max(axis=(2, 3)))
    V = np.maximum.accumulate(H, axis=1)
    on = H == V
    last = np.take_along_axis(xs, (xs.shape[1] - 1 - np.argmax(on[:, ::-1], axis=1))[:, None], 1)
    return xs, V, xs[:, 0], last[:, 0]


def _router_columns(keys: pd.DataFrame) -> dict[str, np.ndarray]:
    """Group indices of each router's curve: λ policies by λ, and the zero router."""
    policy = keys["policy"].astype(str)
    routers = {
        str(p): np.flatnonzero(((policy == p) & keys["lambda_cost"].notna()).to_numpy())
        for p in sorted(policy.loc[keys["lambda_cost"].notna()].unique())
    }
    routers = {
        p: idx[np.argsort(keys["lambda_cost"].to_numpy()[idx])] for p, idx in routers.items()
    }
    single = np.flatnonzero(policy.str.startswith(SINGLE_PREFIX).to_numpy())
    if single.size:
        routers[ZERO_ROUTER] = single
    return routers


def _aiq_from_points(
    cost: np.ndarray,
    quality: np.ndarray,
    routers: Mapping[str, np.ndarray],
    c_min: float | None,
    c_max: float | None,
    max_cells: int,
) -> dict[str, np.ndarray]:
    """AIQ (code and paper) per resample and router from curve points (b, G)."""
    b = cost.shape[0]
    curves = {}
    for name, cols in routers.items():
        step = max(1, max_cells // cols.size**3)
        parts = [
            _batch_ndch(cost[s : s + step][:, cols], quality[s : s + step][:, cols])
            for s in range(0, b, step)
        ]
        curves[name] = tuple(np.concatenate(p) for p in zip(*parts, strict=True))
    lo = np.min([v[2] for v in curves.values()], axis=0) if c_min is None else np.full(b, c_min)
    hi = np.max([v[3] for v in curves.values()], axis=0) if c_max is None else np.full(b, c_max)
    out: dict[str, np.ndarray] = {"c_min": lo, "c_max": hi}
    for name, (xs, V, _, _) in curves.items():
        area_hi = _cumulative_area(xs, V, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{name}/aiq_code"] = np.where(hi > 0, area_hi / hi, np.nan)
            out[f"{name}/aiq_paper"] = np.where(
                hi > lo, (area_hi - _cumulative_area(xs, V, lo)) / (hi - lo), np.nan
            )
    return out


def bootstrap_aiq(
    per_query: pd.DataFrame,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    strata_col: str | None = "domain",
    alpha: float = 0.05,
    c_min: float | None = None,
    c_max: float | None = None,
    chunk_cells: int = CHUNK_CELLS,
) -> pd.DataFrame:
    """AIQ of every router's λ curve (and the zero router) with bootstrap intervals.

    Each resample draws queries jointly for all policies and λ (stratified as in
    :func:`bootstrap_ci`), recomputes every curve point (mean cost, mean quality), the NDCHs,
    the compared set's cost range (unless fixed) and both AIQs.

    Parameters
    ----------
    per_query
        Per-query rows with ``policy, lambda_cost, qid, cost, quality`` and the stratum column.
    rng, n_resamples, strata_col, alpha, chunk_cells
        As in :func:`bootstrap_ci`.
    c_min, c_max
        Fix the cost range; by default it is recomputed from each resample's NDCHs, as
        :func:`aiq_table` does on the full data.

    Returns
    -------
    pandas.DataFrame
        ``router, aiq_code, aiq_code_ci_low, aiq_code_ci_high, aiq_paper, aiq_paper_ci_low,
        aiq_paper_ci_high, c_min, c_max`` (range of the point estimate); the point estimates
        equal :func:`aiq_table` on the full-data curve points.
    """
    _check_alpha(alpha)
    layout = _layout(per_query, ("policy", "lambda_cost"), strata_col)
    _require(per_query, ["cost", "quality"], "per_query")
    routers = _router_columns(layout.keys)
    if not routers:
        raise ValueError(
            "per_query has no policy with a lambda_cost and no single:* policy; no AIQ curve"
        )
    Xc = layout.matrix(per_query["cost"].to_numpy(float))
    Xq = layout.matrix(per_query["quality"].to_numpy(float))
    cells = max(chunk_cells, 1)

    def aiq_of(counts: np.ndarray) -> dict[str, np.ndarray]:
        points = _resampled_mean(counts, Xc), _resampled_mean(counts, Xq)
        return _aiq_from_points(*points, routers, c_min, c_max, cells)

    point = aiq_of(np.ones((1, layout.qids.size)))
    chunks = [
        aiq_of(c) for c in resample_counts(layout.strata, n_resamples, rng, chunk_cells=cells)
    ]
    rows = []
    for name in routers:
        row: dict[str, object] = {"router": name}
        for kind in ("aiq_code", "aiq_paper"):
            boot = np.concatenate([ch[f"{name}/{kind}"] for ch in chunks])
            lo, hi = _percentile_ci(boot[:, None], alpha)
            row |= {
                kind: point[f"{name}/{kind}"][0],
                f"{kind}_ci_low": lo[0],
                f"{kind}_ci_high": hi[0],
            }
        row |= {"c_min": point["c_min"][0], "c_max": point["c_max"][0]}
        rows.append(row)
    return pd.DataFrame(rows)
