"""What to send and when: the request stream, the (qid, model) pairs, and the open-loop replay.

``ts`` in ``stream.jsonl`` is already on the replay clock: :mod:`dacr.stream` writes
``ts = start_ts + offset_s / time_warp``. A replay with ``pacing='stream'`` therefore sends
pair ``i`` at ``ts_i - ts_0`` seconds after the start and applies no warp of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from dacr.telemetry.ledger import parse_jsonl

T = TypeVar("T")

PACINGS = ("asap", "stream")
PER_EVENT_MODELS = ("all", "one")


def read_events(path: str | os.PathLike) -> list[dict]:
    """Read a request stream (``stream.jsonl``): one JSON object per line.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of dict
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"request stream {path} does not exist")
    return parse_jsonl(path.read_bytes(), path)


def check_events(events: Iterable[Mapping[str, Any]], *, need_ts: bool) -> list[Mapping]:
    """Validate events: ``qid`` (unique str) and ``prompt`` (str), plus numeric ``ts``.

    Parameters
    ----------
    events : iterable of mapping
    need_ts : bool
        Require a finite numeric ``ts`` (stream pacing).

    Returns
    -------
    list of mapping
    """
    out: list[Mapping] = []
    first_at: dict[str, int] = {}
    for i, ev in enumerate(events):
        for key in ("qid", "prompt"):
            if not isinstance(ev.get(key), str):
                raise ValueError(f"event {i}: key '{key}' must be a string, got {ev.get(key)!r}")
        qid = ev["qid"]
        if qid in first_at:
            raise ValueError(
                f"event {i}: qid {qid!r} repeats event {first_at[qid]}; the latency log is keyed "
                "by (qid, model), so qids must be unique"
            )
        first_at[qid] = i
        ts = ev.get("ts")
        if need_ts and (
            not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts)
        ):
            raise ValueError(
                f"event {i} (qid {qid!r}): key 'ts' must be a finite number for "
                f"pacing='stream', got {ts!r}"
            )
        out.append(ev)
    return out


def stable_int(text: str) -> int:
    """A 64-bit integer digest of ``text`` that is the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def pick_model(qid: str, models: Sequence[str], seed: int) -> str:
    """The one model measured for ``qid`` under ``per_event_models='one'``.

    Parameters
    ----------
    qid : str
        Query id.
    models : sequence of str
        Candidate RouterBench ids (their order does not matter).
    seed : int
        Non-negative seed.

    Returns
    -------
    str
        A uniform draw from ``models`` seeded by ``(seed, sha256(qid))``.
    """
    rng = np.random.default_rng([seed, stable_int(qid)])
    ordered = sorted(models)
    return ordered[int(rng.integers(len(ordered)))]


def plan_pairs(
    events: Sequence[Mapping], models: Sequence[str], *, per_event_models: str, seed: int
) -> list[tuple[Mapping, str]]:
    """Every (event, model) pair to measure, in stream order then model order."""
    pairs: list[tuple[Mapping, str]] = []
    for ev in events:
        chosen = models if per_event_models == "all" else [pick_model(ev["qid"], models, seed)]
        pairs += [(ev, m) for m in chosen]
    return pairs


@dataclass(frozen=True)
class Job:
    """One pair to send, ``offset_s`` after the start of the replay."""

    qid: str
    prompt: str
    model: str
    offset_s: float


def schedule_jobs(pairs: Sequence[tuple[Mapping, str]], *, pacing: str) -> list[Job]:
    """The pairs as jobs: all at once (``asap``), or at their ``ts`` offsets (``stream``).

    Offsets start at the first pair still to send, so a resumed replay does not idle through
    the part of the stream that is already logged. ``ts`` is used as is (it already includes
    the stream's ``time_warp``).
    """
    if pacing == "asap" or not pairs:
        return [Job(ev["qid"], ev["prompt"], m, 0.0) for ev, m in pairs]
    ordered = sorted(pairs, key=lambda p: float(p[0]["ts"]))
    ts0 = float(ordered[0][0]["ts"])
    return [Job(ev["qid"], ev["prompt"], m, float(ev["ts"]) - ts0) for ev, m in ordered]


# --------------------------------------------------------------------------------------------
# bounded, optionally paced dispatch
# --------------------------------------------------------------------------------------------
class _Slot:
    """One worker's hold on the concurrency semaphore, given back while it backs off."""

    def __init__(self, sem: asyncio.Semaphore) -> None:
        self.sem = sem
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.sem.release()

    async def reacquire(self) -> None:
        await self.sem.acquire()
        self.held = True


_SLOT: ContextVar[_Slot | None] = ContextVar("dacr_telemetry_slot", default=None)


async def sleep_without_slot(seconds: float) -> None:
    """Sleep ``seconds``; inside :func:`run_bounded`, without holding a concurrency slot.

    The worker gives its slot back for the sleep and waits for one again before it goes on,
    so a call backing off never keeps another from being sent.
    """
    slot = _SLOT.get()
    if slot is None or not slot.held:
        await asyncio.sleep(seconds)
        return
    slot.release()
    await asyncio.sleep(seconds)
    await slot.reacquire()


async def run_bounded(
    items: Sequence[T],
    worker: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
    offsets_s: Sequence[float] | None = None,
    skip: Callable[[T], bool] | None = None,
) -> None:
    """Run ``worker`` on each item, at most ``concurrency`` at once, optionally on a schedule.

    Parameters
    ----------
    items : sequence
        Work items, in dispatch order.
    worker : callable
        Coroutine function handling one item. While it waits in :func:`sleep_without_slot`
        (the back-off of :func:`dacr.telemetry.retry.call_with_retries`) its slot is free.
    concurrency : int
        Limit on items in flight (an ``asyncio.Semaphore``).
    offsets_s : sequence of float, optional
        Open-loop schedule: item ``i`` is dispatched no earlier than ``offsets_s[i]`` seconds
        after the start, whether or not earlier items have finished. When all slots are busy
        it waits for one, so a saturated endpoint queues requests rather than dropping them.
    skip : callable, optional
        Items for which it returns true (checked before waiting and again once a slot is
        free) are not dispatched, e.g. those of a provider whose circuit breaker is open.
    """
    sem = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def guarded(item: T, slot: _Slot) -> None:
        _SLOT.set(slot)
        try:
            await worker(item)
        finally:
            slot.release()

    async with asyncio.TaskGroup() as group:
        for i, item in enumerate(items):
            if skip is not None and skip(item):
                continue
            if offsets_s is not None:
                wait = start + offsets_s[i] - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await sem.acquire()
            slot = _Slot(sem)
            if skip is not None and skip(item):
                slot.release()
                continue
            group.create_task(guarded(item, slot))
