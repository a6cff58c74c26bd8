"""Train/test splits and the timestamped request stream.

Arrival process
---------------
The request rate is piecewise constant: ``rate_qps`` everywhere except during bursts. A burst is
``"qps@seconds"`` (bursts without a start follow each other from t = 0, before the base rate, as
in the original DACR scripts) or ``"qps@seconds@start"`` (a burst at ``start`` seconds). With
``arrivals: poisson`` the stream is a non-homogeneous Poisson process drawn by time rescaling
(unit-rate exponential gaps mapped through the inverse cumulative rate); ``uniform`` places the
k-th arrival where the cumulative rate reaches k (deterministic, evenly spaced at each rate).

Load multiplier
---------------
``lat_mult`` models queueing at the serving side. For request i at simulated time t_i, the load
is ``rho_i = n_i / (capacity_qps * window_s)``, with n_i the arrivals in ``(t_i - window_s, t_i]``
(request i included); then ``lat_mult_i = max(1, rho_i) ** load_exponent``. Below capacity,
latency is unaffected; a burst at k times the capacity multiplies latency by k (exponent 1).

Timestamps
----------
``ts = start_ts + t_i / time_warp`` in epoch seconds (``start_ts`` defaults to the current system
time; pin it for reproducible files). ``offset_s = t_i`` is the simulated time since the start;
``lat_mult`` is computed on simulated time, so warping the replay does not change the load.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.io import read_jsonl, read_parquet, read_parquet_metadata, write_frame_jsonl, write_table

log = logging.getLogger(__name__)

SPLITS = ("test", "train", "all")
HOLDOUT_MATCH = ("exact", "prefix")
ARRIVALS = ("poisson", "uniform")
ORDERS = ("shuffle", "grouped")
STREAM_COLUMNS = ("ts", "offset_s", "qid", "domain", "prompt", "split", "lat_mult")
_BURST = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*@\s*(\d+(?:\.\d*)?)\s*(?:@\s*(\d+(?:\.\d*)?)\s*)?$")


@dataclass(frozen=True)
class Burst:
    """A period of ``qps`` requests per second lasting ``seconds``, from ``start_s``."""

    qps: float
    seconds: float
    start_s: float | None = None


def query_table(long: pd.DataFrame) -> pd.DataFrame:
    """One row per query (``qid, domain, prompt`` and ``family`` when present), sorted by qid."""
    missing = [c for c in ("qid", "domain", "prompt") if c not in long.columns]
    if missing:
        raise ValueError(f"long form: missing column(s) {missing}")
    cols = ["qid", "domain", "prompt"] + (["family"] if "family" in long.columns else [])
    queries = long.drop_duplicates("qid")[cols]
    queries = queries.astype({c: str for c in cols})
    return queries.sort_values("qid", kind="stable", ignore_index=True)


def holdout_mask(
    domains: np.ndarray | pd.Series,
    holdout: Sequence[str],
    match: str = "exact",
    *,
    experiment: str = "",
) -> np.ndarray:
    """Boolean mask of the queries whose domain is held out.

    Raises
    ------
    ValueError
        A holdout name (or prefix) matches no domain; the message lists the available domains.
    """
    if match not in HOLDOUT_MATCH:
        raise ValueError(
            f"holdout_match={match!r} is not valid; choose one of {list(HOLDOUT_MATCH)}"
        )
    domains = pd.Series(np.asarray(domains, dtype=object)).astype(str)
    available = sorted(domains.unique())
    mask = np.zeros(len(domains), dtype=bool)
    unknown = []
    for name in holdout:
        hit = (domains.str.startswith(name) if match == "prefix" else domains == name).to_numpy()
        if not hit.any():
            unknown.append(name)
        mask |= hit
    if unknown:
        where = f"experiment {experiment!r}: " if experiment else ""
        raise ValueError(
            f"{where}holdout domain(s) {unknown} match no domain ({match} match); "
            f"available domains: {available}"
        )
    return mask


def assign_split(
    queries: pd.DataFrame,
    *,
    holdout: Sequence[str] | None = None,
    test_fraction: float | None = None,
    holdout_match: str = "exact",
    holdout_by: str = "domain",
    seed: int = 0,
    experiment: str = "",
) -> np.ndarray:
    """Label each query ``train`` or ``test``: held-out domains (OOD) or a seeded fraction (IID).

    ``holdout_by="family"`` matches holdout names against the ``family`` column instead
    (``mmlu`` holds out every MMLU subject), as the leave-one-domain-out experiments do.

    The IID permutation is drawn from ``default_rng([seed, 0])`` over queries sorted by qid,
    so every rule that calls this with the same config gets the same split.
    """
    where = f"experiment {experiment!r}: " if experiment else ""
    if (holdout is None) == (test_fraction is None):
        raise ValueError(f"{where}give exactly one of holdout (OOD) or test_fraction (IID)")
    if holdout is not None:
        if holdout_by not in ("domain", "family"):
            raise ValueError(
                f"{where}holdout_by={holdout_by!r} is not valid; choose domain or family"
            )
        if holdout_by not in queries.columns:
            raise ValueError(
                f"{where}holdout_by is {holdout_by} but the long form has no such column"
            )
        is_test = holdout_mask(queries[holdout_by], holdout, holdout_match, experiment=experiment)
    else:
        if not 0 < test_fraction < 1:
            raise ValueError(f"{where}test_fraction={test_fraction} must lie in (0, 1)")
        n = len(queries)
        order = np.argsort(queries["qid"].to_numpy(dtype=str), kind="stable")
        perm = order[np.random.default_rng([seed, 0]).permutation(n)]
        is_test = np.zeros(n, dtype=bool)
        is_test[perm[: int(round(test_fraction * n))]] = True
    split = np.where(is_test, "test", "train")
    fix = {
        "train": "hold out fewer domains" if holdout else "lower test_fraction",
        "test": "name a domain the data has" if holdout else "raise test_fraction or add data",
    }
    for name in ("train", "test"):
        if not (split == name).any():
            given = f"holdout={list(holdout)}" if holdout else f"test_fraction={test_fraction}"
            raise ValueError(
                f"{where}{given} leaves the {name} split empty ({len(queries)} queries in "
                f"all); {fix[name]}"
            )
    return split


def parse_bursts(bursts: Sequence[str] | str | None) -> list[Burst]:
    """Parse ``"qps@seconds"`` / ``"qps@seconds@start"`` strings (a list or comma-separated)."""
    if not bursts:
        return []
    items = bursts.split(",") if isinstance(bursts, str) else list(bursts)
    out = []
    for item in items:
        m = _BURST.match(str(item))
        if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
            raise ValueError(
                f"burst {item!r} is not valid; write 'qps@seconds' or 'qps@seconds@start' with "
                "qps > 0 and seconds > 0, e.g. '20@30' or '20@30@120'"
            )
        start = float(m.group(3)) if m.group(3) is not None else None
        out.append(Burst(float(m.group(1)), float(m.group(2)), start))
    return out


def rate_breakpoints(rate_qps: float, bursts: Sequence[Burst]) -> tuple[np.ndarray, np.ndarray]:
    """Times and cumulative expected arrivals where the piecewise-constant rate changes.

    Returns ``(t, cum)`` with ``t[0] = 0``; after the last breakpoint the rate is ``rate_qps``.
    """
    if rate_qps <= 0:
        raise ValueError(f"stream.rate_qps={rate_qps} must be > 0")
    segments: list[tuple[float, float, float]] = []
    cursor = 0.0
    for b in bursts:
        start = cursor if b.start_s is None else b.start_s
        segments.append((start, start + b.seconds, b.qps))
        if b.start_s is None:
            cursor = start + b.seconds
    segments.sort()
    for (_, end, _), (start, _, _) in zip(segments, segments[1:], strict=False):
        if start < end:
            raise ValueError(
                f"bursts overlap: one ends at {end}s after the next starts at {start}s"
            )
    t, rates = [0.0], []
    for start, end, qps in segments:
        if start > t[-1]:
            t.append(start)
            rates.append(rate_qps)
        t.append(end)
        rates.append(qps)
    cum = np.concatenate([[0.0], np.cumsum(np.diff(t) * np.asarray(rates, dtype=float))])
    return np.asarray(t, dtype=float), cum


def arrival_offsets(
    n: int,
    rate_qps: float,
    bursts: Sequence[Burst] = (),
    arrivals: str = "poisson",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Arrival times (s since the start) of ``n`` requests, non-decreasing."""
    if arrivals not in ARRIVALS:
        raise ValueError(
            f"stream.arrivals={arrivals!r} is not valid; choose one of {list(ARRIVALS)}"
        )
    if arrivals == "poisson":
        if rng is None:
            raise ValueError("poisson arrivals need a seeded rng")
        targets = np.cumsum(rng.exponential(1.0, size=n))
    else:
        targets = np.arange(1, n + 1, dtype=float)
    t, cum = rate_breakpoints(rate_qps, bursts)
    # Inverse of the cumulative rate: interpolate inside the breakpoints, base rate after them.
    inside = targets <= cum[-1]
    out = np.empty(n, dtype=float)
    out[inside] = np.interp(targets[inside], cum, t)
    out[~inside] = t[-1] + (targets[~inside] - cum[-1]) / rate_qps
    return out


