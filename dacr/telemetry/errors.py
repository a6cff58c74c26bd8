"""What a failed attempt was: its class, HTTP status, whether to retry it, whether the endpoint
could not be reached at all, and the server's own words (never the API key)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterable, Iterator

import openai

from dacr.telemetry.client import EmptyStreamError

try:  # openai>=3 is built on httpx2, older releases on httpx
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx as _httpx

# Longest server message kept in a row or a log line.
MESSAGE_MAX_CHARS = 300
REDACTED = "[REDACTED]"
_RETRY_STATUS = frozenset({408, 409, 429})
_UNREACHABLE = (_httpx.ConnectError, _httpx.ConnectTimeout, ConnectionRefusedError, socket.gaierror)


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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first. Suppressed contexts
    are followed too: httpcore re-raises ``from None`` and would hide the root cause."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen and len(seen) < 16:
        seen.add(id(node))
        yield node
        node = node.__cause__ or node.__context__


def is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means no connection could be made at all: refused, DNS or connect
    timeout. A reset or read timeout of an accepted connection is not (the server is there).
    """
    return any(isinstance(e, _UNREACHABLE) for e in _causes(exc))


def error_message(exc: BaseException, *, timeout_s: float | None = None) -> str:
    """The most telling text of a failure: the server's ``error.message`` for an HTTP error,
    else the chain of underlying errors (``Connection error. <- [Errno 111] ...``).

    Not truncated or scrubbed; see :func:`clean_message`.
    """
    if isinstance(exc, openai.APIStatusError):
        return _body_message(exc.body) or exc.message
    if isinstance(exc, TimeoutError) and not isinstance(exc, openai.APIError):
        return f"no complete answer within timeout_s={timeout_s} s"
    parts: list[str] = []
    for e in _causes(exc):
        if isinstance(e, asyncio.CancelledError):  # how a deadline is enforced: noise
            continue
        text = str(e).strip() or type(e).__name__
        if text not in parts:
            parts.append(text)
    return " <- ".join(parts)


def _body_message(body: object) -> str | None:
    if isinstance(body, dict):
        message = body.get("message")
        return message if isinstance(message, str) and message else json.dumps(body)[:1000]
    if isinstance(body, str) and body.strip():
        return body.strip()
    return None


def clean_message(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``[REDACTED]``, then cut to
    :data:`MESSAGE_MAX_CHARS` (scrubbing first, so a cut never leaves half a key)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    if len(text) > MESSAGE_MAX_CHARS:
        text = text[: MESSAGE_MAX_CHARS - 3] + "..."
    return text
