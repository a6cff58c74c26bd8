"""The eval table (names, families, published counts), the allocation of prompts to evals,
and each row's latents."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dacr.profile import eval_counts, family_of, load_profile
from dacr.synth.helpers import _obj
from dacr.synth.params import (
    _CALIB_GROUPS,
    _FAMILY_DELTA,
    _FAMILY_WORDS,
    _MC_FAMILIES,
    _NUMBERS_IN_PROMPT,
    _OPTIONS,
    _PROMPT_WORDS,
    _PROMPT_WORDS_MULT,
    _RESPONSE,
    _RESPONSE_EVAL,
    _RESPONSE_KINDS,
    _SKILL_GROUPS,
    _SKILL_KEYWORDS,
    _SKILL_PROB_BASE,
    _SKILL_PROB_CORE,
    _SKILL_PROB_MATCH,
    _STREAM_EVAL,
    _STREAM_LATENT,
    _STREAM_ROWS,
    _VAL_SPLIT_FAMILIES,
    TEST_MATCH,
)


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
