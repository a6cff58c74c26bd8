"""Measured latency of the RouterBench models against OpenAI-compatible endpoints.

``config/models.yaml`` aligns each RouterBench model id with a provider (base URL and the name
of the environment variable holding its API key), the id the provider serves it as, and its
prices. :func:`collect_latency` replays a request stream against those endpoints with the
``openai`` SDK and appends one JSON line per finished call to a log that joins the RouterBench
table by RouterBench id:

``qid, model, served_as, provider, ok, error, status, latency_s, ttft_s, prompt_tokens,
completion_tokens, cost_usd, attempts, sent_ts, total_s``

``latency_s`` is the wall clock of the successful attempt (null when ``ok`` is false),
``total_s`` the wall clock from the first send to the outcome, retries and back-off included.

The log is resumable: every row is flushed and fsync'd as soon as its call finishes, a rerun
skips the (qid, model) pairs already logged with ``ok=true`` and retries the others, and
:func:`read_latency_log` collapses the log to one row per pair.

dacr retries on its own (the SDK's retries are switched off) so that every attempt is visible:
429 (honouring ``Retry-After``), 408, 409, 5xx, timeouts, connection errors and malformed
bodies are retried with exponential back-off and seeded jitter; other 4xx fail at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import openai
import pandas as pd
import yaml
from tqdm.auto import tqdm

from dacr.latency import collapse_pairs
from dacr.profile import model_ids

try:  # openai>=3 is built on httpx2, older releases on httpx
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as _httpx

log = logging.getLogger(__name__)

T = TypeVar("T")

LOG_COLUMNS = (
    "qid",
    "model",
    "served_as",
    "provider",
    "ok",
    "error",
    "status",
    "latency_s",
    "ttft_s",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "attempts",
    "sent_ts",
    "total_s",
)
PACINGS = ("asap", "stream")
PER_EVENT_MODELS = ("all", "one")
APIS = ("chat", "responses")
# Longest server-requested wait we honour; beyond it the provider is effectively down.
RETRY_AFTER_MAX_S = 60.0

_PROVIDER_KEYS = ("base_url", "api_key_env")
_MODEL_KEYS = ("provider", "served_as", "price_in_per_1m", "price_out_per_1m")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RETRY_STATUS = frozenset({408, 409, 429})


class MissingAPIKeyError(RuntimeError):
    """The environment variable that should hold a provider's API key is unset or empty."""


class EmptyStreamError(RuntimeError):
    """A streamed answer ended without a single chunk (a proxy swallowed the body)."""


# --------------------------------------------------------------------------------------------
# models.yaml
# --------------------------------------------------------------------------------------------
def load_models_config(path: str | os.PathLike) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and validate the model-alignment config (``config/models.yaml``).

    Parameters
    ----------
    path : str or path-like
        YAML file with ``providers.<name>: {base_url, api_key_env}`` and
        ``models.<RouterBench id>: {provider, served_as, price_in_per_1m, price_out_per_1m}``.

    Returns
    -------
    dict
        ``{"providers": {...}, "models": {...}}`` with prices as floats.

    Raises
    ------
    ValueError
        If the file is not YAML, a key is missing or unknown, a model id is not a RouterBench
        id, a model names an undefined provider, or a price is not a finite number >= 0. The
        message names the file, the key path and the bad value.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    return validate_models_config(raw, source=str(path))


def validate_models_config(
    raw: Any, *, source: str = "<models config>"
) -> dict[str, dict[str, dict[str, Any]]]:
    """Validate a parsed models config; see :func:`load_models_config`.

    Parameters
    ----------
    raw : Any
        The parsed YAML (or an equivalent dict built in code).
    source : str
        Name used in error messages (the file path).

    Returns
    -------
    dict
        The normalised config.
    """
    top = _mapping(raw, source, "<top level>")
    _no_unknown_keys(top, ("providers", "models"), source, "")
    providers = {
        name: _validate_provider(name, spec, source)
        for name, spec in _mapping(top.get("providers"), source, "providers").items()
    }
    known_ids = set(model_ids())
    models = {
        mid: _validate_model(mid, spec, providers, known_ids, source)
        for mid, spec in _mapping(top.get("models"), source, "models").items()
    }
    if not models:
        raise ValueError(f"{source}: key 'models' is empty; map at least one RouterBench id")
    return {"providers": providers, "models": models}


