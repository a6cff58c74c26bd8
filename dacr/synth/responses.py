"""Model responses, sized to the published response lengths."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dacr.profile import load_profile, model_ids
from dacr.synth.helpers import _join_runs, _lengths, _lognormal_factor, _obj, _repr, _tokens
from dacr.synth.params import (
    _FAMILY_WORDS,
    _FILLER,
    _MC_LETTER_TOKENS,
    _MC_STYLE,
    _NUMBERS,
    _OPENER,
    _RESPONSE_KINDS,
    _SKILL_WORDS,
    _STREAM_BANK,
    _STREAM_RESPONSES,
    CHARS_PER_TOKEN,
    TEST_MATCH,
)
from dacr.synth.scores import _model_vector


def _length_factors(table: pd.DataFrame) -> np.ndarray:
    """Per-model multiplier on long-answer lengths matching the profile's completion tokens.

    Solves ``share_mc * 1.2 + factor * sum_e share_e * chars_e / CHARS_PER_TOKEN = target`` on
    the real eval shares.
    """
    target = _model_vector(
        load_profile()["lengths"]["zero_shot_tokens"]["completion_mean_by_model"]
    )
    share = table["real_count"].to_numpy() / table["real_count"].sum()
    lettered = table["resp_kind"].to_numpy() == _RESPONSE_KINDS.index("letter")
    long_tokens = np.sum(share * table["resp_chars"].to_numpy()) / CHARS_PER_TOKEN
    return (target - share[lettered].sum() * _MC_LETTER_TOKENS) / long_tokens


def _response_banks(seed: int) -> dict[str, np.ndarray]:
    """Sentences (prose, math), code lines and short answers that long responses are cut from."""
    rng = np.random.default_rng([seed, _STREAM_BANK])
    size = 256
    pools = {
        "prose": _FILLER + _FAMILY_WORDS["mtbench"] + _FAMILY_WORDS["other"],
        "math": _FILLER + _FAMILY_WORDS["grade-school-math"] + _SKILL_WORDS["math"] + _NUMBERS[:30],
        "code": _FAMILY_WORDS["mbpp"] + _SKILL_WORDS["code"],
        "short": _FAMILY_WORDS[TEST_MATCH] + ("Yes", "No", "1999", "2011") + _NUMBERS,
    }
    banks = {}
    for kind, words in pools.items():
        vocab = _obj(words)
        counts = rng.integers(1, 3, size) if kind == "short" else rng.integers(6, 15, size)
        text = _join_runs(vocab[rng.integers(0, vocab.size, counts.sum())], counts, " ")
        if kind == "code":
            indent = _obj(["", "    ", "    ", "        "])[rng.integers(0, 4, size)]
            text = indent + text
        elif kind in ("prose", "math"):
            text = text + "."
        banks[kind] = text
    return banks


def _lettered_answers(
    scores: np.ndarray, n_opts: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Multiple-choice answers (rows, models): the right letter iff the score is 1."""
    n, n_models = scores.shape
    style = np.array([_MC_STYLE[m] for m in model_ids()])
    right = np.floor(rng.random(n) * n_opts).astype(np.int64)[:, None]
    shift = 1 + np.floor(rng.random((n, n_models)) * (n_opts[:, None] - 1)).astype(np.int64)
    correct = scores >= 1.0
    letter = np.where(correct, right, (right + shift) % n_opts[:, None])
    newline = rng.random((n, n_models)) < style[:, 0]
    paren = rng.random((n, n_models)) < style[:, 1]
    garbage = ~correct & (rng.random((n, n_models)) < style[:, 2])
    text = (
        np.where(newline, "\n", "").astype(object)
        + _obj("ABCD")[letter]
        + np.where(paren, ")", "").astype(object)
    )
    return np.where(garbage, "\nAnswer", text)


def _long_answers(
    kind: str,
    n_cells: int,
    chars: np.ndarray,
    opener: np.ndarray,
    bank: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Long responses of one kind, ``chars`` characters on average each."""
    mean_piece = _lengths(bank).mean() + 1.0
    counts = np.maximum(1, np.rint(chars / mean_piece)).astype(np.int64)
    pieces = bank[rng.integers(0, bank.size, counts.sum())]
    body = _join_runs(pieces, counts, "\n" if kind == "code" else " ")
    if kind == "code":
        return opener + "the function:\n\n```python\n" + body + "\n```"
    if kind == "math":
        answer = pd.Series(rng.integers(2, 1000, n_cells)).astype(str).to_numpy(dtype=object)
        return opener + body + " The answer is " + answer + "."
    return opener + body


def _draw_responses(
    table: pd.DataFrame, ev: np.ndarray, scores: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Responses (list repr) and response token counts, both (prompts, models)."""
    rng = np.random.default_rng([seed, _STREAM_RESPONSES])
    n, n_models = scores.shape
    kind = table["resp_kind"].to_numpy()[ev]
    text = np.empty((n, n_models), dtype=object)
    mc_rows = np.flatnonzero(kind == _RESPONSE_KINDS.index("letter"))
    n_opts = table["n_opts"].to_numpy()[ev][mc_rows]
    text[mc_rows] = _lettered_answers(scores[mc_rows], n_opts, rng)
    banks = _response_banks(seed)
    factor = _length_factors(table)
    openers = _obj([_OPENER[m] for m in model_ids()])
    for k, name in enumerate(_RESPONSE_KINDS[1:], start=1):
        rows = np.flatnonzero(kind == k)
        if rows.size == 0:
            continue
        base = table["resp_chars"].to_numpy()[ev][rows][:, None] * factor
        chars = (base * _lognormal_factor(rng, base.shape, 0.4)).ravel()
        opener = np.broadcast_to(openers, (rows.size, n_models)).ravel()
        if name == "short":
            opener = np.full(opener.size, "", dtype=object)
        answers = _long_answers(name, chars.size, chars, opener, banks[name], rng)
        text[rows] = answers.reshape(rows.size, n_models)
    flat = text.ravel()
    reprs = ("[" + _repr(flat) + "]").reshape(n, n_models)
    return reprs, _tokens(_lengths(flat)).reshape(n, n_models)
