"""Published statistics of the real RouterBench dataset, shipped with dacr.

The profile (``dacr/data/routerbench_profile.json``) holds no rows of the dataset, only its
schema, model ids, prices, eval counts, accuracies and lengths. The loader uses it for the real
column layout and the family map; the synthetic generator uses it for realistic marginals.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

# Groups of eval_name values whose family is not the eval_name itself.
_NESTED_FAMILIES = ("mmlu", "mtbench", "chinese", "other")


@cache
def load_profile() -> dict[str, Any]:
    """Return the RouterBench profile as a dict (read once per process)."""
    text = files("dacr").joinpath("data/routerbench_profile.json").read_text(encoding="utf-8")
    return json.loads(text)


def model_ids() -> list[str]:
    """The 11 RouterBench model ids, in the order of the 0-shot file's score columns."""
    return list(load_profile()["models"]["ids"])


def prices_per_1m() -> dict[str, tuple[float, float]]:
    """Per-model (input, output) prices in USD per 1M tokens."""
    prof = load_profile()["prices_usd_per_1M_tokens"]
    return {m: (float(v[0]), float(v[1])) for m, v in prof.items() if m != "source"}


def eval_counts() -> dict[str, int]:
    """Count of 0-shot prompts per real ``eval_name`` (no ``test-match``).

    The profile lists MMLU subjects without their prefix; the real names are ``mmlu-<subject>``.
    """
    nested = load_profile()["eval_counts_0shot"]
    prefix = nested["mmlu_prefix"]
    counts: dict[str, int] = {}
    for family, n in nested["families"].items():
        if family == "test-match":
            continue
        if family == "mmlu":
            counts.update({prefix + k: int(v) for k, v in nested[family].items()})
        elif family in _NESTED_FAMILIES:
            counts.update({k: int(v) for k, v in nested[family].items()})
        else:
            counts[family] = int(n)
    return counts


@cache
def _family_lookup() -> dict[str, str]:
    nested = load_profile()["eval_counts_0shot"]
    return {name: family for family in _NESTED_FAMILIES for name in nested[family]}


def family_of(eval_name: str) -> str:
    """Map an ``eval_name`` to its family (``mmlu-anatomy`` -> ``mmlu``).

    Names listed in the profile map to their published family; other names fall back to
    prefix rules (``mmlu-*``, ``mtbench*``, ``chinese*``) and otherwise are their own family.
    """
    known = _family_lookup().get(eval_name)
    if known is not None:
        return known
    if eval_name.startswith("mmlu-") or eval_name == "mmlu":
        return "mmlu"
    if eval_name.startswith("mtbench"):
        return "mtbench"
    if eval_name.lower().startswith("chinese"):
        return "chinese"
    return eval_name
