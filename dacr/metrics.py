"""Router metrics: NDCH and AIQ, RouteLLM's APGR and CPT, the Pareto frontier, reliability
curves, and query-level bootstrap intervals and paired tests.

AIQ conventions
---------------
A router's λ sweep gives points (mean cost, mean quality). Its non-decreasing convex hull
(NDCH, :func:`ndch`) is the upper concave hull of the points, cut where it starts to fall. The
curve ``R(c)`` used for areas is

* 0 below the router's cheapest NDCH point (a router cannot run cheaper than its cheapest
  configuration, and RouterBench's code starts its trapezoid there),
* the NDCH, linearly interpolated, between its first and last point,
* flat at the NDCH's last (highest) quality above its last point.

``aiq_code`` is RouterBench's code (``calc_AIQ``): ``∫_0^{c_max} R(c) dc / c_max``, with
``c_max`` the largest NDCH cost over the compared set. ``aiq_paper`` is the paper's formula:
``∫_{c_min}^{c_max} R(c) dc / (c_max - c_min)``, with ``c_min`` the smallest NDCH cost over the
compared set. With the default range every router starts at or above ``c_min``, so both are the
same area and differ only in the normaliser: ``aiq_paper = aiq_code * c_max / (c_max - c_min)``.

Bootstrap
---------
Queries are resampled with replacement within each stratum (domain), keeping stratum sizes;
one resample draws one set of queries for every policy and λ at once, so intervals of different
policies are comparable and paired. A resample is stored as a count matrix (resamples x
queries), so means are one matrix product; quantiles use cumulative counts over the sorted
values. Resamples are drawn in chunks to bound memory; each stratum draws from its own child
generator, so the resamples do not depend on the chunk size.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ZERO_ROUTER = "zero_router"
SINGLE_PREFIX = "single:"
#: Cells (resamples x queries) per bootstrap chunk: 2**22 float64 cells are 32 MiB.
CHUNK_CELLS = 1 << 22
#: Relative tolerance of the collinearity test in :func:`ndch`.
_COLLINEAR_RTOL = 1e-12


# --------------------------------------------------------------------------------------------
# Points, NDCH and AIQ
# --------------------------------------------------------------------------------------------


def _points(cost, quality, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D float copies of (cost, quality)."""
    c = np.asarray(cost, dtype=float).ravel()
    q = np.asarray(quality, dtype=float).ravel()
    if c.shape != q.shape:
        raise ValueError(f"{name}: cost has {c.size} values but quality has {q.size}")
    if c.size == 0:
        raise ValueError(f"{name}: no points; a curve needs at least one (cost, quality) point")
    for label, v in (("cost", c), ("quality", q)):
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name}: {label}[{i}] = {v[i]} ({int(bad.sum())} non-finite values); "
                "every point needs a finite cost and quality"
            )
    return c, q


