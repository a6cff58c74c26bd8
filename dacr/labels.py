"""Coarse domain labels for request-stream prompts, asked of an LLM.

Each distinct prompt is sent once to an OpenAI-compatible chat model with a short system
prompt asking for exactly one label of :data:`TAXONOMY`; the answer is normalised and anything
outside the taxonomy becomes ``other``. Answers are cached in a JSONL file keyed by the
SHA-256 of the prompt text (and the labelling model), appended and flushed per answer, so a
rerun after a crash asks only for what is missing. The calls reuse the retry policy of
:mod:`dacr.telemetry`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dacr.io import write_jsonl
from dacr.telemetry import (
    JsonlAppender,
    RetryPolicy,
    api_key_from_env,
    call_with_retries,
    chat_once,
    make_client,
    read_events,
    read_jsonl_records,
    run_bounded,
    stable_int,
)

log = logging.getLogger(__name__)

TAXONOMY = (
    "math",
    "code",
    "knowledge_qa",
    "commonsense",
    "dialogue_chat",
    "reasoning",
    "summarization",
    "translation",
    "rag",
    "other",
)

SYSTEM_PROMPT = (
    "You classify a user's request into one coarse domain. Answer with exactly one label from "
    "this list and nothing else: " + ", ".join(TAXONOMY) + ".\n"
    "math: arithmetic, algebra, calculus, word problems. code: writing, fixing or explaining "
    "programs. knowledge_qa: factual or academic questions. commonsense: everyday physical or "
    "social situations. dialogue_chat: open conversation or advice. reasoning: logic puzzles "
    "and multi-step deduction. summarization: condensing a given text. translation: between "
    "languages. rag: answering from a supplied document or context. other: none of these."
)
# Budget for the label itself ("knowledge_qa" is a handful of tokens in any tokenizer).
LABEL_MAX_TOKENS = 10
# Long prompts (RAG contexts) are cut to their head and tail: the domain shows in both and
# the cost of labelling stays bounded. The cache key is still the full prompt's digest.
_HEAD_CHARS, _TAIL_CHARS = 3000, 1000


def normalise_label(answer: str) -> str:
    """Map a model's raw answer onto :data:`TAXONOMY` (anything else becomes ``other``).

    Parameters
    ----------
    answer : str
        Raw text, e.g. ``" Math.\\n"`` or ``"Knowledge QA"``.

    Returns
    -------
    str
        A member of :data:`TAXONOMY`: stripped, lower-cased, punctuation removed, and spaces,
        hyphens and slashes joined by underscores (``"Knowledge QA"`` -> ``knowledge_qa``).
    """
    text = answer.strip().lower()
    text = re.sub(r"[\s/\-]+", "_", text)
    text = re.sub(r"[^\w]", "", text).strip("_")
    return text if text in TAXONOMY else "other"


def prompt_digest(prompt: str) -> str:
    """SHA-256 hex digest of the prompt text, the cache key."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _clip(prompt: str) -> str:
    if len(prompt) <= _HEAD_CHARS + _TAIL_CHARS:
        return prompt
    return prompt[:_HEAD_CHARS] + "\n[...]\n" + prompt[-_TAIL_CHARS:]


def _read_cache(cache_path: Path, model: str) -> dict[str, str]:
    cache: dict[str, str] = {}
    for i, row in enumerate(read_jsonl_records(cache_path, repair=True), start=1):
        label = row.get("label")
        if label not in TAXONOMY:
            raise ValueError(
                f"{cache_path}: row {i} has label {label!r}; valid labels: {list(TAXONOMY)}"
            )
        # A cache shared between labelling models keeps each model's answers apart.
        if row.get("model") == model:
            cache[row["sha256"]] = label
    return cache


