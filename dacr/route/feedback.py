"""When a decision's outcome reaches the router.

Two clocks. ``index``: feedback of decision s is applied after decision ``s + delay`` (or, with
``delay_s`` set, before the first decision whose stream time is at least ``ts_s + delay_s``).
``stream``: a call's cost, latency and violation arrive when it completes, at stream time
``ts_s + latency_s``, and its quality label no earlier than that. Each rule returns, per
decision, the index of the first decision that sees the feedback (``n`` or more: never).
"""

from __future__ import annotations

import functools

import numpy as np

FEEDBACK_CLOCKS = ("stream", "index")


@functools.lru_cache(maxsize=16)
def feedback_lost(n: int, p_miss: float, seed: int) -> np.ndarray:
    """Which decisions' quality feedback is lost: seeded, shared by every lambda of a run
    (cached, read-only: a λ sweep replays the same stream many times)."""
    lost = np.random.default_rng([seed, 4]).random(n) < p_miss
    lost.flags.writeable = False
    return lost


def feedback_available_at(ts: np.ndarray, delay: int, delay_s: float | None) -> np.ndarray:
    """For each decision s, the first decision index u > s that sees its feedback.

    Count delay: ``u = s + delay + 1`` (feedback applied after decision s + delay). Time delay:
    the first u > s with ``ts[u] >= ts[s] + delay_s``.
    """
    n = len(ts)
    s = np.arange(n)
    if delay_s is None:
        return s + int(delay) + 1
    ts = np.asarray(ts, dtype=float)
    return np.maximum(np.searchsorted(ts, ts + float(delay_s), side="left"), s + 1)


def completion_index(ts: np.ndarray, s: int, latency_s: float) -> int:
    """The first decision u > s at or after the completion of call s (stream time
    ``ts[s] + latency_s``): when its outcome is known to the router (``len(ts)``: never)."""
    if not np.isfinite(latency_s):
        raise ValueError(
            f"decision {s}: the chosen call has no latency ({latency_s}), so no completion time"
        )
    return max(int(np.searchsorted(ts, ts[s] + latency_s, side="left")), s + 1)


def completion_indices(ts: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """:func:`completion_index` of every (decision, model) pair at once, ``-1`` where the
    latency is not finite (no completion time)."""
    ts = np.asarray(ts, dtype=float)
    latency = np.asarray(latency, dtype=float)
    end = ts[:, None] + latency
    done = np.searchsorted(ts, end.ravel(), side="left").reshape(end.shape)
    done = np.maximum(done, np.arange(1, len(ts) + 1)[:, None])
    return np.where(np.isfinite(latency), done, -1)