def ndch(cost, quality, *, name: str = "points") -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing convex hull of (cost, quality) points.

    The upper hull by Andrew's monotone chain (O(n log n) for the sort, O(n) for the chain),
    cut after its highest point: points below a chord, points lower than a cheaper hull point
    and collinear points are dropped; of points with equal cost only the best counts.

    Parameters
    ----------
    cost, quality
        One value per point (e.g. a router's mean cost and quality at each λ).
    name
        Used in error messages.

    Returns
    -------
    cost_h, quality_h
        Hull vertices sorted by cost; ``quality_h`` is non-decreasing. A flat top segment keeps
        both of its ends, so the last vertex is the most expensive point of best quality.

    Raises
    ------
    ValueError
        If there are no points, the lengths differ or a value is NaN or infinite.
    """
    c, q = _points(cost, quality, name)
    order = np.lexsort((q, c))
    c, q = c[order], q[order]
    best = np.r_[c[1:] != c[:-1], True]  # last of each cost, i.e. its best quality
    c, q = c[best], q[best]
    hull: list[int] = []
    for k in range(c.size):  # sequential by nature: each point may pop earlier ones
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            left = (c[a] - c[o]) * (q[k] - q[o])
            right = (q[a] - q[o]) * (c[k] - c[o])
            # clockwise turn: a stays on the upper hull. The tolerance treats points collinear
            # up to rounding (e.g. 0.2, 0.4, 0.6 at costs 1, 1.5, 2) as collinear.
            if left - right < -_COLLINEAR_RTOL * (abs(left) + abs(right)):
                break
            hull.pop()  # a is below or on the chord o-k
        hull.append(k)
    ch, qh = c[hull], q[hull]
    falls = np.flatnonzero(qh[1:] < qh[:-1])
    end = falls[0] + 1 if falls.size else qh.size
    return ch[:end], qh[:end]


def _cumulative_area(xs: np.ndarray, ys: np.ndarray, t: np.ndarray) -> np.ndarray:
    """∫_{-inf}^{t} of the curves (xs[b], ys[b]), zero before xs[b, 0], flat after the end.

    ``xs`` (b, m) sorted per row (ties allowed), ``ys`` (b, m), ``t`` (b,).
    """
    b, m = xs.shape
    rows = np.arange(b)
    widths = np.diff(xs, axis=1)
    trap = widths * (ys[:, 1:] + ys[:, :-1]) / 2
    nodes = np.concatenate([np.zeros((b, 1)), np.cumsum(trap, axis=1)], axis=1)
    k = (xs <= t[:, None]).sum(axis=1) - 1
    kk = np.clip(k, 0, m - 1)
    k1 = np.minimum(kk + 1, m - 1)
    x0, y0, a0 = xs[rows, kk], ys[rows, kk], nodes[rows, kk]
    x1, y1 = xs[rows, k1], ys[rows, k1]
    inside = k1 > kk  # t lies within a segment of positive width (x1 > t >= x0)
    with np.errstate(divide="ignore", invalid="ignore"):
        yt = np.where(inside, y0 + (y1 - y0) * (t - x0) / (x1 - x0), y0)
    area = a0 + (t - x0) * (y0 + yt) / 2
    return np.where(k < 0, 0.0, area)


def _area(cost_h: np.ndarray, quality_h: np.ndarray, lo: float, hi: float) -> float:
    """∫_lo^hi R(c) dc for one NDCH (zero before its first point, flat after its last)."""
    xs = np.repeat(cost_h[None, :], 2, axis=0)
    ys = np.repeat(quality_h[None, :], 2, axis=0)
    a_lo, a_hi = _cumulative_area(xs, ys, np.array([lo, hi], dtype=float))
    return float(a_hi - a_lo)


def _check_range(c_min: float | None, c_max: float, what: str) -> None:
    if not np.isfinite(c_max) or c_max <= 0:
        raise ValueError(f"{what}: c_max = {c_max}; the cost range needs a finite c_max > 0")
    if c_min is not None and (not np.isfinite(c_min) or c_min >= c_max):
        raise ValueError(
            f"{what}: c_min = {c_min} with c_max = {c_max}; the paper's AIQ needs "
            "c_min < c_max (a single cost over the whole compared set has no area)"
        )


def aiq_code(cost, quality, c_max: float | None = None, *, name: str = "router") -> float:
    """AIQ as RouterBench's code computes it: ``∫_0^{c_max} R(c) dc / c_max``.

    ``R`` is zero below the router's cheapest NDCH point, the NDCH, then flat at its last
    quality up to ``c_max`` (see the module docstring).

    Parameters
    ----------
    cost, quality
        The router's points over its λ sweep (raw; the NDCH is taken here).
    c_max
        Largest cost of the compared set (RouterBench: the largest NDCH cost over all compared
        routers); defaults to this router's own last NDCH cost. A ``c_max`` below the router's
        last NDCH cost truncates the curve there.
    name
        Used in error messages.

    Returns
    -------
    float
        Quality-weighted fraction of [0, c_max]; at most the router's best quality.
    """
    ch, qh = ndch(cost, quality, name=name)
    c_max = float(ch[-1]) if c_max is None else float(c_max)
    _check_range(None, c_max, name)
    return _area(ch, qh, float(ch[0]), c_max) / c_max


def aiq_paper(
    cost,
    quality,
    c_min: float | None = None,
    c_max: float | None = None,
    *,
    name: str = "router",
) -> float:
    """AIQ as the RouterBench paper defines it: ``∫_{c_min}^{c_max} R(c) dc / (c_max - c_min)``.

    Parameters
    ----------
    cost, quality
        The router's points over its λ sweep (raw; the NDCH is taken here).
    c_min, c_max
        Cost range of the compared set; default to this router's own first and last NDCH
        costs. ``R`` is zero below the router's cheapest point and flat above its last one.
    name
        Used in error messages.

    Returns
    -------
    float
        The mean of ``R`` over [c_min, c_max].

    Raises
    ------
    ValueError
        If ``c_min >= c_max`` (e.g. one point and no range given).
    """
    ch, qh = ndch(cost, quality, name=name)
    c_min = float(ch[0]) if c_min is None else float(c_min)
    c_max = float(ch[-1]) if c_max is None else float(c_max)
    _check_range(c_min, c_max, name)
    return _area(ch, qh, c_min, c_max) / (c_max - c_min)


def aiq_table(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    c_min: float | None = None,
    c_max: float | None = None,
) -> pd.DataFrame:
    """AIQ of every router in a compared set, both normalisations, over one cost range.

    Parameters
    ----------
    curves
        ``{router: (cost, quality)}``, e.g. from :func:`router_curves` (which adds the
        ``zero_router``, the NDCH of the single models).
    c_min, c_max
        Cost range; default to the smallest first and largest last NDCH cost over all curves
        (RouterBench's ``max_x_value``). If the defaults coincide (every curve one point at
        one cost), ``aiq_paper`` is NaN.

    Returns
    -------
    pandas.DataFrame
        ``router, aiq_code, aiq_paper, c_min, c_max``, one row per curve in input order;
        ``c_min``/``c_max`` state the range used.
    """
    if not curves:
        raise ValueError("aiq_table: no curves; pass {router: (cost, quality)}")
    hulls = {name: ndch(c, q, name=name) for name, (c, q) in curves.items()}
    lo = min(float(h[0][0]) for h in hulls.values()) if c_min is None else float(c_min)
    hi = max(float(h[0][-1]) for h in hulls.values()) if c_max is None else float(c_max)
    degenerate = c_min is None and c_max is None and lo == hi
    _check_range(None if degenerate else lo, hi, "aiq_table")
    if degenerate:
        log.warning("aiq_table: every curve sits at cost %g; aiq_paper is undefined (NaN)", hi)
    rows = []
    for name, (ch, qh) in hulls.items():
        total = _area(ch, qh, float(ch[0]), hi)
        rows.append(
            {
                "router": name,
                "aiq_code": total / hi,
                "aiq_paper": np.nan if degenerate else _area(ch, qh, lo, hi) / (hi - lo),
                "c_min": lo,
                "c_max": hi,
            }
        )
    return pd.DataFrame(rows)


def router_curves(
    metrics: pd.DataFrame,
    *,
    cost_col: str = "mean_cost",
    quality_col: str = "mean_quality",
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """λ curves of the routers in a metrics table, plus the zero router.

    Parameters
    ----------
    metrics
        Rows per (policy, lambda_cost), as in ``metrics.csv``.
    cost_col, quality_col
        Columns holding a point's cost and quality.

    Returns
    -------
    dict
        ``{policy: (cost, quality)}`` for every policy with a λ (points sorted by λ), then
        ``zero_router``: the points of all ``single:*`` policies, if any.
    """
    _require(metrics, ["policy", "lambda_cost", cost_col, quality_col], "metrics")
    with_lam = metrics.loc[metrics["lambda_cost"].notna()].sort_values(
        ["policy", "lambda_cost"], kind="stable"
    )
    curves = {
        str(p): (g[cost_col].to_numpy(float), g[quality_col].to_numpy(float))
        for p, g in with_lam.groupby("policy", sort=True)
    }
    single = metrics.loc[metrics["policy"].astype(str).str.startswith(SINGLE_PREFIX)]
    if len(single):
        curves[ZERO_ROUTER] = (
            single[cost_col].to_numpy(float),
            single[quality_col].to_numpy(float),
        )
    return curves


# --------------------------------------------------------------------------------------------
# RouteLLM: PGR, APGR, CPT
# --------------------------------------------------------------------------------------------


def _check_weak_strong(q_weak: float, q_strong: float) -> None:
    if not (np.isfinite(q_weak) and np.isfinite(q_strong)):
        raise ValueError(f"q_weak = {q_weak}, q_strong = {q_strong}: both must be finite")
    if q_strong == q_weak:
        raise ValueError(
            f"q_strong == q_weak == {q_weak}: PGR is undefined when the strong and weak models "
            "have the same quality"
        )


def pgr(quality, q_weak: float, q_strong: float) -> np.ndarray:
    """Performance gap recovered: ``(q - q_weak) / (q_strong - q_weak)``.

    Parameters
    ----------
    quality
        Router quality (scalar or array).
    q_weak, q_strong
        Quality of the weak and the strong model alone; must differ.

    Returns
    -------
    numpy.ndarray
        0 at the weak model's quality, 1 at the strong model's.
    """
    _check_weak_strong(q_weak, q_strong)
    return (np.asarray(quality, dtype=float) - q_weak) / (q_strong - q_weak)


def _pgr_curve(
    strong_share, quality, q_weak: float, q_strong: float
) -> tuple[np.ndarray, np.ndarray]:
    """(share, PGR) sorted by share (ties by PGR), with (0, 0) and (1, 1) added if missing."""
    s, q = _points(strong_share, quality, "strong_share/quality")
    if (s < 0).any() or (s > 1).any():
        bad = s[(s < 0) | (s > 1)][0]
        raise ValueError(f"strong_share = {bad}: shares of strong-model calls lie in [0, 1]")
    p = pgr(q, q_weak, q_strong)
    if not (s == 0).any():
        s, p = np.r_[0.0, s], np.r_[0.0, p]
    if not (s == 1).any():
        s, p = np.r_[s, 1.0], np.r_[p, 1.0]
    order = np.lexsort((p, s))
    return s[order], p[order]


def apgr(strong_share, quality, q_weak: float, q_strong: float) -> float:
    """Average performance gap recovered: area under PGR vs strong-call share on [0, 1].

    Parameters
    ----------
    strong_share
        Fraction of queries sent to the strong model at each threshold of the sweep.
    quality
        The router's mean quality at each threshold.
    q_weak, q_strong
        Quality of the weak and the strong model alone.

    Returns
    -------
    float
        Trapezoid area. The endpoints (0, q_weak) and (1, q_strong) -- all-weak and all-strong
        routing -- are added when the sweep lacks share 0 or 1; observed endpoints are kept.
    """
    s, p = _pgr_curve(strong_share, quality, q_weak, q_strong)
    return float(np.sum(np.diff(s) * (p[1:] + p[:-1]) / 2))


def cpt(strong_share, quality, q_weak: float, q_strong: float, x: float) -> float:
    """Call-performance threshold: the smallest strong-call share at which PGR reaches ``x``.

    Parameters
    ----------
    strong_share, quality, q_weak, q_strong
        As in :func:`apgr` (same endpoints added).
    x
        Target PGR as a fraction (0.5 for CPT(50%)).

    Returns
    -------
    float
        The share, interpolated linearly between sweep points at the first crossing; NaN if
        PGR never reaches ``x``.
    """
    if not np.isfinite(x):
        raise ValueError(f"x = {x}: the target PGR must be finite (0.5 for CPT(50%))")
    s, p = _pgr_curve(strong_share, quality, q_weak, q_strong)
    hit = np.flatnonzero(p >= x)
    if hit.size == 0:
        return float("nan")
    k = int(hit[0])
    if k == 0:
        return float(s[0])
    return float(s[k - 1] + (x - p[k - 1]) * (s[k] - s[k - 1]) / (p[k] - p[k - 1]))


# --------------------------------------------------------------------------------------------
# Pareto frontier
# --------------------------------------------------------------------------------------------


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: missing columns {missing}; it has {list(df.columns)}")


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


# --------------------------------------------------------------------------------------------
# Reliability curves
# --------------------------------------------------------------------------------------------


def reliability_curve(p, y, n_bins: int = 15) -> pd.DataFrame:
    """Reliability diagram data: mean prediction and mean outcome per equal-width bin.

    The binning is that of :func:`dacr.calibration.ece`: bin ``min(floor(p * n_bins),
    n_bins - 1)``, so ``sum(n * |p_mean - y_mean|) / sum(n)`` is the ECE.

    Parameters
    ----------
    p
        Predicted quality in [0, 1].
    y
        Realised quality (may be fractional).
    n_bins
        Number of bins over [0, 1].

    Returns
    -------
    pandas.DataFrame
        ``bin, p_mean, y_mean, n`` with one row per bin (all ``n_bins`` rows; empty bins have
        ``n = 0`` and NaN means).
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins = {n_bins}; use a positive integer")
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"p has {p.size} values but y has {y.size}")
    for label, v in (("p", p), ("y", y)):
        if np.isnan(v).any():
            i = int(np.flatnonzero(np.isnan(v))[0])
            raise ValueError(f"{label}[{i}] is NaN; reliability curves need complete pairs")
    if ((p < 0) | (p > 1)).any():
        bad = p[(p < 0) | (p > 1)][0]
        raise ValueError(f"p contains {bad}; predicted quality must lie in [0, 1]")
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    n = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_mean = np.bincount(idx, p, n_bins) / n
        y_mean = np.bincount(idx, y, n_bins) / n
    return pd.DataFrame({"bin": np.arange(n_bins), "p_mean": p_mean, "y_mean": y_mean, "n": n})


