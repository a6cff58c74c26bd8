"""A router that asks an external scoring function how hard a prompt is.

``scorer`` names any function ``scorer(prompt: str) -> float`` in [0, 1]
("package.module:function"): it could wrap a reward model, a classifier service or a rule
table. The router calls it for every request and routes to ``argmax(q_cal - lambda_cost *
(1 - difficulty) * cost)``: on easy prompts it weighs cost fully, on hard ones it pays for
quality. It takes part in the λ sweep (``uses_lambda: true``) and learns nothing online.
"""

from __future__ import annotations

import importlib

import numpy as np

REASONING = ("prove", "code", "python", "calculate", "step by step", "explain", "why")


def keyword_difficulty(prompt: str) -> float:
    """A stand-in external scorer: longer prompts and reasoning words look harder."""
    text = prompt.lower()
    return min(1.0, len(text) / 4000 + 0.25 * sum(word in text for word in REASONING))


class ExternalScoreRouter:
    def __init__(self, lambda_cost: float, scorer: str = f"{__name__}:keyword_difficulty"):
        self.lambda_cost = lambda_cost
        self.scorer = scorer
        module, function = scorer.split(":")
        self._difficulty = getattr(importlib.import_module(module), function)

    def select_one(self, request) -> int:
        easy = 1.0 - float(self._difficulty(request.prompt))
        price = self.lambda_cost * easy * np.asarray(request.cost)
        return int(np.argmax(np.asarray(request.q_cal) - price))

    def update_one(self, feedback) -> None:
        pass
