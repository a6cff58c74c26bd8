"""The Pareto frontier of (cost, quality) points and each router's distance to it."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from dacr.metrics._common import _require
from dacr.metrics.aiq import _points, ndch


def pareto_frontier(
    df: pd.DataFrame, cost_col: str = "mean_cost", quality_col: str = "mean_quality"
) -> np.ndarray:
    """Mask of the points no other point dominates (cost lower-or-equal, quality
    higher-or-equal, one strictly).

    Parameters
    ----------
    df
        One row per (policy, λ) point, across all policies.
    cost_col, quality_col
        Cost to minimise and quality to maximise.

    Returns
    -------
    numpy.ndarray
        Boolean, aligned with the rows of ``df``. Exact duplicates of a frontier point are all
        on the frontier.
    """
    _require(df, [cost_col, quality_col], "pareto_frontier")
    c, q = _points(df[cost_col], df[quality_col], f"columns {cost_col}/{quality_col}")
    order = np.lexsort((-q, c))
    cs, qs = c[order], q[order]
    first = np.r_[True, cs[1:] != cs[:-1]]
    group = np.cumsum(first) - 1
    best_at_cost = qs[first]  # quality sorted descending within a cost
    cheaper_best = np.r_[-np.inf, np.maximum.accumulate(best_at_cost)[:-1]]
    dominated = (cheaper_best[group] >= qs) | (best_at_cost[group] > qs)
    mask = np.empty(c.size, dtype=bool)
    mask[order] = ~dominated
    return mask


def frontier_distance(
    df: pd.DataFrame,
    cost_col: str = "mean_cost",
    quality_col: str = "mean_quality",
    *,
    reference: Literal["hull", "staircase"] = "hull",
) -> np.ndarray:
    """Quality gap from each point up to the frontier at the same cost.

    Parameters
    ----------
    df, cost_col, quality_col
        As in :func:`pareto_frontier`.
    reference
        ``hull`` (default): the NDCH of the frontier points, interpolated linearly and flat
        beyond the most expensive one -- the quality reachable by mixing two frontier
        configurations. Frontier vertices and points on hull segments get 0; a Pareto point in
        a non-convex dent gets the (positive) gap a mixture would close. ``staircase``: the
        best quality at cost <= c, which is exactly 0 on every Pareto point.

    Returns
    -------
    numpy.ndarray
        Non-negative gaps (quality units), aligned with the rows of ``df``.
    """
    _require(df, [cost_col, quality_col], "frontier_distance")
    c, q = _points(df[cost_col], df[quality_col], f"columns {cost_col}/{quality_col}")
    if reference == "hull":
        on = pareto_frontier(df, cost_col, quality_col)
        ch, qh = ndch(c[on], q[on], name="frontier")
        ref = np.interp(c, ch, qh)
    elif reference == "staircase":
        order = np.argsort(c, kind="stable")
        best = np.maximum.accumulate(q[order])
        # the best quality among all points with cost <= c, ties included
        ref = best[np.searchsorted(c[order], c, side="right") - 1]
    else:
        raise ValueError(f"reference = {reference!r}; choose 'hull' or 'staircase'")
    return np.maximum(ref - q, 0.0)