def reliability_table(
    stages: Mapping[str, np.ndarray],
    quality: np.ndarray,
    models: Sequence[str],
    n_bins: int = 15,
) -> pd.DataFrame:
    """Reliability curves per model and stage, stacked for :func:`dacr.plots.plot_reliability`.

    Parameters
    ----------
    stages
        ``{stage: predicted quality (n x M)}``, e.g. ``raw``, ``calibrated``, ``online_end``.
    quality
        Realised quality (n x M).
    models
        The M model names, in column order.
    n_bins
        Bins per curve.

    Returns
    -------
    pandas.DataFrame
        ``model, stage, bin, p_mean, y_mean, n``.
    """
    quality = np.asarray(quality, dtype=float)
    frames = []
    for stage, P in stages.items():
        P = np.asarray(P, dtype=float)
        if P.shape != quality.shape or P.shape[1] != len(models):
            raise ValueError(
                f"stage {stage!r}: predictions {P.shape}, quality {quality.shape}, "
                f"{len(models)} models; all must agree"
            )
        for j, model in enumerate(models):
            curve = reliability_curve(P[:, j], quality[:, j], n_bins)
            frames.append(curve.assign(model=model, stage=stage))
    cols = ["model", "stage", "bin", "p_mean", "y_mean", "n"]
    return pd.concat(frames, ignore_index=True)[cols]