def _mapping(value: Any, source: str, key: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(
            f"{source}: key '{key}' must be a mapping, got {type(value).__name__} {value!r}"
        )
    return value


def _no_unknown_keys(spec: dict, valid: Sequence[str], source: str, prefix: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in valid)
    if unknown:
        raise ValueError(
            f"{source}: unknown key(s) {unknown} under '{prefix or '<top level>'}'; "
            f"valid keys: {list(valid)}"
        )


def _required(spec: dict, key: str, source: str, prefix: str) -> Any:
    if key not in spec:
        raise ValueError(f"{source}: missing key '{prefix}.{key}'")
    return spec[key]


def _nonempty_str(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source}: key '{key}' must be a non-empty string, got {value!r}")
    return value


def _validate_provider(name: Any, spec: Any, source: str) -> dict[str, str]:
    prefix = f"providers.{name}"
    spec = _mapping(spec, source, prefix)
    _no_unknown_keys(spec, _PROVIDER_KEYS, source, prefix)
    base_url = _nonempty_str(
        _required(spec, "base_url", source, prefix), source, f"{prefix}.base_url"
    )
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(
            f"{source}: key '{prefix}.base_url' must start with http:// or https://, "
            f"got {base_url!r}"
        )
    env = _required(spec, "api_key_env", source, prefix)
    if not isinstance(env, str) or not _ENV_NAME.match(env):
        raise ValueError(
            f"{source}: key '{prefix}.api_key_env' must name an environment variable "
            f"(letters, digits, underscores), got {env!r}"
        )
    return {"base_url": base_url, "api_key_env": env}


def _validate_model(
    mid: Any, spec: Any, providers: Mapping[str, Any], known_ids: set[str], source: str
) -> dict[str, Any]:
    prefix = f"models.{mid}"
    if mid not in known_ids:
        raise ValueError(
            f"{source}: key '{prefix}' is not a RouterBench model id; valid: {sorted(known_ids)}"
        )
    spec = _mapping(spec, source, prefix)
    _no_unknown_keys(spec, _MODEL_KEYS, source, prefix)
    provider = _required(spec, "provider", source, prefix)
    if provider not in providers:
        raise ValueError(
            f"{source}: key '{prefix}.provider' names unknown provider {provider!r}; "
            f"defined providers: {sorted(providers)}"
        )
    served_as = _nonempty_str(
        _required(spec, "served_as", source, prefix), source, f"{prefix}.served_as"
    )
    prices = {k: _price(spec, k, source, prefix) for k in ("price_in_per_1m", "price_out_per_1m")}
    return {"provider": provider, "served_as": served_as, **prices}


def _price(spec: dict, key: str, source: str, prefix: str) -> float:
    value = _required(spec, key, source, prefix)
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if not numeric or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{source}: key '{prefix}.{key}' must be a finite number >= 0 (USD per 1M tokens), "
            f"got {value!r}"
        )
    return float(value)


def cost_usd(
    prompt_tokens: int, completion_tokens: int, price_in_per_1m: float, price_out_per_1m: float
) -> float:
    """Cost of one call in USD from its token usage and per-1M-token prices.

    Parameters
    ----------
    prompt_tokens, completion_tokens : int
        Usage reported by the provider.
    price_in_per_1m, price_out_per_1m : float
        USD per 1M input / output tokens.

    Returns
    -------
    float
        ``(prompt_tokens * price_in + completion_tokens * price_out) / 1e6``.
    """
    return (prompt_tokens * price_in_per_1m + completion_tokens * price_out_per_1m) / 1e6


