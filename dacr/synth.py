"""A deterministic synthetic RouterBench written in the real file formats.

The generator produces the 37-column wide layout of ``routerbench_0shot.pkl`` (and, through
:func:`wide_to_raw`, the long layout of ``routerbench_raw.pkl``) with marginals taken from the
published profile (:func:`dacr.profile.load_profile`). It holds no real rows.

Design
------
Rows
    The 85 ``eval_name`` values of :func:`dacr.profile.eval_counts` (MMLU subjects carry the
    profile's ``mmlu-`` prefix, as in the real file) plus the ``test-match`` smoke rows share
    ``n_prompts`` by a largest-remainder rule on the real counts (ties go to the earlier eval in
    profile order), so ``n_prompts=36497`` reproduces the real counts exactly. When ``test-match``
    is selected, ``n_prompts >= 100`` and the rule gave it no row, one row is moved to it from the
    largest eval, so loaders always meet (and drop) a smoke row. Rows are then shuffled.
Quality
    Each prompt has a latent difficulty ``d = mu_eval + N(0, 1)`` and, per skill group (code,
    math, chinese, law, science), a latent topic flag ``z`` whose probability depends on the eval.
    The prompt text is a shuffled bag of words drawn from the eval's vocabulary, generic words,
    ``Poisson(0.5 exp(0.9 d))`` "hard" markers, ``Poisson(0.5 exp(-0.9 d))`` "easy" markers and,
    when ``z = 1``, words of that skill group, wrapped in the real templates (MMLU and ARC
    questions with lettered choices, HellaSwag completions, GSM8K word problems, MBPP "Write a
    function to ...", chat-style lists for the Chinese and test-match evals). The probability
    that model ``m`` succeeds is ``sigmoid(a[m, group] + delta[family] - beta[m] d +
    sum_g gamma[m, g] z_g)``: the shared ``d`` correlates the models, the skill words shift which
    model is best, and all of it is readable from the text.
Calibration
    ``a[m, group]`` is solved in-sample by vectorised, step-clipped Newton iterations so that the
    expected score of every model matches the profile on four groups: multiple choice (MMLU,
    HellaSwag, ARC, Winogrande; target re-derived from the overall, GSM8K and MBPP accuracies the
    way the profile's estimate was), ``grade-school-math``, ``mbpp`` and the rest (overall mean).
Scores
    Binary for most evals. ``grade-school-math`` is ``0.25 + 0.25 Binomial(2, p)`` with a 3 %
    chance that 0.25 drops to 0 and 0.75 rises to 1 (the real file is almost all 0.25/0.5/0.75);
    ``mtbench*`` is ``Binomial(10, p) / 10``; ``consensus_summary`` and ``chinese_idioms`` are
    ``Binomial(4, p) / 4``. The expected score is affine in ``p`` and the calibration uses it.
Lengths and cost
    Token counts are ``ceil(chars / CHARS_PER_TOKEN)`` of the text inside the list repr (one shared
    tokenizer, as in the real costs; the real rows give 4.1-4.7 characters per token). Prompt
    lengths per family give a mean near the profile's 187 tokens; multiple-choice answers are one
    or two tokens; long answers scale the profile's GSM8K (584 chars) and MBPP (910 chars) lengths
    by a per-model factor chosen so that the mean completion tokens match
    ``zero_shot_tokens.completion_mean_by_model``. ``total_cost = (prompt_tokens * price_in +
    response_tokens * price_out) / 1e6`` with :func:`dacr.profile.prices_per_1m`.
Oracle
    Among the models with the row's maximum score, the cheapest on that row (first in score-column
    order on a tie); ``no_model_correct`` when every score is 0.

All randomness comes from ``np.random.default_rng([seed, stream])`` with one fixed stream index per
purpose, so the same ``(n_prompts, seed, families)`` gives the same frame and pickle bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dacr.profile import eval_counts, family_of, load_profile, model_ids, prices_per_1m
from dacr.routerbench import SYNTHETIC_ATTR

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4.0
"""Characters of list-element text per token used to turn lengths into token counts."""

TEST_MATCH = "test-match"
FORMATS = ("wide", "long")

# One random stream per purpose: changing how responses are drawn leaves scores untouched.
_STREAM_EVAL, _STREAM_ROWS, _STREAM_LATENT, _STREAM_PROMPT = 0, 1, 2, 3
_STREAM_SCORES, _STREAM_RESPONSES, _STREAM_BANK = 4, 5, 6

_SENTINEL = "\x1f"  # never in the vocabularies; splits one big join back into strings
_MC_FAMILIES = ("mmlu", "hellaswag", "arc-challenge", "winogrande")
_VAL_SPLIT_FAMILIES = _MC_FAMILIES  # HF-style sets use `val`, OpenAI-evals-style sets `dev`
_CALIB_GROUPS = ("mc", "gsm", "mbpp", "rest")
_GSM_EDGE_PROB = 0.03  # chance that a GSM8K 0.25 drops to 0 or a 0.75 rises to 1

# ---------------------------------------------------------------------------------------------
# Vocabularies (illustrative; only their roles matter: topic, filler, markers, skills)
# ---------------------------------------------------------------------------------------------
_FILLER = (
    "the", "of", "and", "a", "to", "in", "is", "that", "for", "with", "as", "on", "was",
    "which", "by", "this", "are", "from", "at", "an", "be", "has", "have", "it", "its", "their",
    "his", "her", "they", "what", "most", "following", "after", "before", "each", "some", "all",
    "more", "than", "when", "about", "into", "one", "two", "three", "new", "over", "only", "also",
    "other", "between", "during", "both", "these", "those", "such", "would", "could", "should",
    "will", "not", "but", "there", "then", "while", "because", "under", "within", "without",
    "through", "many", "several", "given", "based", "likely", "best",
)  # fmt: skip

_FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "mmlu": (
        "theory", "principle", "concept", "statement", "argument", "process", "structure",
        "function", "system", "evidence", "effect", "factor", "example", "definition",
        "approach", "model", "result", "analysis", "relationship", "property", "condition",
        "method", "period", "society", "individual", "response", "role", "value", "level",
        "change", "development", "study",
    ),
    "hellaswag": (
        "man", "woman", "person", "boy", "girl", "people", "kitchen", "water", "ball", "camera",
        "floor", "table", "shows", "holding", "standing", "walking", "begins", "continues",
        "talking", "wearing", "using", "room", "outside", "car", "dog", "hair", "hands", "front",
        "shown", "team", "field", "brush", "bike", "rope", "paint", "step", "title", "header",
    ),
    "grade-school-math": (
        "apples", "dollars", "cents", "hours", "minutes", "days", "week", "students", "books",
        "cookies", "miles", "boxes", "tickets", "pounds", "friends", "store", "bought", "sold",
        "spent", "earned", "costs", "total", "left", "times", "half", "many", "much", "how",
        "does", "did", "had", "gives", "shares", "buys",
    ),
    "arc-challenge": (
        "plants", "animals", "energy", "water", "rock", "earth", "sun", "heat", "light",
        "weather", "soil", "cells", "students", "experiment", "observe", "temperature",
        "gravity", "magnet", "food", "chain", "fossil", "moon", "season", "mineral", "organism",
        "force", "motion", "air", "habitat", "cloud",
    ),
    "winogrande": (
        "too", "so", "wanted", "decided", "tried", "better", "bigger", "smaller", "easier",
        "Sarah", "John", "Maria", "Kevin", "Emily", "Robert", "Jessica", "Michael", "Amy",
        "Brian", "Laura", "Derrick", "house", "dress", "job", "class", "dinner", "test",
    ),
    "mbpp": (
        "function", "find", "list", "string", "number", "elements", "check", "whether", "tuple",
        "array", "sum", "count", "maximum", "minimum", "remove", "characters", "words", "sort",
        "dictionary", "integers", "convert", "pairs", "first", "last", "element", "index",
        "sequence", "digits", "substring", "nested",
    ),
    "mtbench": (
        "write", "essay", "blog", "post", "story", "explain", "describe", "compose",
        "persuasive", "travel", "email", "poem", "character", "dialogue", "product", "review",
        "short", "paragraph", "audience", "tone", "style", "engaging", "draft", "plan", "argue",
    ),
    "chinese": (
        "chinese", "dynasty", "poem", "poet", "ancient", "character", "riddle", "year", "zodiac",
        "animal", "idiom", "meaning", "verse", "lantern", "translate", "classic", "novel",
        "author", "song", "tang", "traditional", "festival", "rabbit", "dragon", "tiger", "ox",
        "horse", "emperor", "couplet",
    ),
    "other": (
        "study", "results", "method", "propose", "data", "model", "performance", "approach",
        "paper", "analysis", "experiments", "show", "significant", "framework", "novel",
        "evaluate", "statements", "consensus", "summary", "bias", "text", "audit", "account",
        "ledger", "entries", "balance", "revenue", "report", "participants", "findings",
    ),
    TEST_MATCH: (
        "once", "upon", "time", "quick", "brown", "fox", "jumps", "lazy", "dog", "apple", "day",
        "keeps", "doctor", "away",
    ),
}  # fmt: skip

_SKILL_GROUPS = ("code", "math", "chinese", "law", "science")
_SKILL_WORDS: dict[str, tuple[str, ...]] = {
    "code": (
        "python", "recursion", "algorithm", "compile", "variable", "loop", "pointer", "binary",
        "boolean", "regex", "lambda", "iterator", "bitwise", "hashmap", "stack", "queue",
        "runtime", "syntax",
    ),
    "math": (
        "equation", "percent", "ratio", "fraction", "integral", "derivative", "probability",
        "polynomial", "theorem", "remainder", "average", "proportion", "quotient", "logarithm",
        "geometric", "exponent", "parabola", "variance",
    ),
    "chinese": (
        "pinyin", "confucius", "hanzi", "mandarin", "calligraphy", "qing", "ming", "han",
        "shijing", "chuci", "tangshi", "songci", "chengyu", "lunar",
    ),
    "law": (
        "statute", "plaintiff", "defendant", "contract", "liability", "tort", "precedent",
        "constitutional", "jurisdiction", "ethics", "moral", "testimony", "negligence",
        "verdict", "amendment", "treaty", "sovereignty", "duty",
    ),
    "science": (
        "molecule", "protein", "enzyme", "neuron", "bacteria", "velocity", "electron",
        "photosynthesis", "chromosome", "catalyst", "isotope", "genome", "vaccine", "tissue",
        "orbit", "quantum", "compound", "membrane",
    ),
}  # fmt: skip

# Substrings of eval names that make a skill group likely (probability _SKILL_PROB_MATCH).
_SKILL_KEYWORDS: dict[str, tuple[str, ...]] = {
    "code": ("computer", "machine-learning", "mbpp", "security", "electrical"),
    "math": (
        "math", "algebra", "statistics", "physics", "econometrics", "remainder", "accounting",
        "grade-school",
    ),
    "chinese": ("chinese",),
    "law": (
        "law", "moral", "jurisprudence", "philosophy", "history", "politics", "religions",
        "ethics", "policy", "logic", "fallacies", "bias", "sociology",
    ),
    "science": (
        "biology", "chemistry", "medicine", "medical", "anatomy", "clinical", "nutrition",
        "virology", "genetics", "aging", "astronomy", "physics", "arc-challenge",
    ),
}  # fmt: skip
_SKILL_PROB_BASE, _SKILL_PROB_MATCH = 0.08, 0.7
_SKILL_PROB_CORE = {"mbpp": "code", "grade-school-math": "math", "chinese": "chinese"}

_HARD_MARKERS = (
    "rigorously", "nontrivial", "multistep", "counterintuitive", "simultaneously",
    "notwithstanding", "asymptotically", "intricate", "ambiguous", "exceptional",
)  # fmt: skip
_EASY_MARKERS = (
    "simple", "basic", "obvious", "directly", "familiar", "everyday", "straightforward", "plainly",
)  # fmt: skip
_NUMBERS = tuple(str(k) for k in range(2, 100))

# ---------------------------------------------------------------------------------------------
# Per-model parameters, keyed by model id (order-free)
# ---------------------------------------------------------------------------------------------
# Discrimination on the shared difficulty: strong models separate easy from hard prompts more.
_BETA = {
    "WizardLM/WizardLM-13B-V1.2": 1.1, "claude-instant-v1": 1.3, "claude-v1": 1.4,
    "claude-v2": 1.4, "gpt-3.5-turbo-1106": 1.3, "gpt-4-1106-preview": 1.6,
    "meta/code-llama-instruct-34b-chat": 0.9, "meta/llama-2-70b-chat": 1.0,
    "mistralai/mistral-7b-chat": 1.0, "mistralai/mixtral-8x7b-chat": 1.3,
    "zero-one-ai/Yi-34B-Chat": 1.3,
}  # fmt: skip
# Logit shift when a prompt is on a skill group's topic (code, math, chinese, law, science).
_GAMMA = {
    "WizardLM/WizardLM-13B-V1.2": (-0.3, -0.1, -0.5, -0.1, 0.0),
    "claude-instant-v1": (0.1, 0.2, 0.0, 0.3, 0.2),
    "claude-v1": (0.0, 0.2, 0.0, 0.5, 0.3),
    "claude-v2": (0.2, 0.3, 0.0, 0.5, 0.3),
    "gpt-3.5-turbo-1106": (0.5, 0.2, 0.0, 0.0, 0.1),
    "gpt-4-1106-preview": (0.5, 0.5, 0.3, 0.4, 0.3),
    "meta/code-llama-instruct-34b-chat": (1.2, 0.0, -0.6, -0.5, -0.3),
    "meta/llama-2-70b-chat": (-0.5, -0.3, -0.6, 0.2, 0.1),
    "mistralai/mistral-7b-chat": (-0.2, -0.3, -0.6, -0.2, -0.1),
    "mistralai/mixtral-8x7b-chat": (0.3, 0.1, -0.2, 0.0, 0.1),
    "zero-one-ai/Yi-34B-Chat": (-0.2, 0.0, 1.0, 0.2, 0.2),
}
# Multiple-choice answer style: P(leading newline), P(trailing ")"), P(no letter when wrong).
_MC_STYLE = {
    "WizardLM/WizardLM-13B-V1.2": (0.5, 0.4, 0.2), "claude-instant-v1": (0.0, 0.0, 0.0),
    "claude-v1": (0.0, 0.0, 0.0), "claude-v2": (0.0, 0.0, 0.0),
    "gpt-3.5-turbo-1106": (0.0, 0.5, 0.0), "gpt-4-1106-preview": (0.0, 0.0, 0.0),
    "meta/code-llama-instruct-34b-chat": (0.2, 0.5, 0.5), "meta/llama-2-70b-chat": (0.1, 0.1, 0.5),
    "mistralai/mistral-7b-chat": (0.5, 0.5, 0.1), "mistralai/mixtral-8x7b-chat": (0.0, 0.8, 0.0),
    "zero-one-ai/Yi-34B-Chat": (0.1, 0.3, 0.05),
}  # fmt: skip
_OPENER = {
    "WizardLM/WizardLM-13B-V1.2": "", "claude-instant-v1": "Here is ", "claude-v1": "Here's ",
    "claude-v2": "Here is ", "gpt-3.5-turbo-1106": "", "gpt-4-1106-preview": "Certainly! ",
    "meta/code-llama-instruct-34b-chat": " ", "meta/llama-2-70b-chat": " Sure! ",
    "mistralai/mistral-7b-chat": "", "mistralai/mixtral-8x7b-chat": "",
    "zero-one-ai/Yi-34B-Chat": "\n",
}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Per-family and per-eval text parameters
# ---------------------------------------------------------------------------------------------
# Logit offset of a family inside its calibration group (e.g. ARC easier than Winogrande).
_FAMILY_DELTA = {
    "mmlu": 0.0, "hellaswag": 0.3, "arc-challenge": 0.6, "winogrande": -0.4,
    "grade-school-math": 0.0, "mbpp": 0.0, "mtbench": 0.8, "chinese": -0.6, "other": 0.4,
    TEST_MATCH: 2.5,
}  # fmt: skip
# Mean body words; (choices or extra list elements, mean words each); numbers in the body.
_PROMPT_WORDS = {
    "mmlu": 40, "hellaswag": 66, "grade-school-math": 78, "arc-challenge": 32, "winogrande": 22,
    "mbpp": 6, "mtbench": 70, "chinese": 60, "other": 190, TEST_MATCH: 3,
}  # fmt: skip
_PROMPT_WORDS_MULT = {
    "mmlu-professional-law": 4.0, "mmlu-high-school-european-history": 7.0,
    "mmlu-high-school-us-history": 6.0, "mmlu-high-school-world-history": 6.0,
    "mmlu-security-studies": 2.5, "mmlu-moral-scenarios": 1.6, "abstract2title": 1.4,
    "consensus_summary": 1.4, "bias_detection": 0.25, "accounting_audit": 0.7,
    "chinese_zodiac": 0.9, "mtbench-math": 0.6,
}  # fmt: skip
_OPTIONS = {
    "mmlu": (4, 5), "hellaswag": (4, 16), "arc-challenge": (4, 4), "winogrande": (2, 1),
    "chinese": (1, 4), TEST_MATCH: (1, 3),
}  # fmt: skip
_NUMBERS_IN_PROMPT = {"grade-school-math": 6, "mtbench-math": 3, "chinese-remainder-theorem": 4}
# Response kind and mean characters (before the per-model factor) for non-lettered answers.
_RESPONSE = {
    "grade-school-math": ("math", 584), "mbpp": ("code", 910), "mtbench": ("prose", 1200),
    "chinese": ("prose", 60), "other": ("prose", 300), TEST_MATCH: ("short", 6),
}  # fmt: skip
_RESPONSE_EVAL = {
    "mtbench-math": ("math", 900), "abstract2title": ("prose", 90),
    "consensus_summary": ("prose", 500), "bias_detection": ("short", 12),
    "chinese_zodiac": ("short", 20), "chinese-remainder-theorem": ("math", 300),
}  # fmt: skip
_RESPONSE_KINDS = ("letter", "math", "code", "prose", "short")
_MC_LETTER_TOKENS = 1.2  # mean tokens of a lettered answer, used to size the long answers
_OTHER_PREFIX = {
    "abstract2title": "Write a title for the following abstract.\n\n",
    "consensus_summary": "Summarize the consensus of the following statements.\n\n",
    "bias_detection": "Does the following text contain bias? Answer yes or no.\n\n",
    "accounting_audit": "Audit the following accounting entries and report any error.\n\n",
}
_MC_INSTRUCTION = 'Print only a single choice  from "A" or "B" or "C" or "D" without explanation.'
_WINO_INSTRUCTION = 'Print only a single choice  from "A" or "B" without explanation.'


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _obj(values: Any) -> np.ndarray:
    """A 1-D object array (Python str/float elements) from any sequence or array."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values) if not isinstance(values, np.ndarray) else values
    return out