# --------------------------------------------------------------------------------------------
# Bootstrap machinery
# --------------------------------------------------------------------------------------------


def resample_counts(
    strata,
    n_resamples: int,
    rng: np.random.Generator,
    *,
    chunk_cells: int = CHUNK_CELLS,
) -> Iterator[np.ndarray]:
    """Stratified bootstrap resamples as count matrices, in chunks.

    Within each stratum, queries are drawn with replacement, as many as the stratum holds: an
    index matrix (resamples x stratum size) per stratum and chunk, turned into counts.

    Parameters
    ----------
    strata
        Stratum label of each query (length n).
    n_resamples
        Total number of resamples.
    rng
        Source of randomness; one child generator is spawned per stratum, so the resamples
        are the same whatever ``chunk_cells`` is.
    chunk_cells
        Upper bound on resamples x n per chunk (memory).

    Yields
    ------
    numpy.ndarray
        Float counts (b, n): how often resample r drew query i; each row sums to n and, within
        each stratum, to the stratum size.
    """
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples = {n_resamples}; use a positive integer")
    codes, _ = pd.factorize(np.asarray(strata), sort=True)
    if (codes < 0).any():
        raise ValueError("strata contain missing values; every query needs a stratum")
    n = codes.size
    if n == 0:
        raise ValueError("no queries to resample")
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes))]
    members = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    children = rng.spawn(len(members))
    step = max(1, int(chunk_cells) // n)
    for start in range(0, int(n_resamples), step):
        b = min(step, int(n_resamples) - start)
        idx = np.empty((b, n), dtype=np.int64)
        col = 0
        for m, g in zip(members, children, strict=True):
            idx[:, col : col + m.size] = m[g.integers(0, m.size, size=(b, m.size))]
            col += m.size
        idx += np.arange(b, dtype=np.int64)[:, None] * n
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)


