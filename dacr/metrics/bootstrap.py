"""Query-level stratified bootstrap: resample counts, means and quantiles, CIs."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dacr.metrics._common import _require

log = logging.getLogger(__name__)


#: Cells (resamples x queries) per bootstrap chunk: 2**22 float64 cells are 32 MiB.
CHUNK_CELLS = 1 << 22


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
