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

Modules, in the order the generator runs: ``params`` (vocabularies and fixed parameters),
``helpers``, ``evals`` (the eval table, allocation, rows and latents), ``prompts``, ``scores``,
``responses``, ``assemble`` (costs, oracle labels, the wide and raw tables, the pickles).
"""

from __future__ import annotations

from dacr.synth.assemble import (
    generate_wide,
    oracle_labels,
    query_costs,
    wide_to_raw,
    write_synthetic,
)
from dacr.synth.evals import allocate_eval_counts, valid_families
from dacr.synth.params import CHARS_PER_TOKEN, FORMATS, TEST_MATCH
from dacr.synth.scores import calibration_targets

__all__ = [
    "CHARS_PER_TOKEN",
    "FORMATS",
    "TEST_MATCH",
    "allocate_eval_counts",
    "calibration_targets",
    "generate_wide",
    "oracle_labels",
    "query_costs",
    "valid_families",
    "wide_to_raw",
    "write_synthetic",
]
