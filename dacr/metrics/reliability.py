"""Reliability curves: binned predicted probability against the observed rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


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