def load_multiplier(
    offsets_s: np.ndarray, capacity_qps: float, window_s: float, load_exponent: float = 1.0
) -> np.ndarray:
    """``max(1, arrivals in the trailing window / (capacity_qps * window_s)) ** load_exponent``."""
    if capacity_qps <= 0 or window_s <= 0:
        raise ValueError(f"capacity_qps={capacity_qps} and window_s={window_s} must be > 0")
    offsets_s = np.asarray(offsets_s, dtype=float)
    first = np.searchsorted(offsets_s, offsets_s - window_s, side="right")
    in_window = np.arange(1, len(offsets_s) + 1) - first
    rho = in_window / (capacity_qps * window_s)
    return np.maximum(1.0, rho) ** load_exponent


def build_stream(
    queries: pd.DataFrame,
    split: np.ndarray,
    *,
    which: str = "test",
    rate_qps: float = 2.0,
    burst: Sequence[str] | str | None = None,
    time_warp: float = 1.0,
    max_queries: int | None = None,
    start_ts: float | None = None,
    arrivals: str = "poisson",
    order: str = "shuffle",
    capacity_qps: float = 4.0,
    window_s: float = 5.0,
    load_exponent: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """The request stream of one split as a DataFrame with :data:`STREAM_COLUMNS`.

    Queries of the chosen split come in a seeded random order (``order: shuffle``) or grouped
    by domain (``grouped``: a sharp domain shift), are cut to ``max_queries`` and get arrival
    times, timestamps and load multipliers (see the module docstring).
    """
    if which not in SPLITS:
        raise ValueError(f"stream.split={which!r} is not valid; choose one of {list(SPLITS)}")
    if order not in ORDERS:
        raise ValueError(f"stream.order={order!r} is not valid; choose one of {list(ORDERS)}")
    if time_warp <= 0:
        raise ValueError(f"stream.time_warp={time_warp} must be > 0")
    selected = queries.assign(split=split)
    if which != "all":
        selected = selected.loc[split == which]
    if selected.empty:
        raise ValueError(f"the {which} split is empty; nothing to stream")
    rng = np.random.default_rng([seed, 1])
    if order == "shuffle":
        selected = selected.iloc[rng.permutation(len(selected))]
    else:
        selected = selected.sort_values(["domain", "qid"], kind="stable")
    if max_queries is not None:
        selected = selected.iloc[:max_queries]
    offsets = arrival_offsets(len(selected), rate_qps, parse_bursts(burst), arrivals, rng)
    start = time.time() if start_ts is None else float(start_ts)
    out = selected.reset_index(drop=True)
    out.insert(0, "offset_s", offsets)
    out.insert(0, "ts", start + offsets / time_warp)
    out["lat_mult"] = load_multiplier(offsets, capacity_qps, window_s, load_exponent)
    return out[list(STREAM_COLUMNS)]


def read_stream(path: str | Path) -> pd.DataFrame:
    """Read a stream JSONL written by :func:`run_stream`, checking its columns."""
    df = read_jsonl(path, required=("ts", "qid", "domain", "prompt", "split", "lat_mult"))
    if df.empty:
        raise ValueError(f"{path}: the stream has no events")
    return df.astype({"qid": str, "domain": str})


def run_stream(
    long_path: str | Path,
    out_path: str | Path,
    split_path: str | Path,
    *,
    experiment: str,
    holdout: Sequence[str] | None,
    test_fraction: float | None,
    holdout_match: str,
    seed: int,
    stream: dict,
    holdout_by: str = "domain",
) -> pd.DataFrame:
    """Rule entry point: long form -> ``stream.jsonl`` and ``split.parquet`` of an experiment.

    ``split.parquet`` (``qid, domain, split``) labels every query ``train`` or ``test``; later
    stages read it instead of recomputing the split, so all of them agree.
    """
    long = read_parquet(long_path, columns=["qid", "domain", "prompt", "family"])
    queries = query_table(long)
    split = assign_split(
        queries,
        holdout=holdout,
        test_fraction=test_fraction,
        holdout_match=holdout_match,
        holdout_by=holdout_by,
        seed=seed,
        experiment=experiment,
    )
    params = dict(stream)
    which = params.pop("split", "test")
    events = build_stream(queries.drop(columns="family"), split, which=which, seed=seed, **params)
    dataset = read_parquet_metadata(long_path).get("dataset", "routerbench")
    split_table = queries[["qid", "domain", "family"]].assign(split=split)
    write_table(split_table, split_path, dataset=dataset)
    write_frame_jsonl(events, out_path)
    log.info(
        "experiment %s: %d train / %d test queries; streamed %d %s events over %.1f s "
        "(lat_mult mean %.2f, max %.2f)",
        experiment,
        int((split == "train").sum()),
        int((split == "test").sum()),
        len(events),
        which,
        float(events["offset_s"].iloc[-1]),
        float(events["lat_mult"].mean()),
        float(events["lat_mult"].max()),
    )
    return events