_repr = np.frompyfunc(repr, 1, 1)
_len = np.frompyfunc(len, 1, 1)


def _lengths(texts: np.ndarray) -> np.ndarray:
    return _len(texts).astype(np.int64) if texts.size else np.zeros(0, dtype=np.int64)


def _tokens(chars: np.ndarray) -> np.ndarray:
    """Token counts from character counts (``ceil(chars / CHARS_PER_TOKEN)``, at least 1)."""
    return np.maximum(1, np.ceil(chars / CHARS_PER_TOKEN)).astype(np.int64)


def _join_runs(pieces: np.ndarray, counts: np.ndarray, sep: str) -> np.ndarray:
    """Join consecutive runs of ``pieces`` (run ``k`` has ``counts[k]`` pieces) with ``sep``.

    One C-level ``str.join`` and one ``str.split`` replace a Python loop over the runs; empty
    runs give ``""``.
    """
    out = np.full(counts.size, "", dtype=object)
    if pieces.size == 0:
        return out
    seps = np.full(pieces.size, sep, dtype=object)
    seps[np.cumsum(counts[counts > 0]) - 1] = _SENTINEL
    woven = np.empty(2 * pieces.size, dtype=object)
    woven[0::2] = pieces
    woven[1::2] = seps
    out[counts > 0] = "".join(woven.tolist()).split(_SENTINEL)[:-1]
    return out


