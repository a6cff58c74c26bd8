"""The collector: measure every planned (qid, model) pair, resumably, and write the log only
when the collection is finished."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pandas as pd
from tqdm.auto import tqdm

from dacr.io import write_jsonl
from dacr.latency import collapse_pairs
from dacr.telemetry.client import (
    Reply,
    api_key_from_env,
    chat_once,
    make_client,
    responses_once,
)
from dacr.telemetry.ledger import (
    LOG_COLUMNS,
    JsonlAppender,
    compact_ledger,
    default_ledger_path,
    is_current_success,
    read_jsonl_records,
)
from dacr.telemetry.models import (
    cost_usd,
    dataset_models,
    endpoint_of,
    load_models_config,
    select_models,
    validate_models_config,
)
from dacr.telemetry.retry import CallOutcome, CircuitBreaker, RetryPolicy, call_with_retries
from dacr.telemetry.schedule import (
    PACINGS,
    PER_EVENT_MODELS,
    Job,
    check_events,
    plan_pairs,
    read_events,
    run_bounded,
    schedule_jobs,
    stable_int,
)
from dacr.telemetry.verdict import (
    CollectionFailedError,
    Verdict,
    accepted,
    error_counts,
    failure_message,
    judge,
)

log = logging.getLogger(__name__)

APIS = ("chat", "responses")


@dataclass(frozen=True)
class CollectOptions:
    """Settings of :func:`collect_latency` (the ``telemetry`` config block, plus ``seed``).

    Parameters
    ----------
    concurrency : int
        Most calls in flight at once (a call backing off does not count).
    timeout_s : float
        Wall-clock deadline of one attempt (streaming included).
    max_retries : int
        Retries after the first attempt.
    pacing : {"asap", "stream"}
        ``asap`` sends as fast as ``concurrency`` allows; ``stream`` replays the events' ``ts``
        open-loop, sending event ``e`` at ``ts_e - ts_0`` s after the start (``ts`` already
        includes the stream's ``time_warp``).
    per_event_models : {"all", "one"}
        Every model per event, or one chosen by :func:`dacr.telemetry.schedule.pick_model`.
    stream : bool
        Stream answers to measure the time to first token (``ttft_s``).
    api : {"chat", "responses"}
        Chat Completions or the Responses API.
    max_tokens : int
        Completion budget per call.
    seed : int
        Seed of the model choice and of the back-off jitter.
    backoff_base_s, backoff_max_s : float
        Exponential back-off: first step and cap.
    breaker_failures : int
        Consecutive attempts to one provider that cannot connect (refused, DNS, connect
        timeout) after which it gets no more calls in this run.
    max_failed_share : float
        Share of pairs, in [0, 1], that may still lack a measurement when the output is
        written (their last failure is written with ``ok=false``); above it the run fails.
    """

    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 4
    pacing: str = "asap"
    per_event_models: str = "all"
    stream: bool = False
    api: str = "chat"
    max_tokens: int = 256
    seed: int = 0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    breaker_failures: int = 5
    max_failed_share: float = 0.0

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> CollectOptions:
        """Build from keywords; an unknown one is an error listing the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise ValueError(f"unknown telemetry option(s) {unknown}; valid: {valid}")
        return cls(**kwargs)

    def __post_init__(self) -> None:
        choices = {"pacing": PACINGS, "per_event_models": PER_EVENT_MODELS, "api": APIS}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"telemetry.{name}={getattr(self, name)!r} is not valid; valid: {list(valid)}"
                )
        for name in ("concurrency", "max_tokens", "breaker_failures"):
            _check_int(name, getattr(self, name), 1)
        _check_int("seed", self.seed, 0)
        _check_number("timeout_s", self.timeout_s, "> 0", lambda v: v > 0)
        _check_number("max_failed_share", self.max_failed_share, "in [0, 1]", lambda v: 0 <= v <= 1)
        _ = self.policy  # validates max_retries and the back-off before any call

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy these settings describe (validated on creation)."""
        return RetryPolicy(self.max_retries, self.backoff_base_s, self.backoff_max_s)


def _check_int(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"telemetry.{name} must be an integer >= {low}, got {value!r}")


def _check_number(name: str, value: Any, valid: str, holds: Callable[[float], bool]) -> None:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or not math.isfinite(value) or not holds(value):
        raise ValueError(f"telemetry.{name} must be a finite number {valid}, got {value!r}")


@dataclass
class _Plan:
    cfg: dict[str, Any]  # the validated models config
    n_events: int
    pairs: list[tuple[Mapping, str]]
    jobs: list[Job]
    endpoints: dict[str, dict[str, str]]
    keys: dict[str, str]


@dataclass
class _Run:
    breakers: dict[str, CircuitBreaker]
    ok: int = 0
    finished: int = 0
    warned: set[tuple] = field(default_factory=set)

    def stopped(self) -> list[str]:
        return [b.reason for b in self.breakers.values() if b.reason is not None]

    def count(self, job: Job, outcome: CallOutcome) -> None:
        """Tally one finished pair; the first failure of each kind per model is a warning
        (with the server's message), the rest go to the log file only."""
        self.finished += 1
        self.ok += outcome.ok
        if outcome.ok:
            return
        kind = (job.model, outcome.error, outcome.status)
        level = logging.INFO if kind in self.warned else logging.WARNING
        self.warned.add(kind)
        log.log(
            level,
            "qid %s model %s failed after %d attempt(s): %s (status %s): %s",
            job.qid,
            job.model,
            outcome.attempts,
            outcome.error,
            outcome.status,
            outcome.message,
        )


def collect_latency(
    events: Iterable[Mapping[str, Any]],
    models_cfg: Mapping[str, Any],
    out_path: str | os.PathLike,
    *,
    ledger_path: str | os.PathLike | None = None,
    models: Sequence[str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Measure latency, usage and cost of the chosen models on a request stream.

    Every finished call is appended to the ledger at once (a rerun resumes from it and sends
    only the pairs without a success at the current endpoint under the same ``api``,
    ``stream`` and ``max_tokens``: :func:`request_signature`). ``out_path`` is written,
    atomically, only when the collection is finished: one row per planned pair.

    Parameters
    ----------
    events : iterable of mapping
        Stream events with ``qid`` (unique str), ``prompt`` (str) and, for
        ``pacing='stream'``, ``ts`` (epoch seconds on the replay clock).
    models_cfg : mapping
        Output of :func:`load_models_config` (validated again here).
    out_path : str or path-like
        The finished log (columns :data:`LOG_COLUMNS`).
    ledger_path : str or path-like, optional
        Resume ledger; default :func:`dacr.telemetry.ledger.default_ledger_path`.
    models : sequence of str, optional
        RouterBench ids to measure, each mapped in ``models_cfg``; default every mapped one.
    **options
        Fields of :class:`CollectOptions`.

    Returns
    -------
    dict
        Counts: ``events``, ``pairs``, ``already_ok``, ``sent``, ``not_sent``, ``ok``,
        ``failed`` (this run), ``failed_pairs`` (left without a success), ``errors`` (per
        error class), ``stopped`` (breaker reasons), ``elapsed_s``, ``requests_per_s``,
        ``out_path`` and ``ledger_path``.

    Raises
    ------
    MissingAPIKeyError
        Before any call, if a needed provider's ``api_key_env`` variable is unset.
    ValueError
        On invalid options, events or config, or a wanted model missing from the config.
    CollectionFailedError
        When pairs are left without a measurement beyond ``max_failed_share``, or a provider
        was stopped by its circuit breaker; ``out_path`` is then absent.
    """
    opts = CollectOptions.from_kwargs(options)
    out_path = Path(out_path)
    ledger = Path(ledger_path) if ledger_path is not None else default_ledger_path(out_path)
    if ledger.resolve() == out_path.resolve():
        raise ValueError(f"ledger_path and out_path are the same file ({out_path})")
    plan = _plan(events, models_cfg, models, ledger, opts)
    t0 = time.perf_counter()
    run = asyncio.run(_collect(plan, ledger, opts))
    elapsed = time.perf_counter() - t0
    verdict = judge(plan.pairs, compact_ledger(ledger, plan.endpoints), plan.endpoints)
    summary = _summary(plan, run, verdict, elapsed, out_path, ledger)
    _finish(verdict, run.stopped(), summary, opts, out_path, ledger)
    return summary


def _plan(
    events: Iterable[Mapping[str, Any]],
    models_cfg: Mapping[str, Any],
    models: Sequence[str] | None,
    ledger: Path,
    opts: CollectOptions,
) -> _Plan:
    cfg = validate_models_config(dict(models_cfg), source="<models_cfg argument>")
    chosen = select_models(cfg, models, source="<models_cfg argument>", wanted_by="models")
    events = check_events(events, need_ts=opts.pacing == "stream")
    request = request_signature(opts)
    endpoints = {m: {**endpoint_of(cfg, m), "request": request} for m in cfg["models"]}
    pairs = plan_pairs(events, chosen, per_event_models=opts.per_event_models, seed=opts.seed)
    done = {
        (str(r.get("qid")), str(r.get("model")))
        for r in compact_ledger(ledger, endpoints)
        if is_current_success(r, endpoints)
    }
    todo = [(ev, m) for ev, m in pairs if (ev["qid"], m) not in done]
    jobs = schedule_jobs(todo, pacing=opts.pacing)
    used = sorted({endpoints[j.model]["provider"] for j in jobs})
    keys = {p: api_key_from_env(cfg["providers"][p]["api_key_env"], p) for p in used}
    log.info(
        "collecting %d calls (%d of %d pairs already ok in %s), concurrency %d, pacing %s",
        len(jobs),
        len(pairs) - len(jobs),
        len(pairs),
        ledger,
        opts.concurrency,
        opts.pacing,
    )
    return _Plan(cfg, len(events), pairs, jobs, endpoints, keys)


async def _collect(plan: _Plan, ledger: Path, opts: CollectOptions) -> _Run:
    providers = plan.cfg["providers"]
    clients = {
        p: make_client(providers[p]["base_url"], key, opts.timeout_s)
        for p, key in plan.keys.items()
    }
    run = _Run(
        {p: CircuitBreaker(p, providers[p]["base_url"], opts.breaker_failures) for p in plan.keys}
    )
    writer = JsonlAppender(ledger)
    bar = tqdm(total=len(plan.jobs), unit="call", desc="latency", disable=not sys.stderr.isatty())

    def stopped(job: Job) -> bool:
        return run.breakers[plan.endpoints[job.model]["provider"]].is_open

    async def one(job: Job) -> None:
        endpoint = plan.endpoints[job.model]
        provider = endpoint["provider"]
        outcome = await _measure(
            job, endpoint, clients[provider], plan.keys[provider], run.breakers[provider], opts
        )
        writer.put(_row(job, endpoint, plan.cfg["models"][job.model], outcome))
        run.count(job, outcome)
        bar.update(1)

    offsets = [j.offset_s for j in plan.jobs] if opts.pacing == "stream" else None
    try:
        await run_bounded(
            plan.jobs, one, concurrency=opts.concurrency, offsets_s=offsets, skip=stopped
        )
    finally:
        bar.close()
        await writer.close()
        for client in clients.values():
            await client.close()
    return run


async def _measure(
    job: Job,
    endpoint: Mapping[str, str],
    client: openai.AsyncOpenAI,
    api_key: str,
    breaker: CircuitBreaker,
    opts: CollectOptions,
) -> CallOutcome:
    served_as = endpoint["served_as"]

    def attempt() -> Awaitable[Reply]:
        if opts.api == "responses":
            return responses_once(
                client, served_as, job.prompt, max_tokens=opts.max_tokens, stream=opts.stream
            )
        messages = [{"role": "user", "content": job.prompt}]
        return chat_once(
            client, served_as, messages, max_tokens=opts.max_tokens, stream=opts.stream
        )

    rng = np.random.default_rng([opts.seed, stable_int(job.qid), stable_int(job.model)])
    return await call_with_retries(
        attempt,
        policy=opts.policy,
        rng=rng,
        timeout_s=opts.timeout_s,
        what=f"qid {job.qid} model {job.model}",
        breaker=breaker,
        secrets=(api_key,),
    )


def _row(
    job: Job, endpoint: Mapping[str, str], spec: Mapping[str, Any], outcome: CallOutcome
) -> dict[str, Any]:
    reply: Reply | None = outcome.value
    p_tok = reply.prompt_tokens if reply else None
    c_tok = reply.completion_tokens if reply else None
    cost = None
    if p_tok is not None and c_tok is not None:
        cost = cost_usd(p_tok, c_tok, spec["price_in_per_1m"], spec["price_out_per_1m"])
    elif outcome.ok:
        log.warning(
            "qid %s model %s: provider returned no usage; cost_usd is null", job.qid, job.model
        )
    return {
        "qid": job.qid,
        "model": job.model,
        "served_as": endpoint["served_as"],
        "provider": endpoint["provider"],
        "ok": outcome.ok,
        "error": outcome.error,
        "status": outcome.status,
        "latency_s": outcome.latency_s,
        "ttft_s": reply.ttft_s if reply else None,
        "prompt_tokens": p_tok,
        "completion_tokens": c_tok,
        "cost_usd": cost,
        "attempts": outcome.attempts,
        "sent_ts": outcome.sent_ts,
        "total_s": outcome.total_s,
        "message": outcome.message,
        "base_url": endpoint["base_url"],
        "request": endpoint["request"],
    }


def request_signature(opts: CollectOptions) -> str:
    """The options that change what a call measures, as logged in each row's ``request``:
    ``api=chat stream=false max_tokens=256``. A ledger success counts only under the same."""
    return f"api={opts.api} stream={str(bool(opts.stream)).lower()} max_tokens={opts.max_tokens}"


def _summary(
    plan: _Plan, run: _Run, verdict: Verdict, elapsed: float, out_path: Path, ledger: Path
) -> dict[str, Any]:
    return {
        "events": plan.n_events,
        "pairs": len(plan.pairs),
        "already_ok": len(plan.pairs) - len(plan.jobs),
        "sent": run.finished,
        "not_sent": len(plan.jobs) - run.finished,
        "ok": run.ok,
        "failed": run.finished - run.ok,
        "failed_pairs": verdict.n_bad,
        "errors": error_counts(verdict.failed_rows),
        "stopped": run.stopped(),
        "elapsed_s": elapsed,
        "requests_per_s": run.finished / elapsed if elapsed > 0 else float("nan"),
        "out_path": str(out_path),
        "ledger_path": str(ledger),
    }


def _finish(
    verdict: Verdict,
    stopped: list[str],
    summary: dict[str, Any],
    opts: CollectOptions,
    out_path: Path,
    ledger: Path,
) -> None:
    if not accepted(verdict, opts.max_failed_share, stopped):
        out_path.unlink(missing_ok=True)  # an older output must not pass for this one
        message = failure_message(
            verdict,
            max_failed_share=opts.max_failed_share,
            stopped=stopped,
            ledger=ledger,
            out_path=out_path,
        )
        raise CollectionFailedError(message, summary)
    if verdict.failed_rows:
        log.warning(
            "%d of %d pairs failed (within telemetry.max_failed_share=%g); written with ok=false",
            len(verdict.failed_rows),
            verdict.n_pairs,
            opts.max_failed_share,
        )
    write_jsonl(verdict.output_rows, out_path)
    log.info("latency collection done: %s", summary)


def run_collect(
    stream_path: str | os.PathLike,
    models_file: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    long_path: str | os.PathLike | None = None,
    ledger_path: str | os.PathLike | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Collect latency for the request stream in ``stream_path``; see :func:`collect_latency`.

    Parameters
    ----------
    stream_path : str or path-like
        ``results/{experiment}/stream.jsonl``.
    models_file : str or path-like
        ``config/models.yaml``.
    out_path : str or path-like
        The finished latency log.
    long_path : str or path-like, optional
        The long form of the dataset: every model in it is measured and must be mapped in
        ``models_file`` (checked before any call). Default: every model ``models_file`` maps.
    ledger_path : str or path-like, optional
        Resume ledger (see :func:`collect_latency`).
    **options
        Fields of :class:`CollectOptions`.

    Returns
    -------
    dict
        The summary of :func:`collect_latency`.
    """
    cfg = load_models_config(models_file)
    models = None
    if long_path is not None:
        models = select_models(
            cfg, dataset_models(long_path), source=str(models_file), wanted_by=f"{long_path}"
        )
        extra = sorted(set(cfg["models"]) - set(models))
        if extra:
            log.info("%s: not measuring %s (not in %s)", models_file, extra, long_path)
    return collect_latency(
        read_events(stream_path),
        cfg,
        out_path,
        ledger_path=ledger_path,
        models=models,
        **options,
    )


def read_latency_log(path: str | os.PathLike) -> pd.DataFrame:
    """Read a latency log as one row per (qid, model), preferring the last ``ok`` row.

    Parameters
    ----------
    path : str or path-like
        JSONL written by :func:`collect_latency`, or a ledger (a truncated last line is
        ignored).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LOG_COLUMNS`, in first-logged order of the pairs.
    """
    df = pd.DataFrame(read_jsonl_records(path), columns=list(LOG_COLUMNS))
    return df if df.empty else collapse_pairs(df)
