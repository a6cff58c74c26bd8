"""Retries with back-off and seeded jitter, and a circuit breaker per provider.

dacr retries on its own (the SDK's retries are switched off) so that every attempt is visible:
429 (honouring ``Retry-After``), 408, 409, 5xx, timeouts, connection errors and malformed
bodies are retried with exponential back-off and seeded jitter; other 4xx fail at once. A call
backing off gives its concurrency slot back (see :func:`dacr.telemetry.schedule.run_bounded`),
so a failing model does not hold up the others.

A :class:`CircuitBreaker` stops a provider after a run of attempts that could not connect at
all (refused, DNS, connect timeout): a dead endpoint fails in seconds, not after every pair has
spent its retry budget.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import numpy as np

from dacr.telemetry.errors import classify_error, clean_message, error_message, is_unreachable
from dacr.telemetry.schedule import sleep_without_slot

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longest server-requested wait we honour; beyond it the provider is effectively down.
RETRY_AFTER_MAX_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retry budget and back-off of :func:`call_with_retries`.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (so at most ``max_retries + 1`` attempts).
    backoff_base_s : float
        First back-off; it doubles per retry.
    backoff_max_s : float
        Cap of the exponential back-off.
    retry_after_max_s : float
        Cap on a server's ``Retry-After``.
    """

    max_retries: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    retry_after_max_s: float = RETRY_AFTER_MAX_S

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        for name in ("backoff_base_s", "backoff_max_s", "retry_after_max_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def delay_s(self, retry_index: int, exc: BaseException, rng: np.random.Generator) -> float:
        """Seconds to wait before retry ``retry_index`` (0-based) after ``exc``."""
        server_wait = retry_after_s(exc)
        if server_wait is not None:
            # Jitter on top so the callers throttled together do not come back together.
            return min(server_wait, self.retry_after_max_s) + rng.uniform(
                0.0, 0.1 * self.backoff_base_s
            )
        cap = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry_index)
        # "Equal jitter": at least half the exponential step, so retries really back off.
        return cap / 2 + rng.uniform(0.0, cap / 2)


def retry_after_s(exc: BaseException) -> float | None:
    """Server-requested wait in seconds from ``Retry-After(-Ms)`` on ``exc``'s response.

    Returns ``None`` when there is no response, no header, or the header is unparseable.
    """
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            if name == "retry-after-ms":
                continue
            return _http_date_wait_s(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    return None


def _http_date_wait_s(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class CircuitBreaker:
    """Opens after ``threshold`` consecutive attempts to one provider that could not connect.

    Any attempt that reached the server (a success, or an HTTP error: the server is there)
    resets the count. Once open it stays open for the run; the reason names the provider,
    its URL and the underlying error.

    Parameters
    ----------
    provider : str
        Provider name in ``models.yaml``.
    base_url : str
        Its endpoint.
    threshold : int
        Consecutive connection failures that open the breaker (``telemetry.breaker_failures``).
    """

    def __init__(self, provider: str, base_url: str, threshold: int) -> None:
        self.provider = provider
        self.base_url = base_url
        self.threshold = threshold
        self.consecutive = 0
        self.reason: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether calls to the provider have stopped."""
        return self.reason is not None

    def record(self, exc: BaseException | None, message: str = "") -> None:
        """Count one finished attempt: ``exc`` is what it raised (None for a success)."""
        if self.is_open:
            return
        if exc is None or not is_unreachable(exc):
            self.consecutive = 0
            return
        self.consecutive += 1
        if self.consecutive >= self.threshold:
            self.reason = (
                f"provider {self.provider!r} at {self.base_url} is unreachable: "
                f"{self.consecutive} consecutive attempts could not connect (last: "
                f"{classify_error(exc)[0]}: {message})"
            )
            log.error("%s; no further calls to it in this run", self.reason)


@dataclass(frozen=True)
class CallOutcome:
    """Result of :func:`call_with_retries`: the value, or the last error, plus timings."""

    value: Any
    ok: bool
    error: str | None
    status: int | None
    attempts: int
    latency_s: float | None
    total_s: float
    sent_ts: float
    message: str | None = None


@dataclass(frozen=True)
class _Failed:
    exc: Exception
    error: str
    status: int | None
    retryable: bool
    message: str

    @classmethod
    def of(cls, exc: Exception, timeout_s: float, secrets: Iterable[str]) -> _Failed:
        name, status, retryable = classify_error(exc)
        message = clean_message(error_message(exc, timeout_s=timeout_s), secrets)
        return cls(exc, name, status, retryable, message)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    rng: np.random.Generator,
    timeout_s: float,
    what: str,
    breaker: CircuitBreaker | None = None,
    secrets: Iterable[str] = (),
) -> CallOutcome:
    """Run ``attempt`` until it succeeds, fails for good, or the retry budget is spent.

    Parameters
    ----------
    attempt : callable
        Makes one fresh call (a new coroutine each time).
    policy : RetryPolicy
        Budget and back-off.
    rng : numpy.random.Generator
        Source of jitter (seeded by the caller from stable indices).
    timeout_s : float
        Wall-clock deadline of one attempt, streaming included.
    what : str
        Label of the call in log messages (never the API key or prompt).
    breaker : CircuitBreaker, optional
        Told of every attempt; once it is open no further attempt is made.
    secrets : iterable of str
        Values scrubbed from error messages (the API key).

    Returns
    -------
    CallOutcome
        Never raises for API failures: a call that fails for good comes back with ``ok=False``,
        its error class, status and the server's message, so the caller can log it.
    """
    sent_ts, t_first = time.time(), time.perf_counter()
    secrets = tuple(secrets)
    failed: _Failed | None = None
    attempts = 0
    for k in range(policy.max_retries + 1):
        if failed is not None:
            wait = policy.delay_s(k - 1, failed.exc, rng)
            _log_retry(what, failed, k, policy.max_retries + 1, wait)
            await sleep_without_slot(wait)
            if breaker is not None and breaker.is_open:
                break
        attempts, t0 = k + 1, time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                value = await attempt()
        except Exception as exc:  # every failure becomes a logged row, never a crash
            failed = _Failed.of(exc, timeout_s, secrets)
            if breaker is not None:
                breaker.record(exc, failed.message)
            if not failed.retryable or (breaker is not None and breaker.is_open):
                break
            continue
        if breaker is not None:
            breaker.record(None)
        now = time.perf_counter()
        return CallOutcome(value, True, None, None, attempts, now - t0, now - t_first, sent_ts)
    assert failed is not None  # the loop returns on success
    log.debug(
        "%s: failed after %d attempt(s): %s (status %s): %s",
        what,
        attempts,
        failed.error,
        failed.status,
        failed.message,
    )
    total = time.perf_counter() - t_first
    return CallOutcome(
        None, False, failed.error, failed.status, attempts, None, total, sent_ts, failed.message
    )


def _log_retry(what: str, failed: _Failed, done: int, budget: int, wait: float) -> None:
    log.info(
        "%s: %s (status %s) on attempt %d/%d: %s; retrying in %.2f s",
        what,
        failed.error,
        failed.status,
        done,
        budget,
        failed.message,
        wait,
    )