# --------------------------------------------------------------------------------------------
# clients and API keys
# --------------------------------------------------------------------------------------------
def api_key_from_env(var: str, provider: str) -> str:
    """Return the API key held in environment variable ``var``.

    Parameters
    ----------
    var : str
        Name of the environment variable.
    provider : str
        Provider (or endpoint) the key is for, used in the error message.

    Raises
    ------
    MissingAPIKeyError
        If the variable is unset or empty. The key itself never appears in messages.
    """
    key = os.environ.get(var, "")
    if not key.strip():
        raise MissingAPIKeyError(
            f"environment variable {var} is not set or empty; provider {provider!r} reads its "
            f"API key from it. Export {var} before running (keys are read from the "
            "environment only)."
        )
    return key


def make_client(base_url: str, api_key: str, timeout_s: float) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` client with the SDK's own retries off (dacr retries, and logs it).

    Parameters
    ----------
    base_url : str
        OpenAI-compatible endpoint, e.g. ``https://api.openai.com/v1``.
    api_key : str
        The key (from :func:`api_key_from_env`).
    timeout_s : float
        Per-request timeout handed to the SDK.

    Returns
    -------
    openai.AsyncOpenAI
    """
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s)


# --------------------------------------------------------------------------------------------
# one call
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """What one successful call returned."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_s: float | None = None


async def chat_once(
    client: openai.AsyncOpenAI,
    model: str,
    messages: list[dict[str, str]],
    *,
    max_tokens: int,
    stream: bool = False,
    **extra: Any,
) -> Reply:
    """One chat-completions call; with ``stream`` also the time to the first content token.

    Parameters
    ----------
    client : openai.AsyncOpenAI
    model : str
        Served model id.
    messages : list of dict
        Chat messages.
    max_tokens : int
        Completion budget.
    stream : bool
        Stream the answer (SSE) and ask for usage in the final chunk.
    **extra
        Further ``create`` arguments (e.g. ``temperature``).

    Returns
    -------
    Reply
    """
    if not stream:
        resp = await client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, **extra
        )
        text = (resp.choices[0].message.content or "") if resp.choices else ""
        usage = resp.usage
        return Reply(text, *_chat_usage(usage))
    t0 = time.perf_counter()
    chunks = await client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    ttft_s, usage, parts, n = None, None, [], 0
    try:
        async for chunk in chunks:
            n += 1
            content = "".join(c.delta.content or "" for c in chunk.choices if c.delta)
            if content and ttft_s is None:
                ttft_s = time.perf_counter() - t0
            parts.append(content)
            usage = chunk.usage if chunk.usage is not None else usage
    finally:
        await chunks.close()
    if n == 0:
        raise EmptyStreamError(f"stream from model {model!r} ended without any chunk")
    return Reply("".join(parts), *_chat_usage(usage), ttft_s=ttft_s)


def _chat_usage(usage: Any) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    return usage.prompt_tokens, usage.completion_tokens


async def responses_once(
    client: openai.AsyncOpenAI, model: str, prompt: str, *, max_tokens: int, stream: bool = False
) -> Reply:
    """One Responses-API call; with ``stream`` also the time to the first text delta.

    Parameters
    ----------
    client : openai.AsyncOpenAI
    model : str
        Served model id.
    prompt : str
        User input.
    max_tokens : int
        ``max_output_tokens``.
    stream : bool
        Stream server-sent events; usage comes with ``response.completed``.

    Returns
    -------
    Reply
    """
    if not stream:
        resp = await client.responses.create(
            model=model, input=prompt, max_output_tokens=max_tokens
        )
        return Reply(resp.output_text, *_responses_usage(resp.usage))
    t0 = time.perf_counter()
    events = await client.responses.create(
        model=model, input=prompt, max_output_tokens=max_tokens, stream=True
    )
    ttft_s, final, n = None, None, 0
    try:
        async for event in events:
            n += 1
            if event.type == "response.output_text.delta" and ttft_s is None:
                ttft_s = time.perf_counter() - t0
            elif event.type == "response.completed":
                final = event.response
    finally:
        await events.close()
    if n == 0 or final is None:
        raise EmptyStreamError(f"stream from model {model!r} ended without response.completed")
    return Reply(final.output_text, *_responses_usage(final.usage), ttft_s=ttft_s)


def _responses_usage(usage: Any) -> tuple[int | None, int | None]:
    if usage is None:
        return None, None
    return usage.input_tokens, usage.output_tokens


# --------------------------------------------------------------------------------------------
# retries
# --------------------------------------------------------------------------------------------
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


def classify_error(exc: BaseException) -> tuple[str, int | None, bool]:
    """Name, HTTP status and retryability of a failed attempt.

    Parameters
    ----------
    exc : BaseException
        What the attempt raised.

    Returns
    -------
    tuple
        ``(error_class, status_or_None, retryable)``. Our own wall-clock deadline
        (``TimeoutError``) is reported as ``APITimeoutError``, the SDK's name for the same
        failure.
    """
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        return type(exc).__name__, status, status in _RETRY_STATUS or status >= 500
    if isinstance(exc, openai.APIResponseValidationError):
        return type(exc).__name__, exc.status_code, True
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return type(exc).__name__, None, True
    if isinstance(exc, TimeoutError):
        return "APITimeoutError", None, True
    if isinstance(exc, json.JSONDecodeError | EmptyStreamError):
        return type(exc).__name__, None, True
    # Raw transport errors escape the SDK while a stream body is being read.
    if isinstance(exc, _httpx.TransportError | ConnectionError):
        return type(exc).__name__, None, True
    return type(exc).__name__, None, False


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


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    rng: np.random.Generator,
    timeout_s: float,
    what: str,
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

    Returns
    -------
    CallOutcome
        Never raises for API failures: a call that fails for good comes back with ``ok=False``
        and its error class, so the caller can log it instead of dropping it.
    """
    sent_ts = time.time()
    t_first = time.perf_counter()
    for k in range(policy.max_retries + 1):
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                value = await attempt()
        except Exception as exc:  # every failure becomes a logged row, never a crash
            name, status, retryable = classify_error(exc)
            if not retryable:
                log.warning("%s: %s (status %s) is not retryable", what, name, status)
            if not retryable or k == policy.max_retries:
                total = time.perf_counter() - t_first
                return CallOutcome(None, False, name, status, k + 1, None, total, sent_ts)
            wait = policy.delay_s(k, exc, rng)
            log.info(
                "%s: %s (status %s) on attempt %d/%d; retrying in %.2f s",
                what,
                name,
                status,
                k + 1,
                policy.max_retries + 1,
                wait,
            )
            await asyncio.sleep(wait)
        else:
            now = time.perf_counter()
            return CallOutcome(value, True, None, None, k + 1, now - t0, now - t_first, sent_ts)
    raise AssertionError("unreachable: the loop returns on its last attempt")


# --------------------------------------------------------------------------------------------
# JSONL: resumable append-only logs
# --------------------------------------------------------------------------------------------
def _parse_jsonl(data: bytes, path: Path) -> list[dict]:
    rows = []
    for i, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}:{i}: not valid JSON ({exc.msg}); only a truncated last line is "
                "repaired automatically — move the file aside to start over"
            ) from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{i}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def read_jsonl_records(path: str | os.PathLike, *, repair: bool = False) -> list[dict]:
    """Read a JSONL file, tolerating a truncated last line from an interrupted writer.

    Parameters
    ----------
    path : str or path-like
        The file; a missing file reads as empty.
    repair : bool
        Truncate the file back to its last newline (so appends start on a fresh line).

    Returns
    -------
    list of dict
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    cut = data.rfind(b"\n") + 1
    if cut < len(data):
        log.warning(
            "%s: ignoring a truncated last line (%d bytes) left by an interrupted run%s",
            path,
            len(data) - cut,
            "; truncating the file" if repair else "",
        )
        if repair:
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                fh.flush()
                os.fsync(fh.fileno())
    return _parse_jsonl(data[:cut], path)


class JsonlAppender:
    """Single writer that appends rows to a JSONL file, flushed and fsync'd as they come.

    Rows from many tasks go through one queue, so lines never interleave. The writer drains
    whatever is queued, writes it, flushes and fsyncs (in a thread, so the event loop keeps
    sending) before it takes the next batch: a "group commit", one fsync per batch.
    Create it inside a running event loop and ``await close()`` when done.

    Parameters
    ----------
    path : str or path-like
        File to append to (created if missing).
    """

    _STOP = object()

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # closed in close()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())
        self.n_written = 0

    def put(self, row: Mapping[str, Any]) -> None:
        """Queue one row; raises if the writer has died (e.g. disk full)."""
        if self._task.done():
            self._task.result()
            raise RuntimeError(f"{self.path}: writer stopped; cannot append")
        self._queue.put_nowait(json.dumps(row) + "\n")

    async def close(self) -> None:
        """Write everything queued, then close the file."""
        if not self._task.done():
            self._queue.put_nowait(self._STOP)
        try:
            await self._task
        finally:
            self._fh.close()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            lines = [b for b in batch if b is not self._STOP]
            if lines:
                await asyncio.to_thread(self._write, "".join(lines))
                self.n_written += len(lines)
            if len(lines) < len(batch):
                return

    def _write(self, text: str) -> None:
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())


# --------------------------------------------------------------------------------------------
# events and jobs
# --------------------------------------------------------------------------------------------
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
    return _parse_jsonl(path.read_bytes(), path)


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


@dataclass(frozen=True)
class _Job:
    qid: str
    prompt: str
    model: str
    offset_s: float


def _plan_jobs(
    events: Sequence[Mapping],
    models: Sequence[str],
    done: set[tuple[str, str]],
    *,
    per_event_models: str,
    pacing: str,
    time_warp: float,
    seed: int,
) -> list[_Job]:
    pairs = []
    for ev in events:
        chosen = models if per_event_models == "all" else [pick_model(ev["qid"], models, seed)]
        pairs += [(ev, m) for m in chosen if (ev["qid"], m) not in done]
    if pacing == "asap" or not pairs:
        return [_Job(ev["qid"], ev["prompt"], m, 0.0) for ev, m in pairs]
    # Offsets start at the first pair still to send, so a resumed replay does not idle
    # through the part of the stream that is already logged.
    pairs.sort(key=lambda p: float(p[0]["ts"]))
    ts0 = float(pairs[0][0]["ts"])
    return [
        _Job(ev["qid"], ev["prompt"], m, (float(ev["ts"]) - ts0) / time_warp) for ev, m in pairs
    ]


# --------------------------------------------------------------------------------------------
# the collector
# --------------------------------------------------------------------------------------------
async def run_bounded(
    items: Sequence[T],
    worker: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
    offsets_s: Sequence[float] | None = None,
) -> None:
    """Run ``worker`` on each item, at most ``concurrency`` at once, optionally on a schedule.

    Parameters
    ----------
    items : sequence
        Work items, in dispatch order.
    worker : callable
        Coroutine function handling one item.
    concurrency : int
        Limit on items in flight (an ``asyncio.Semaphore``).
    offsets_s : sequence of float, optional
        Open-loop schedule: item ``i`` is dispatched no earlier than ``offsets_s[i]`` seconds
        after the start, whether or not earlier items have finished. When all slots are busy
        it waits for one, so a saturated endpoint queues requests rather than dropping them.
    """
    sem = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def guarded(item: T) -> None:
        try:
            await worker(item)
        finally:
            sem.release()

    async with asyncio.TaskGroup() as group:
        for i, item in enumerate(items):
            if offsets_s is not None:
                wait = start + offsets_s[i] - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await sem.acquire()
            group.create_task(guarded(item))


def _check_options(
    concurrency: int,
    timeout_s: float,
    pacing: str,
    time_warp: float,
    per_event_models: str,
    api: str,
    max_tokens: int,
    seed: int,
) -> None:
    choices = {
        "pacing": (pacing, PACINGS),
        "per_event_models": (per_event_models, PER_EVENT_MODELS),
        "api": (api, APIS),
    }
    for name, (value, valid) in choices.items():
        if value not in valid:
            raise ValueError(f"{name}={value!r} is not valid; valid: {list(valid)}")
    for name, value in {"concurrency": concurrency, "max_tokens": max_tokens}.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    for name, value in {"timeout_s": timeout_s, "time_warp": time_warp}.items():
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _row(job: _Job, spec: Mapping[str, Any], outcome: CallOutcome) -> dict[str, Any]:
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
        "served_as": spec["served_as"],
        "provider": spec["provider"],
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
    }


def collect_latency(
    events: Iterable[Mapping[str, Any]],
    models_cfg: Mapping[str, Any],
    out_path: str | os.PathLike,
    *,
    concurrency: int = 8,
    timeout_s: float = 60.0,
    max_retries: int = 4,
    pacing: str = "asap",
    time_warp: float = 1.0,
    per_event_models: str = "all",
    stream: bool = False,
    api: str = "chat",
    max_tokens: int = 256,
    seed: int = 0,
    backoff_base_s: float = 0.5,
    backoff_max_s: float = 20.0,
) -> dict[str, Any]:
    """Measure latency, usage and cost of every mapped model on a request stream.

    Parameters
    ----------
    events : iterable of mapping
        Stream events with ``qid`` (unique str), ``prompt`` (str) and, for
        ``pacing='stream'``, ``ts`` (epoch seconds).
    models_cfg : mapping
        Output of :func:`load_models_config` (validated again here).
    out_path : str or path-like
        JSONL log (see the module docstring); appended to and resumed from.
    concurrency : int
        Most calls in flight at once.
    timeout_s : float
        Wall-clock deadline of one attempt (streaming included).
    max_retries : int
        Retries after the first attempt.
    pacing : {"asap", "stream"}
        ``asap`` sends as fast as ``concurrency`` allows; ``stream`` replays the ``ts`` offsets
        open-loop, sending event ``e`` at ``(ts_e - ts_0) / time_warp`` s after the start.
    time_warp : float
        Speed-up of the replayed clock (2.0 replays twice as fast).
    per_event_models : {"all", "one"}
        Every mapped model per event, or one chosen by :func:`pick_model`.
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

    Returns
    -------
    dict
        Counts: ``events``, ``pairs``, ``already_ok``, ``sent``, ``ok``, ``failed``, ``errors``
        (per error class), ``elapsed_s``, ``requests_per_s`` and ``out_path``.

    Raises
    ------
    MissingAPIKeyError
        Before any call, if a needed provider's ``api_key_env`` variable is unset.
    ValueError
        On invalid options, events or config.
    """
    _check_options(
        concurrency, timeout_s, pacing, time_warp, per_event_models, api, max_tokens, seed
    )
    policy = RetryPolicy(max_retries, backoff_base_s, backoff_max_s)
    cfg = validate_models_config(dict(models_cfg), source="<models_cfg argument>")
    events = check_events(events, need_ts=pacing == "stream")
    models = sorted(cfg["models"])
    out_path = Path(out_path)
    done = {
        (r.get("qid"), r.get("model"))
        for r in read_jsonl_records(out_path, repair=True)
        if r.get("ok")
    }
    jobs = _plan_jobs(
        events,
        models,
        done,
        per_event_models=per_event_models,
        pacing=pacing,
        time_warp=time_warp,
        seed=seed,
    )
    n_pairs = len(events) * (len(models) if per_event_models == "all" else 1)
    used = sorted({cfg["models"][j.model]["provider"] for j in jobs})
    keys = {p: api_key_from_env(cfg["providers"][p]["api_key_env"], p) for p in used}
    log.info(
        "collecting %d calls (%d of %d pairs already ok in %s), concurrency %d, pacing %s",
        len(jobs),
        n_pairs - len(jobs),
        n_pairs,
        out_path,
        concurrency,
        pacing,
    )
    call_opts = {"stream": stream, "api": api, "max_tokens": max_tokens, "seed": seed}
    t0 = time.perf_counter()
    counts = asyncio.run(
        _collect(jobs, cfg, keys, out_path, policy, timeout_s, concurrency, pacing, call_opts)
    )
    elapsed = time.perf_counter() - t0
    n_ok = counts.pop("__ok__", 0)
    summary = {
        "events": len(events),
        "pairs": n_pairs,
        "already_ok": n_pairs - len(jobs),
        "sent": len(jobs),
        "ok": n_ok,
        "failed": len(jobs) - n_ok,
        "errors": dict(counts),
        "elapsed_s": elapsed,
        "requests_per_s": len(jobs) / elapsed if elapsed > 0 else float("nan"),
        "out_path": str(out_path),
    }
    log.info("latency collection done: %s", summary)
    return summary


async def _collect(
    jobs: list[_Job],
    cfg: Mapping[str, Any],
    keys: Mapping[str, str],
    out_path: Path,
    policy: RetryPolicy,
    timeout_s: float,
    concurrency: int,
    pacing: str,
    call_opts: Mapping[str, Any],
) -> Counter:
    providers = cfg["providers"]
    clients = {p: make_client(providers[p]["base_url"], k, timeout_s) for p, k in keys.items()}
    writer = JsonlAppender(out_path)
    counts: Counter = Counter()
    bar = tqdm(total=len(jobs), unit="call", desc="latency", disable=not sys.stderr.isatty())

    async def one(job: _Job) -> None:
        spec = cfg["models"][job.model]
        outcome = await _measure(job, spec, clients[spec["provider"]], policy, timeout_s, call_opts)
        writer.put(_row(job, spec, outcome))
        counts["__ok__" if outcome.ok else outcome.error] += 1
        bar.update(1)

    offsets = [j.offset_s for j in jobs] if pacing == "stream" else None
    try:
        await run_bounded(jobs, one, concurrency=concurrency, offsets_s=offsets)
    finally:
        bar.close()
        await writer.close()
        for client in clients.values():
            await client.close()
    return counts


async def _measure(
    job: _Job,
    spec: Mapping[str, Any],
    client: openai.AsyncOpenAI,
    policy: RetryPolicy,
    timeout_s: float,
    call_opts: Mapping[str, Any],
) -> CallOutcome:
    served_as, stream, max_tokens = spec["served_as"], call_opts["stream"], call_opts["max_tokens"]

    def attempt() -> Awaitable[Reply]:
        if call_opts["api"] == "responses":
            return responses_once(
                client, served_as, job.prompt, max_tokens=max_tokens, stream=stream
            )
        messages = [{"role": "user", "content": job.prompt}]
        return chat_once(client, served_as, messages, max_tokens=max_tokens, stream=stream)

    rng = np.random.default_rng([call_opts["seed"], stable_int(job.qid), stable_int(job.model)])
    what = f"qid {job.qid} model {job.model}"
    return await call_with_retries(attempt, policy=policy, rng=rng, timeout_s=timeout_s, what=what)


def run_collect(
    stream_path: str | os.PathLike,
    models_file: str | os.PathLike,
    out_path: str | os.PathLike,
    **kwargs: Any,
) -> dict[str, Any]:
    """Collect latency for the request stream in ``stream_path``; see :func:`collect_latency`.

    Parameters
    ----------
    stream_path : str or path-like
        ``results/{experiment}/stream.jsonl``.
    models_file : str or path-like
        ``config/models.yaml``.
    out_path : str or path-like
        JSONL latency log.
    **kwargs
        Keywords of :func:`collect_latency`.

    Returns
    -------
    dict
        The summary of :func:`collect_latency`.
    """
    cfg = load_models_config(models_file)
    return collect_latency(read_events(stream_path), cfg, out_path, **kwargs)


def read_latency_log(path: str | os.PathLike) -> pd.DataFrame:
    """Read a latency log as one row per (qid, model), preferring the last ``ok`` row.

    A resumed run may have logged a failed attempt and later a successful one for the same
    pair; consumers see only the latter. Pairs that never succeeded keep their last failure.

    Parameters
    ----------
    path : str or path-like
        JSONL written by :func:`collect_latency` (a truncated last line is ignored).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LOG_COLUMNS`, in first-logged order of the pairs.
    """
    df = pd.DataFrame(read_jsonl_records(path), columns=list(LOG_COLUMNS))
    return df if df.empty else collapse_pairs(df)
