"""OpenAI-compatible clients and single calls (Chat Completions and Responses, plain or streamed).

The SDK's own retries are off: :mod:`dacr.telemetry.retry` retries, so every attempt is seen.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import openai

# Longest wait for a TCP (and TLS) connection, the SDK's own default: an endpoint that does
# not accept within it is down, and the circuit breaker must hear so within seconds. Never
# more than half the attempt's deadline, so a dead endpoint shows as a connect timeout.
CONNECT_TIMEOUT_S = 5.0


class MissingAPIKeyError(RuntimeError):
    """The environment variable that should hold a provider's API key is unset or empty."""

    user_facing = True  # the message says it all: logged without a traceback


class EmptyStreamError(RuntimeError):
    """A streamed answer ended without a single chunk (a proxy swallowed the body)."""


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
        Per-request timeout handed to the SDK; connecting may take at most
        ``min(timeout_s / 2, CONNECT_TIMEOUT_S)``.

    Returns
    -------
    openai.AsyncOpenAI
    """
    timeout = openai.Timeout(timeout_s, connect=min(timeout_s / 2, CONNECT_TIMEOUT_S))
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout)


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
        return Reply(text, *_chat_usage(resp.usage))
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
