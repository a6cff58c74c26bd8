"""Prompt texts per eval family, drawn in bulk."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dacr.synth.evals import _eval_pools
from dacr.synth.helpers import (
    _draw_from_pools,
    _join_runs,
    _lengths,
    _lognormal_factor,
    _obj,
    _repr,
    _tokens,
)
from dacr.synth.params import (
    _EASY_MARKERS,
    _FILLER,
    _HARD_MARKERS,
    _MC_INSTRUCTION,
    _NUMBERS,
    _OPTIONS,
    _OTHER_PREFIX,
    _SKILL_GROUPS,
    _SKILL_WORDS,
    _STREAM_PROMPT,
    _WINO_INSTRUCTION,
    TEST_MATCH,
)


def _body_words(
    table: pd.DataFrame,
    ev: np.ndarray,
    d: np.ndarray,
    z: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Body text of every prompt: a shuffled bag of topic, filler, marker and skill words."""
    n = ev.size
    length = table["prompt_words"].to_numpy()[ev] * _lognormal_factor(rng, n, 0.35)
    length = np.maximum(2, np.rint(length * np.exp(0.15 * d))).astype(np.int64)
    n_topic = np.rint(0.5 * length).astype(np.int64)
    pool, start, size = _eval_pools(table)
    owner_topic = np.repeat(np.arange(n), n_topic)
    e_topic = ev[owner_topic]
    parts = [(_draw_from_pools(rng, pool, start[e_topic], size[e_topic]), owner_topic)]

    def fixed(words: tuple[str, ...], counts: np.ndarray) -> None:
        owner = np.repeat(np.arange(n), counts)
        vocab = _obj(words)
        parts.append((vocab[rng.integers(0, vocab.size, owner.size)], owner))

    fixed(_FILLER, length - n_topic)
    fixed(_HARD_MARKERS, rng.poisson(0.5 * np.exp(0.9 * d)))
    fixed(_EASY_MARKERS, rng.poisson(0.5 * np.exp(-0.9 * d)))
    for g, group in enumerate(_SKILL_GROUPS):
        fixed(_SKILL_WORDS[group], z[:, g] * (1 + rng.poisson(0.04 * length)))
    fixed(_NUMBERS, table["n_numbers"].to_numpy()[ev])
    fixed(("_",), (table["family"].to_numpy()[ev] == "winogrande").astype(np.int64))
    pieces = np.concatenate([p for p, _ in parts])
    owner = np.concatenate([o for _, o in parts])
    order = np.lexsort((rng.random(owner.size), owner))  # shuffle within each prompt
    return _join_runs(pieces[order], np.bincount(owner, minlength=n), " ")


def _option_texts(
    table: pd.DataFrame, ev: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Answer choices (or extra list elements) of every prompt, flat, with each row's start."""
    n_opts = table["n_opts"].to_numpy()[ev]
    opt_row = np.repeat(np.arange(ev.size), n_opts)
    mean_words = table["opt_words"].to_numpy()[ev][opt_row]
    counts = np.maximum(1, rng.poisson(mean_words))
    owner = np.repeat(np.arange(opt_row.size), counts)
    pool, start, size = _eval_pools(table)
    e_word = ev[opt_row][owner]
    topic = _draw_from_pools(rng, pool, start[e_word], size[e_word])
    filler = _obj(_FILLER)[rng.integers(0, len(_FILLER), owner.size)]
    words = np.where(rng.random(owner.size) < 0.6, topic, filler)
    first = np.concatenate([[0], np.cumsum(n_opts)[:-1]]).astype(np.int64)
    return _join_runs(words, counts, " "), first


def _lettered(body: np.ndarray, options: np.ndarray) -> np.ndarray:
    text = body.copy()
    for k in range(options.shape[1]):
        text = text + f"\n{'ABCD'[k]}) " + options[:, k]
    return text


def _render_family(
    family: str, names: np.ndarray, body: np.ndarray, options: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """List-repr prompt strings and their text lengths for the rows of one family."""
    if family in ("mmlu", "arc-challenge"):
        head = "Please answer with the letter of the correct answer.\n\n"
        texts = [_lettered(head + body + "?", options) + "\n" + _MC_INSTRUCTION + " Answer:"]
    elif family == "hellaswag":
        texts = [_lettered(body + ".", options) + "\n" + _MC_INSTRUCTION + "\nAnswer:"]
    elif family == "winogrande":
        texts = [_lettered(body + ".", options) + "\n" + _WINO_INSTRUCTION + "\nAnswer:"]
    elif family == "grade-school-math":
        texts = [body + "?"]
    elif family == "mbpp":
        texts = ["Write a function to " + body + "."]
    elif family == "chinese":
        texts = ["You are an assistant who answers about " + body + ".", options[:, 0]]
    elif family == TEST_MATCH:
        texts = [np.full(body.size, "Complete the phrase as concisely as possible.", object)]
        texts.append(body + " ")
    elif family == "other":
        head = pd.Series(names).map(_OTHER_PREFIX).fillna("Read the following.\n\n")
        texts = [head.to_numpy(dtype=object) + body]
    else:  # mtbench and any family without a template of its own
        texts = [body + "."]
    reprs = [_repr(t) for t in texts]
    joined = reprs[0] if len(reprs) == 1 else reprs[0] + ", " + reprs[1]
    return "[" + joined + "]", sum(_lengths(t) for t in texts)


def _draw_prompts(
    table: pd.DataFrame, ev: np.ndarray, d: np.ndarray, z: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prompt strings (list repr) and prompt token counts."""
    rng = np.random.default_rng([seed, _STREAM_PROMPT])
    body = _body_words(table, ev, d, z, rng)
    opt_text, opt_first = _option_texts(table, ev, rng)
    family = table["family"].to_numpy()[ev]
    names = table["eval_name"].to_numpy(dtype=object)[ev]
    prompts = np.empty(ev.size, dtype=object)
    chars = np.zeros(ev.size, dtype=np.int64)
    for fam in pd.unique(table["family"]):
        rows = np.flatnonzero(family == fam)
        if rows.size == 0:
            continue
        k = _OPTIONS.get(fam, (0, 0))[0]
        options = opt_text[opt_first[rows][:, None] + np.arange(k)]
        prompts[rows], chars[rows] = _render_family(fam, names[rows], body[rows], options)
    return prompts, _tokens(chars)
