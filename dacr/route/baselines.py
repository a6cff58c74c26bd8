"""Stateless routers: random, fixed, cheapest, oracle, cascade, RouteLLM-style, scalarised."""

from __future__ import annotations

import numpy as np

from dacr.route.base import Context, Outcomes, Policy
from dacr.route.online import Request


def argmax_score(q: np.ndarray, cost: np.ndarray, viol: np.ndarray, lam: float, lam_lat: float):
    """``argmax_m q - lam * cost - lam_lat * viol`` per row (first model on ties)."""
    return np.argmax(q - lam * cost - lam_lat * viol, axis=1)


class RandomPolicy(Policy):
    """Uniformly random model per request, from a seeded generator."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)

    def reset(self) -> None:
        self._rng = np.random.default_rng([self.seed, 3])

    def select_batch(self, ctx: Context) -> np.ndarray:
        return self._rng.integers(0, ctx.q_cal.shape[1], size=ctx.n)

    def select_one(self, request: Request) -> int:
        return int(self._rng.integers(0, len(request.q_cal)))


class FixedPolicy(Policy):
    """Always the same model (``always_strong``, ``single:<model>``)."""

    def __init__(self, model: int, name: str = "single") -> None:
        super().__init__(model=model, name=name)

    def select_batch(self, ctx: Context) -> np.ndarray:
        return np.full(ctx.n, self.model, dtype=np.int64)


class CheapestPolicy(Policy):
    """The model with the lowest decision cost (predicted, or realised in oracle mode)."""

    name = "cheapest"

    def select_batch(self, ctx: Context) -> np.ndarray:
        return np.argmin(ctx.cost, axis=1)


class OraclePolicy(Policy):
    """Upper bound: the best realised quality, ties to the cheapest realised cost."""

    name = "oracle"
    upper_bound = True

    def __init__(self, outcomes: Outcomes) -> None:
        super().__init__(outcomes=outcomes)

    def select_batch(self, ctx: Context) -> np.ndarray:
        quality, cost = self.outcomes.quality, self.outcomes.cost
        best = quality == quality.max(axis=1, keepdims=True)
        return np.argmin(np.where(best, cost, np.inf), axis=1)

    def select_one(self, request: Request) -> int:
        """The hindsight choice for request ``request.t`` (it reads the realised outcomes)."""
        quality, cost = self.outcomes.quality[request.t], self.outcomes.cost[request.t]
        return int(np.argmin(np.where(quality == quality.max(), cost, np.inf)))


class CascadePolicy(Policy):
    """Cheapest model (by training cost order) whose predicted quality reaches the threshold,
    else the most expensive one: a predictive cascade, as in the original DACR scripts."""

    name = "cascade"

    def __init__(self, cost_order: np.ndarray, threshold: float = 0.7) -> None:
        super().__init__(cost_order=np.asarray(cost_order), threshold=threshold)

    def select_batch(self, ctx: Context) -> np.ndarray:
        ok = ctx.q_cal[:, self.cost_order] >= self.threshold
        first = np.argmax(ok, axis=1)
        pos = np.where(ok.any(axis=1), first, len(self.cost_order) - 1)
        return self.cost_order[pos]


class RouteLLMPolicy(Policy):
    """Binary router: the strong model when P(strong beats weak) >= threshold, else the weak."""

    name = "routellm"

    def __init__(self, strong: int, weak: int, threshold: float = 0.5) -> None:
        super().__init__(strong=strong, weak=weak, threshold=threshold)

    def select_batch(self, ctx: Context) -> np.ndarray:
        if ctx.p_win is None:
            raise ValueError("routellm needs the win probabilities p_win in the context")
        return np.where(ctx.p_win >= self.threshold, self.strong, self.weak)


class ScalarisedPolicy(Policy):
    """``argmax q - lambda_cost * cost - lambda_lat * viol`` over a quality estimate.

    ``quality`` names the estimate: ``calibrated`` (MixLLM-style), or a key of
    ``Context.q_extra`` (``llmrec``, ``knn``).
    """

    def __init__(
        self, name: str, quality: str, lambda_cost: float, lambda_lat: float = 1.0
    ) -> None:
        super().__init__(name=name, quality=quality, lambda_cost=lambda_cost, lambda_lat=lambda_lat)

    def select_batch(self, ctx: Context) -> np.ndarray:
        q = ctx.q_cal if self.quality == "calibrated" else ctx.q_extra[self.quality]
        return argmax_score(q, ctx.cost, ctx.viol, self.lambda_cost, self.lambda_lat)
