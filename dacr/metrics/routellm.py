"""RouteLLM's binary-router metrics: PGR, APGR and CPT."""

from __future__ import annotations

import numpy as np

from dacr.metrics.aiq import _points


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