def _unique_prompts(events: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    by_digest: dict[str, str] = {}
    for i, ev in enumerate(events):
        prompt = ev.get("prompt")
        if not isinstance(prompt, str):
            raise ValueError(f"event {i}: key 'prompt' must be a string, got {prompt!r}")
        by_digest.setdefault(prompt_digest(prompt), prompt)
    return by_digest


def label_domains(
    events: Iterable[Mapping[str, Any]],
    *,
    base_url: str,
    model: str,
    api_key_env: str,
    cache_path: str | os.PathLike,
    concurrency: int = 8,
    timeout_s: float = 30,
    max_retries: int = 3,
    seed: int = 0,
) -> list[dict]:
    """Label each event's prompt with one domain of :data:`TAXONOMY`.

    Parameters
    ----------
    events : iterable of mapping
        Stream events, each with a ``prompt`` (str).
    base_url : str
        OpenAI-compatible endpoint of the labelling model.
    model : str
        Served id of the labelling model.
    api_key_env : str
        Name of the environment variable holding the API key.
    cache_path : str or path-like
        JSONL cache ``{sha256, model, label, answer}``; read first, appended per answer.
    concurrency : int
        Most calls in flight at once.
    timeout_s : float
        Deadline of one attempt.
    max_retries : int
        Retries after the first attempt (see :class:`dacr.telemetry.RetryPolicy`).
    seed : int
        Seed of the back-off jitter.

    Returns
    -------
    list of dict
        The input events, each a new dict with an added ``llm_domain``.

    Raises
    ------
    MissingAPIKeyError
        Before any call, if ``api_key_env`` is unset.
    RuntimeError
        If some prompts still failed after the retries; the answers obtained stay cached, so a
        rerun asks only for the rest.
    """
    events = list(events)
    cache_path = Path(cache_path)
    prompts = _unique_prompts(events)
    cache = _read_cache(cache_path, model)
    todo = [d for d in prompts if d not in cache]
    log.info(
        "labelling %d distinct prompts (%d cached, %d to ask) with %s",
        len(prompts),
        len(prompts) - len(todo),
        len(todo),
        model,
    )
    if todo:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        labeller = _Labeller(
            client_args=(base_url, api_key_from_env(api_key_env, base_url), timeout_s),
            model=model,
            policy=RetryPolicy(max_retries=max_retries),
            timeout_s=timeout_s,
            seed=seed,
        )
        failures = asyncio.run(_ask_all(labeller, todo, prompts, cache, cache_path, concurrency))
        if failures:
            raise RuntimeError(
                f"{sum(failures.values())} of {len(todo)} prompts could not be labelled "
                f"by {model!r} at {base_url} (errors: {dict(failures)}); the other answers "
                f"are cached in {cache_path}, rerun to ask only for the rest"
            )
    return [{**ev, "llm_domain": cache[prompt_digest(ev["prompt"])]} for ev in events]


@dataclass(frozen=True)
class _Labeller:
    client_args: tuple[str, str, float] = field(repr=False)  # holds the API key: never shown
    model: str
    policy: RetryPolicy
    timeout_s: float
    seed: int


async def _ask_all(
    labeller: _Labeller,
    todo: list[str],
    prompts: Mapping[str, str],
    cache: dict[str, str],
    cache_path: Path,
    concurrency: int,
) -> Counter:
    client = make_client(*labeller.client_args)
    writer = JsonlAppender(cache_path)
    failures: Counter = Counter()

    async def ask(digest: str) -> None:
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _clip(prompts[digest])},
        ]

        def attempt():
            return chat_once(
                client, labeller.model, messages, max_tokens=LABEL_MAX_TOKENS, temperature=0
            )

        outcome = await call_with_retries(
            attempt,
            policy=labeller.policy,
            rng=np.random.default_rng([labeller.seed, stable_int(digest)]),
            timeout_s=labeller.timeout_s,
            what=f"label prompt {digest[:12]}",
        )
        if not outcome.ok:
            failures[outcome.error] += 1
            return
        label = normalise_label(outcome.value.text)
        cache[digest] = label
        writer.put(
            {
                "sha256": digest,
                "model": labeller.model,
                "label": label,
                "answer": outcome.value.text,
            }
        )

    try:
        await run_bounded(todo, ask, concurrency=concurrency)
    finally:
        await writer.close()
        await client.close()
    return failures


def run_label(
    stream_path: str | os.PathLike,
    out_path: str | os.PathLike,
    cache_path: str | os.PathLike,
    **kwargs: Any,
) -> dict[str, int]:
    """Label the request stream in ``stream_path`` and write ``stream_labeled.jsonl``.

    Parameters
    ----------
    stream_path : str or path-like
        ``results/{experiment}/stream.jsonl``.
    out_path : str or path-like
        Output JSONL: the events plus ``llm_domain``, written atomically.
    cache_path : str or path-like
        Label cache (see :func:`label_domains`).
    **kwargs
        ``base_url``, ``model``, ``api_key_env`` and the other keywords of
        :func:`label_domains`.

    Returns
    -------
    dict
        Count of events per label.
    """
    labelled = label_domains(read_events(stream_path), cache_path=cache_path, **kwargs)
    write_jsonl(labelled, out_path)
    counts = Counter(ev["llm_domain"] for ev in labelled)
    log.info("wrote %d labelled events to %s: %s", len(labelled), out_path, dict(counts))
    return dict(counts)