def _resampled_mean(counts: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Column means of X (n, G) under each resample's counts (b, n), NaN left out."""
    ok = ~np.isnan(X)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ np.where(ok, X, 0.0)) / (counts @ ok.astype(float))


@dataclass(frozen=True)
class Mean:
    """Mean of ``column`` per group, NaN values left out (as pandas does)."""

    column: str

    def resample(self, counts: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Statistic per resample and group: ``counts`` (b, n), ``X`` (n, G) -> (b, G)."""
        return _resampled_mean(counts, X)


@dataclass(frozen=True)
class Quantile:
    """Quantile ``q`` of ``column`` per group (linear interpolation, NaN left out)."""

    column: str
    q: float

    def __post_init__(self) -> None:
        if not 0 <= self.q <= 1:
            raise ValueError(f"Quantile({self.column!r}, q={self.q}): q must lie in [0, 1]")

    def resample(self, counts: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Statistic per resample and group: ``counts`` (b, n), ``X`` (n, G) -> (b, G).

        The type-7 quantile (numpy's and pandas' default) of each resample expanded by its
        counts, found from cumulative counts over the sorted values instead of materialising
        the resample. Only a window of the largest values is scanned (the smallest for
        ``q < 0.5``), widened to all values for the rare resamples it does not cover.
        """
        # Q_q(x) = -Q_{1-q}(-x) for type 7, so every quantile is taken from the top
        sign, q = (-1.0, 1.0 - self.q) if self.q < 0.5 else (1.0, self.q)
        by_query = np.ascontiguousarray(counts.T, dtype=np.int32)  # rows gather contiguously
        drawn = by_query.sum(axis=0)
        out = np.full((counts.shape[0], X.shape[1]), np.nan)
        for g in range(X.shape[1]):  # over groups; the resamples are vectorised
            v = sign * X[:, g]
            ok = ~np.isnan(v)
            if not ok.any():
                continue
            keep = np.flatnonzero(ok)
            keep = keep[np.argsort(v[keep], kind="stable")]
            total = drawn - by_query[~ok].sum(axis=0) if not ok.all() else drawn
            h = np.maximum(total - 1, 0) * q
            lo = np.floor(h)
            hi = np.minimum(lo + 1, np.maximum(total - 1, 0))
            j_lo, j_hi = _ranks_from_top(by_query, keep, total, lo, hi, q)
            vs = v[keep]
            val = vs[j_lo] + (h - lo) * (vs[j_hi] - vs[j_lo])
            out[:, g] = sign * np.where(total > 0, val, np.nan)
        return out


def _ranks_from_top(
    by_query: np.ndarray,
    keep: np.ndarray,
    total: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    q: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions of the order statistics ``lo`` and ``hi`` (0-based) of each resample.

    ``by_query[keep]`` (m, b) are the counts of the m values in ascending order. The order
    statistic k sits at the number of positions whose cumulative count is <= k, i.e. whose
    count of draws from the next position up is >= total - k. Only the top ``window`` rows are
    gathered and summed when they hold enough draws; the other resamples get a full scan.
    """
    m = keep.size
    window = int(min(m, np.ceil(1.25 * (1 - q) * m + 8 * np.sqrt((1 - q) * m) + 16)))
    need = [total - lo, total - hi]
    top = by_query[keep[m - window :]]
    tail = np.cumsum(top[::-1], axis=0, dtype=np.int64)[::-1]  # draws at >= each position
    short = np.flatnonzero(tail[0] < need[0])  # the window misses some of these resamples' draws
    if short.size:
        full = np.cumsum(by_query[keep][:, short][::-1], axis=0, dtype=np.int64)[::-1]
    out = []
    for nd in need:
        pos = (m - window) + (tail[1:] >= nd).sum(axis=0)
        if short.size:
            pos[short] = (full[1:] >= nd[short]).sum(axis=0)
        out.append(np.minimum(pos, m - 1))
    return out[0], out[1]


Statistic = Mean | Quantile

#: The statistics of ``metrics.csv`` that get intervals by default.
DEFAULT_STATISTICS: dict[str, Statistic] = {
    "mean_quality": Mean("quality"),
    "mean_cost": Mean("cost"),
    "p95_latency_s": Quantile("latency_s", 0.95),
    "slo_violation_rate": Mean("slo_violation"),
}


@dataclass(frozen=True)
class _Layout:
    """Per-query rows arranged as (query x group) matrices, queries sorted by qid."""

    qids: np.ndarray
    strata: np.ndarray
    keys: pd.DataFrame
    row_q: np.ndarray
    row_g: np.ndarray

    def matrix(self, values: np.ndarray) -> np.ndarray:
        out = np.full((self.qids.size, len(self.keys)), np.nan)
        out[self.row_q, self.row_g] = values
        return out


def _layout(per_query: pd.DataFrame, group_cols: Sequence[str], strata_col: str | None) -> _Layout:
    group_cols = list(group_cols)
    needed = ["qid", *group_cols] + ([strata_col] if strata_col else [])
    _require(per_query, needed, "per_query")
    if per_query.empty:
        raise ValueError("per_query is empty; nothing to bootstrap")
    row_q, qids = pd.factorize(per_query["qid"], sort=True)
    grouped = per_query.groupby(group_cols, dropna=False, sort=True)
    row_g = grouped.ngroup().to_numpy()
    keys = grouped.size().reset_index(name="n")
    pair = row_q.astype(np.int64) * len(keys) + row_g
    uniq, first, counts = np.unique(pair, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = int(first[np.flatnonzero(counts > 1)[0]])
        raise ValueError(
            f"per_query: qid {per_query['qid'].iloc[i]!r} appears more than once in group "
            f"{per_query[group_cols].iloc[i].to_dict()}; expected one row per (group, qid)"
        )
    if strata_col is None:
        strata = np.zeros(qids.size, dtype=np.int64)
    else:
        labels = per_query[strata_col].astype(str).to_numpy()
        pairs = pd.DataFrame({"q": row_q, "s": labels}).drop_duplicates()
        if len(pairs) != qids.size:
            q = int(pairs["q"].loc[pairs["q"].duplicated()].iloc[0])
            raise ValueError(
                f"per_query: qid {qids[q]!r} has several {strata_col!r} values "
                f"{sorted(pairs.loc[pairs['q'] == q, 's'])}; a query belongs to one stratum"
            )
        strata = np.empty(qids.size, dtype=object)
        strata[pairs["q"].to_numpy()] = pairs["s"].to_numpy()
    return _Layout(np.asarray(qids), strata, keys, row_q, row_g)


def _percentile_ci(boot: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column of ``boot`` (resamples x K); NaN resamples left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, as wanted
        lo = np.nanquantile(boot, alpha / 2, axis=0)
        hi = np.nanquantile(boot, 1 - alpha / 2, axis=0)
    return lo, hi


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha = {alpha}; use a level in (0, 1), e.g. 0.05 for 95 % intervals")


def bootstrap_ci(
    per_query: pd.DataFrame,
    group_cols: Sequence[str] = ("policy", "lambda_cost"),
    value_fns: Mapping[str, Statistic] | None = None,
    *,
    rng: np.random.Generator,
    n_resamples: int = 1000,
    strata_col: str | None = "domain",
    alpha: float = 0.05,
    chunk_cells: int = CHUNK_CELLS,
) -> pd.DataFrame:
    """Point estimates and stratified-bootstrap percentile intervals per group.

    Parameters
    ----------
    per_query
        One row per (group, qid), with ``qid``, the group columns, the stratum column and the
        columns the statistics read.
    group_cols
        Columns defining a group (NaN keys, e.g. λ of λ-free policies, form their own group).
    value_fns
        ``{name: Mean(column) | Quantile(column, q)}``; defaults to
        :data:`DEFAULT_STATISTICS` (mean quality, mean cost, p95 latency, SLO violation rate).
    rng
        Source of the resamples; the same seed, data and strata give the same resamples in
        :func:`bootstrap_ci`, :func:`bootstrap_aiq` and :func:`paired_bootstrap`.
    n_resamples
        Number of resamples.
    strata_col
        Resample within each value of this column (None: no strata).
    alpha
        Two-sided level: intervals are the alpha/2 and 1 - alpha/2 percentiles.
    chunk_cells
        Memory bound for one chunk of resamples (see :func:`resample_counts`).

    Returns
    -------
    pandas.DataFrame
        The group columns, ``n`` (rows in the group), and per statistic ``<name>``,
        ``<name>_ci_low``, ``<name>_ci_high``.
    """
    _check_alpha(alpha)
    stats = dict(DEFAULT_STATISTICS if value_fns is None else value_fns)
    layout = _layout(per_query, group_cols, strata_col)
    _require(per_query, sorted({s.column for s in stats.values()}), "per_query")
    mats = {
        col: layout.matrix(per_query[col].to_numpy(float))
        for col in {s.column for s in stats.values()}
    }
    ones = np.ones((1, layout.qids.size))
    point = {name: s.resample(ones, mats[s.column])[0] for name, s in stats.items()}
    boots: dict[str, list[np.ndarray]] = {name: [] for name in stats}
    for counts in resample_counts(layout.strata, n_resamples, rng, chunk_cells=chunk_cells):
        for name, s in stats.items():
            boots[name].append(s.resample(counts, mats[s.column]))
    out = layout.keys.copy()
    for name in stats:
        lo, hi = _percentile_ci(np.concatenate(boots[name]), alpha)
        out[name] = point[name]
        out[f"{name}_ci_low"] = lo
        out[f"{name}_ci_high"] = hi
    log.info(
        "bootstrap: %d resamples of %d queries, %d groups, %d statistics",
        n_resamples,
        layout.qids.size,
        len(layout.keys),
        len(stats),
    )
    return out


# --------------------------------------------------------------------------------------------
# AIQ under the bootstrap
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Paired comparisons
# --------------------------------------------------------------------------------------------


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
    D = []
    for col in metrics:
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
        D.append(d)
    D = np.concatenate(D, axis=1)  # (n, metrics x pairs)
    n = layout.qids.size
    boot = np.concatenate(
        [
            c @ D / n
            for c in resample_counts(layout.strata, n_resamples, rng, chunk_cells=chunk_cells)
        ]
    )
    diff = D.mean(axis=0)
    lo, hi = _percentile_ci(boot, alpha)
    B = boot.shape[0]
    below = ((boot <= 0).sum(axis=0) + 1) / (B + 1)
    above = ((boot >= 0).sum(axis=0) + 1) / (B + 1)
    p_value = np.minimum(1.0, 2 * np.minimum(below, above))
    keys = layout.keys
    out = pd.DataFrame(
        {
            "target": target,
            "target_lambda": np.tile(keys["lambda_cost"].to_numpy(float)[t_idx], len(metrics)),
            "baseline": np.tile(keys["policy"].astype(str).to_numpy()[b_idx], len(metrics)),
            "baseline_lambda": np.tile(keys["lambda_cost"].to_numpy(float)[b_idx], len(metrics)),
            "metric": np.repeat(metrics, len(pairs)),
            "diff": diff,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": p_value,
        }
    )
    out["p_holm"] = out.groupby("metric", sort=False)["p_value"].transform(
        lambda p: holm(p.to_numpy())
    )
    return out
