"""NDCH and AIQ (RouterBench's code and paper), router curves and the zero router."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dacr.metrics._common import _require

log = logging.getLogger(__name__)


ZERO_ROUTER = "zero_router"
SINGLE_PREFIX = "single:"
#: Relative tolerance of the collinearity test in :func:`ndch`.
_COLLINEAR_RTOL = 1e-12


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
