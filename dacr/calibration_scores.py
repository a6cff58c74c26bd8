"""Calibration scores: ECE, Brier and their per-model, per-domain table.

Kept apart from :mod:`dacr.calibration` (the calibrators, which need scikit-learn) so the
policy jobs that only score predictions start without importing scikit-learn.
"""

from __future__ import annotations

import numpy as np


def ece(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error with equal-width bins; y may be fractional quality."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    y = np.asarray(y, dtype=float)
    if p.size == 0:
        return float("nan")
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    gap = np.abs(np.bincount(idx, y, n_bins) - np.bincount(idx, p, n_bins))
    return float(gap.sum() / p.size) if count.sum() else float("nan")


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error between predicted and realised quality."""
    p = np.asarray(p, dtype=float)
    return float(np.mean((p - np.asarray(y, dtype=float)) ** 2)) if p.size else float("nan")


def calibration_table(
    stages: dict[str, np.ndarray],
    Q: np.ndarray,
    domains: np.ndarray,
    models: list[str],
    n_bins: int = 15,
    *,
    target: str = "quality",
) -> list[dict]:
    """ECE, Brier and n per model x (each domain and ``all``) x stage, for one ``target``
    (``quality``, or ``violation`` for P(latency > tau) against realised violations)."""
    domains = np.asarray(domains).astype(str)
    groups = [("all", np.ones(len(domains), dtype=bool))]
    groups += [(d, domains == d) for d in np.unique(domains)]
    rows = []
    for stage, P in stages.items():
        for j, model in enumerate(models):
            for name, mask in groups:
                rows.append(
                    {
                        "target": target,
                        "model": model,
                        "domain": name,
                        "stage": stage,
                        "ece": ece(P[mask, j], Q[mask, j], n_bins),
                        "brier": brier(P[mask, j], Q[mask, j]),
                        "n": int(mask.sum()),
                    }
                )
    return rows