def _draw_from_pools(
    rng: np.random.Generator, pool: np.ndarray, start: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """One uniform word per entry, entry ``k`` from ``pool[start[k] : start[k] + size[k]]``."""
    pick = np.floor(rng.random(start.size) * size).astype(np.int64)
    return pool[start + pick]


def _lognormal_factor(rng: np.random.Generator, size: Any, sigma: float) -> np.ndarray:
    """Mean-one log-normal noise."""
    return np.exp(sigma * rng.standard_normal(size) - 0.5 * sigma**2)


# ---------------------------------------------------------------------------------------------
# Eval table and allocation
# ---------------------------------------------------------------------------------------------
def valid_families() -> tuple[str, ...]:
    """Family names accepted by ``families`` (profile order, ``test-match`` last)."""
    return tuple(load_profile()["eval_counts_0shot"]["families"])


def _check_families(families: Sequence[str] | str | None) -> tuple[str, ...]:
    valid = valid_families()
    if families is None:
        return valid
    chosen = (families,) if isinstance(families, str) else tuple(families)
    bad = [f for f in chosen if f not in valid]
    if bad or not chosen:
        raise ValueError(
            f"families: unknown family {bad if bad else chosen!r}; valid families are "
            f"{', '.join(valid)}"
        )
    return tuple(f for f in valid if f in chosen)


def _eval_names_and_counts() -> tuple[list[str], np.ndarray]:
    """All eval names in profile order (``test-match`` last) with their real counts."""
    prof = load_profile()["eval_counts_0shot"]
    names, counts = list(eval_counts()), list(eval_counts().values())
    names.append(TEST_MATCH)
    counts.append(int(prof["families"][TEST_MATCH]))
    return names, np.asarray(counts, dtype=np.int64)


def allocate_eval_counts(n_prompts: int, families: Sequence[str] | None = None) -> dict[str, int]:
    """Share ``n_prompts`` among the eval names in proportion to their real counts.

    Largest-remainder rule on the real 0-shot counts of the selected families (ties to the
    earlier eval in profile order), so ``n_prompts=36497`` with all families reproduces the
    real counts exactly. If ``test-match`` is selected, ``n_prompts >= 100`` and it received no
    row, one row moves to it from the largest eval.

    Parameters
    ----------
    n_prompts : int
        Total number of prompts, at least 1.
    families : sequence of str, optional
        Subset of :func:`valid_families`; ``None`` selects all.

    Returns
    -------
    dict of str to int
        Rows per eval name (MMLU subjects carry the ``mmlu-`` prefix), in profile order, zeros
        included.
    """
    if isinstance(n_prompts, bool) or not isinstance(n_prompts, int | np.integer):
        raise TypeError(f"n_prompts must be an int, got {n_prompts!r}")
    if n_prompts < 1:
        raise ValueError(f"n_prompts must be >= 1, got {n_prompts}")
    chosen = _check_families(families)
    names, counts = _eval_names_and_counts()
    keep = np.array([family_of(name) in chosen for name in names])
    names = [name for name, k in zip(names, keep, strict=True) if k]
    counts = counts[keep]
    total = int(counts.sum())
    # Integer arithmetic: at n_prompts == total the quotas are exactly the real counts.
    alloc = (int(n_prompts) * counts) // total
    remainder = (int(n_prompts) * counts) % total
    order = np.lexsort((np.arange(counts.size), -remainder))
    alloc[order[: int(n_prompts) - int(alloc.sum())]] += 1
    if TEST_MATCH in names and n_prompts >= 100:
        tm = names.index(TEST_MATCH)
        if alloc[tm] == 0:
            alloc[int(np.argmax(alloc))] -= 1
            alloc[tm] = 1
    return dict(zip(names, alloc.tolist(), strict=True))


def _skill_probabilities(name: str, family: str) -> list[float]:
    low = name.lower()
    probs = []
    for group in _SKILL_GROUPS:
        if _SKILL_PROB_CORE.get(family) == group or _SKILL_PROB_CORE.get(name) == group:
            probs.append(0.95)
        elif any(key in low for key in _SKILL_KEYWORDS[group]):
            probs.append(_SKILL_PROB_MATCH)
        else:
            probs.append(_SKILL_PROB_BASE)
    return probs


def _eval_offsets(names: list[str], seed: int) -> np.ndarray:
    """Per-eval mean difficulty: profile hints where given, else ``N(0, 0.35)``."""
    prof = load_profile()
    rng = np.random.default_rng([seed, _STREAM_EVAL])
    mu = rng.normal(0.0, 0.35, size=len(names))
    hints = prof["accuracy_0shot"]["mmlu_subjects_pair"]
    hinted = [m for m in hints if m != "source"]
    overall = prof["accuracy_0shot"]["mc_aggregate_mmlu_hellaswag_winogrande_arc"]
    base = np.mean([overall[m] for m in hinted])
    prefix = prof["eval_counts_0shot"]["mmlu_prefix"]
    for subject in hints[hinted[0]]:
        key = prefix + subject if prefix + subject in names else subject
        if key in names:
            acc = np.clip(np.mean([hints[m][subject] for m in hinted]), 0.03, 0.97)
            mu[names.index(key)] = (np.log(base / (1 - base)) - np.log(acc / (1 - acc))) / 1.3
    return mu


def _eval_table(seed: int) -> pd.DataFrame:
    """One row per eval name (all 86) with every per-eval generation parameter."""
    names, counts = _eval_names_and_counts()
    families = [family_of(name) for name in names]
    fractional = set(load_profile()["fractional_score_evals_0shot"]["evals"])
    rows = []
    for name, family in zip(names, families, strict=True):
        n_opts, opt_words = _OPTIONS.get(family, (0, 0))
        kind, chars = _RESPONSE_EVAL.get(name, _RESPONSE.get(family, ("letter", 0)))
        if name == "grade-school-math":
            score_kind = "gsm"
        elif name in fractional and family == "mtbench":
            score_kind = "tenth"
        elif name in fractional:
            score_kind = "quarter"
        else:
            score_kind = "binary"
        group = (
            "mc"
            if family in _MC_FAMILIES
            else {"grade-school-math": "gsm", "mbpp": "mbpp"}.get(family, "rest")
        )
        rows.append(
            {
                "eval_name": name,
                "family": family,
                "split": "val" if family in _VAL_SPLIT_FAMILIES else "dev",
                "calib_group": _CALIB_GROUPS.index(group),
                "delta": _FAMILY_DELTA[family],
                "score_kind": score_kind,
                "prompt_words": _PROMPT_WORDS[family] * _PROMPT_WORDS_MULT.get(name, 1.0),
                "n_numbers": _NUMBERS_IN_PROMPT.get(name, 0),
                "n_opts": n_opts,
                "opt_words": opt_words,
                "resp_kind": _RESPONSE_KINDS.index(kind),
                "resp_chars": float(chars),
            }
        )
    table = pd.DataFrame(rows)
    table["real_count"] = counts
    table["mu"] = _eval_offsets(names, seed)
    skills = np.array([_skill_probabilities(n, f) for n, f in zip(names, families, strict=True)])
    for g, group in enumerate(_SKILL_GROUPS):
        table[f"skill_{group}"] = skills[:, g]
    return table


def _eval_pools(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated topic vocabularies: family words plus the eval's own name words (x3).

    Name words tell apart the evals of one family (``mmlu-anatomy``, ``chinese_zodiac``); a
    family with a single eval gets none, and the family name itself is never a word.
    """
    words, start, size = [], [], []
    n_evals = table["family"].value_counts()
    for name, family in zip(table["eval_name"], table["family"], strict=True):
        tokens = name.lower().replace("_", "-").split("-")
        own = [w for w in tokens if w and w != family] if n_evals[family] > 1 else []
        pool = list(_FAMILY_WORDS[family]) + own * 3
        start.append(len(words))
        size.append(len(pool))
        words.extend(pool)
    return _obj(words), np.asarray(start, dtype=np.int64), np.asarray(size, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Rows and latents
# ---------------------------------------------------------------------------------------------
def _draw_rows(table: pd.DataFrame, alloc: dict[str, int], seed: int) -> np.ndarray:
    """Eval-table index of every row, shuffled."""
    per_eval = table["eval_name"].map(alloc).fillna(0).to_numpy(dtype=np.int64)
    ev = np.repeat(np.arange(len(table)), per_eval)
    return ev[np.random.default_rng([seed, _STREAM_ROWS]).permutation(ev.size)]


def _sample_ids(table: pd.DataFrame, ev: np.ndarray) -> np.ndarray:
    """``{eval_name}.{split}.{i}`` with ``i`` counting each eval's rows in order."""
    i = pd.Series(ev).groupby(ev).cumcount().astype(str).to_numpy(dtype=object)
    names = table["eval_name"].to_numpy(dtype=object)[ev]
    return names + "." + table["split"].to_numpy(dtype=object)[ev] + "." + i


def _draw_latents(table: pd.DataFrame, ev: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Difficulty ``d`` (n,) and skill-topic flags ``z`` (n, groups)."""
    rng = np.random.default_rng([seed, _STREAM_LATENT])
    d = table["mu"].to_numpy()[ev] + rng.standard_normal(ev.size)
    probs = table[[f"skill_{g}" for g in _SKILL_GROUPS]].to_numpy()[ev]
    z = rng.random(probs.shape) < probs
    return d, z


# ---------------------------------------------------------------------------------------------
# Prompts
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------
def _model_vector(values: dict[str, Any]) -> np.ndarray:
    return np.asarray([values[m] for m in model_ids()], dtype=float)


def calibration_targets() -> pd.DataFrame:
    """Expected score per model (columns) on each calibration group (rows).

    ``gsm`` and ``mbpp`` are the profile's accuracies, ``rest`` (MT-Bench, Chinese, other,
    test-match) the overall mean, and ``mc`` is solved from the real counts so that the
    count-weighted mean over all groups equals the overall mean (the profile's estimate,
    unrounded).

    Returns
    -------
    pandas.DataFrame
        Index ``mc, gsm, mbpp, rest``; one column per model id in score-column order.
    """
    acc = load_profile()["accuracy_0shot"]
    overall = _model_vector(acc["overall_mean"])
    gsm = _model_vector(acc["grade-school-math"])
    mbpp = _model_vector(acc["mbpp"])
    counts = eval_counts()
    n_gsm, n_mbpp = counts["grade-school-math"], counts["mbpp"]
    n_mc = sum(n for name, n in counts.items() if family_of(name) in _MC_FAMILIES)
    mc = (overall * (n_mc + n_gsm + n_mbpp) - gsm * n_gsm - mbpp * n_mbpp) / n_mc
    return pd.DataFrame([mc, gsm, mbpp, overall], index=list(_CALIB_GROUPS), columns=model_ids())


def _score_affine(kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected score ``c0 + c1 * p`` of each row's score kind."""
    is_gsm = kind == "gsm"
    c0 = np.where(is_gsm, 0.25 - 0.25 * _GSM_EDGE_PROB, 0.0)
    c1 = np.where(is_gsm, 0.5 + 0.5 * _GSM_EDGE_PROB, 1.0)
    return c0, c1


def _calibrate(
    x: np.ndarray,
    group: np.ndarray,
    c0: np.ndarray,
    c1: np.ndarray,
    targets: np.ndarray,
    max_iter: int = 60,
) -> np.ndarray:
    """Offsets ``a`` (groups, models) with ``mean(c0 + c1 sigmoid(a[group] + x)) == targets``.

    Newton steps on every (group, model) at once, each step clipped to +-2 logits; groups with
    no rows keep offset 0.
    """
    n_groups = targets.shape[0]
    onehot = (group[:, None] == np.arange(n_groups)).astype(float)
    counts = onehot.sum(axis=0)[:, None]
    present = counts > 0
    counts = np.where(present, counts, 1.0)
    a = np.zeros_like(targets)
    for _ in range(max_iter):
        p = _sigmoid(a[group] + x)
        gap = targets - onehot.T @ (c0[:, None] + c1[:, None] * p) / counts
        gap = np.where(present, gap, 0.0)
        if np.max(np.abs(gap)) < 1e-10:
            break
        slope = onehot.T @ (c1[:, None] * p * (1.0 - p)) / counts
        a += np.clip(gap / np.maximum(slope, 1e-12), -2.0, 2.0)
    return a


def _success_probabilities(
    table: pd.DataFrame, ev: np.ndarray, d: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Calibrated ``P(success)`` of every (prompt, model) in score-column order."""
    beta = _model_vector(_BETA)
    gamma = np.array([_GAMMA[m] for m in model_ids()])  # (models, groups)
    x = table["delta"].to_numpy()[ev][:, None] - d[:, None] * beta + z.astype(float) @ gamma.T
    group = table["calib_group"].to_numpy()[ev]
    c0, c1 = _score_affine(table["score_kind"].to_numpy()[ev])
    a = _calibrate(x, group, c0, c1, calibration_targets().to_numpy())
    return _sigmoid(a[group] + x)


def _draw_scores(table: pd.DataFrame, ev: np.ndarray, p: np.ndarray, seed: int) -> np.ndarray:
    """Scores (prompts, models): binary, GSM8K quarter grid, MT-Bench tenths, quarters."""
    rng = np.random.default_rng([seed, _STREAM_SCORES])
    kind = table["score_kind"].to_numpy()[ev]
    scores = (rng.random(p.shape) < p).astype(float)
    second = (rng.random(p.shape) < p).astype(float)
    edge = rng.random(p.shape) < _GSM_EDGE_PROB
    gsm = 0.25 + 0.25 * (scores + second)
    gsm = np.where(edge & (gsm == 0.25), 0.0, np.where(edge & (gsm == 0.75), 1.0, gsm))
    scores = np.where((kind == "gsm")[:, None], gsm, scores)
    for name, trials in (("tenth", 10), ("quarter", 4)):
        rows = np.flatnonzero(kind == name)
        scores[rows] = rng.binomial(trials, p[rows]) / trials
    return scores


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Cost, oracle and assembly
# ---------------------------------------------------------------------------------------------
def query_costs(prompt_tokens: np.ndarray, response_tokens: np.ndarray) -> np.ndarray:
    """USD cost of every (prompt, model), models in score-column order.

    Parameters
    ----------
    prompt_tokens : numpy.ndarray
        Shape (n,), tokens of each prompt (shared by all models).
    response_tokens : numpy.ndarray
        Shape (n, models), tokens of each response.

    Returns
    -------
    numpy.ndarray
        ``(prompt_tokens * price_in + response_tokens * price_out) / 1e6``, float64.
    """
    prices = prices_per_1m()
    price_in = np.array([prices[m][0] for m in model_ids()])
    price_out = np.array([prices[m][1] for m in model_ids()])
    return (prompt_tokens[:, None] * price_in + response_tokens * price_out) / 1e6


def oracle_labels(scores: np.ndarray, cost_usd: np.ndarray) -> np.ndarray:
    """The real file's ``oracle_model_to_route_to`` rule.

    Parameters
    ----------
    scores, cost_usd : numpy.ndarray
        Shape (n, models), models in score-column order.

    Returns
    -------
    numpy.ndarray
        Object array: among the models with the row's maximum score, the cheapest (first in
        score-column order on a cost tie); ``no_model_correct`` where the maximum is not > 0.
    """
    best = scores.max(axis=1)
    cost_if_best = np.where(scores == best[:, None], cost_usd, np.inf)
    choice = _obj(model_ids())[np.argmin(cost_if_best, axis=1)]
    label = load_profile()["wide_columns_0shot"]["oracle_extra_label"]
    return np.where(best > 0, choice, label).astype(object)


def _assemble_wide(
    sample_id: np.ndarray,
    prompts: np.ndarray,
    eval_name: np.ndarray,
    scores: np.ndarray,
    responses: np.ndarray,
    cost_usd: np.ndarray,
    oracle: np.ndarray,
) -> pd.DataFrame:
    """The 37 columns in the real order and dtypes (object strings, object floats, float64)."""
    layout = load_profile()["wide_columns_0shot"]
    models = model_ids()
    col = {m: j for j, m in enumerate(models)}
    data: dict[str, pd.Series] = {
        "sample_id": pd.Series(sample_id, dtype=object),
        "prompt": pd.Series(prompts, dtype=object),
        "eval_name": pd.Series(eval_name, dtype=object),
    }
    for m in layout["score_cols"]:
        data[m] = pd.Series(scores[:, col[m]].astype(object), dtype=object)
    order = layout["response_and_cost_model_order"]
    for m in order:
        data[m + layout["response_suffix"]] = pd.Series(responses[:, col[m]], dtype=object)
    for m in order:
        data[m + layout["cost_suffix"]] = pd.Series(cost_usd[:, col[m]], dtype=np.float64)
    data[layout["tail"][0]] = pd.Series(oracle, dtype=object)
    return _object_columns(pd.DataFrame(data))


def _object_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Object-dtype column labels, as in the real files.

    pandas >= 3 would store string labels as an Arrow-backed ``str`` index, whose pickle needs
    pyarrow globals that a restricted unpickler of the real layout does not allow.
    """
    frame.columns = pd.Index(list(frame.columns), dtype=object)
    return frame


def generate_wide(n_prompts: int, seed: int, families: Sequence[str] | None = None) -> pd.DataFrame:
    """A synthetic RouterBench in the real 0-shot wide layout.

    Parameters
    ----------
    n_prompts : int
        Number of rows; 36497 with all families reproduces the real eval counts.
    seed : int
        Non-negative seed; every random draw derives from ``default_rng([seed, stream])``.
    families : sequence of str, optional
        Keep only these families (see :func:`valid_families`); ``test-match`` smoke rows appear
        only when it is selected (``None`` selects all).

    Returns
    -------
    pandas.DataFrame
        37 columns in the real order: ``sample_id, prompt, eval_name``, 11 score columns
        (object dtype holding floats), 11 ``|model_response`` and 11 ``|total_cost`` columns,
        ``oracle_model_to_route_to``; RangeIndex. See the module docstring for the model.

    Raises
    ------
    ValueError
        On an unknown family, ``n_prompts < 1`` or a negative seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    alloc = allocate_eval_counts(n_prompts, families)
    table = _eval_table(int(seed))
    ev = _draw_rows(table, alloc, seed)
    d, z = _draw_latents(table, ev, seed)
    prompts, prompt_tokens = _draw_prompts(table, ev, d, z, seed)
    scores = _draw_scores(table, ev, _success_probabilities(table, ev, d, z), seed)
    responses, response_tokens = _draw_responses(table, ev, scores, seed)
    cost_usd = query_costs(prompt_tokens, response_tokens)
    return _assemble_wide(
        _sample_ids(table, ev),
        prompts,
        table["eval_name"].to_numpy(dtype=object)[ev],
        scores,
        responses,
        cost_usd,
        oracle_labels(scores, cost_usd),
    )


def wide_to_raw(wide: pd.DataFrame) -> pd.DataFrame:
    """Convert the wide 0-shot layout to the long layout of ``routerbench_raw.pkl``.

    Parameters
    ----------
    wide : pandas.DataFrame
        A frame with the real wide columns (``sample_id, prompt, eval_name``, the score,
        ``|model_response`` and ``|total_cost`` columns).

    Returns
    -------
    pandas.DataFrame
        Columns ``index, sample_id, prompt, eval_name, performance, model_response, model_name,
        cost``; one row per (sample, model), samples in the wide order and models in score-column
        order; ``index`` int64 ``0..N-1``; ``performance`` a numeric string such as ``'0.75'``.

    Raises
    ------
    ValueError
        If a required column is missing.
    """
    layout = load_profile()["wide_columns_0shot"]
    models = list(layout["score_cols"])
    resp_cols = [m + layout["response_suffix"] for m in models]
    cost_cols = [m + layout["cost_suffix"] for m in models]
    missing = [c for c in [*layout["head"], *models, *resp_cols, *cost_cols] if c not in wide]
    if missing:
        raise ValueError(f"wide frame: missing columns {missing}; expected the 0-shot layout")
    n, n_models = len(wide), len(models)
    performance = wide[models].to_numpy(dtype=np.float64).ravel()

    def per_sample(col: str) -> np.ndarray:
        return np.repeat(wide[col].to_numpy(dtype=object), n_models)

    data = {
        "index": pd.Series(np.arange(n * n_models, dtype=np.int64)),
        "sample_id": pd.Series(per_sample("sample_id"), dtype=object),
        "prompt": pd.Series(per_sample("prompt"), dtype=object),
        "eval_name": pd.Series(per_sample("eval_name"), dtype=object),
        "performance": pd.Series(performance).astype(str).astype(object),
        "model_response": pd.Series(wide[resp_cols].to_numpy(dtype=object).ravel(), dtype=object),
        "model_name": pd.Series(np.tile(_obj(models), n), dtype=object),
        "cost": pd.Series(wide[cost_cols].to_numpy(dtype=np.float64).ravel()),
    }
    return _object_columns(pd.DataFrame(data))


def write_synthetic(
    path: str | Path,
    n_prompts: int,
    seed: int,
    fmt: str = "wide",
    families: Sequence[str] | None = None,
) -> Path:
    """Write a synthetic RouterBench pickle (protocol 5) in the wide or long layout.

    The frame goes to a hidden temporary file in the target directory that is then renamed over
    ``path``, so a crash never leaves a partial file under the final name.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file; its extension selects pandas' compression as in ``DataFrame.to_pickle``.
    n_prompts, seed, families
        As in :func:`generate_wide`.
    fmt : {"wide", "long"}
        ``wide``: the 0-shot layout; ``long``: the raw layout (:func:`wide_to_raw`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        On an unknown ``fmt`` (before any work) or invalid generation parameters.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt: unknown format {fmt!r}; valid formats are {', '.join(FORMATS)}")
    path = Path(path)
    wide = generate_wide(n_prompts, seed, families)
    frame = wide if fmt == "wide" else wide_to_raw(wide)
    # Marks the file as synthetic, so the loader never labels results made from it RouterBench.
    frame.attrs[SYNTHETIC_ATTR] = "synthetic"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same name ending as the target, so pandas infers the same compression.
    tmp = path.with_name(f".{os.getpid()}.tmp.{path.name}")
    try:
        frame.to_pickle(tmp, protocol=5)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info(
        "synthetic RouterBench: %d prompts, %d rows (%s), seed %d, families %s -> %s",
        len(wide),
        len(frame),
        fmt,
        seed,
        "all" if families is None else ",".join(_check_families(families)),
        path,
    )
    return path
