"""Offline budget baselines: cost weights chosen on training data to meet the budgets.

The standard offline way to keep a budget with a scalarised router (MixLLM-, LLMRec-style):
sweep ``(lambda_cost, lambda_lat)`` on the training split's out-of-fold predictions, and keep
the pair whose predicted mean cost is at most B and predicted violation rate at most delta,
with the best predicted mean quality. The pair then routes the test stream unchanged, so
whatever the training split does not show (a domain shift, a burst of load) goes uncorrected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dacr.route.baselines import argmax_score

DEFAULT_LAMBDAS = (0.0, *np.logspace(-1, 5, 29).tolist())
DEFAULT_LAMBDA_LATS = (0.0, *np.logspace(-1, 3, 13).tolist())


@dataclass(frozen=True)
class BudgetChoice:
    """The chosen weights and what the training predictions promise for them."""

    lambda_cost: float
    lambda_lat: float
    feasible_on_train: bool
    train_quality: float
    train_cost: float
    train_violation: float

    def summary(self) -> dict:
        return dict(vars(self))


def choose_budget_lambdas(
    quality: np.ndarray,
    cost: np.ndarray,
    violation: np.ndarray,
    budget_cost: float,
    budget_viol: float,
    *,
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    lambda_lats: tuple[float, ...] = DEFAULT_LAMBDA_LATS,
) -> BudgetChoice:
    """The ``(lambda_cost, lambda_lat)`` of the grids that meets both budgets on the given
    (predicted) matrices with the best mean quality; ties go to the larger weights.

    When no pair meets both, the pair with the smallest relative excess
    ``max(cost / B, violation / delta)`` is returned with ``feasible_on_train`` false.
    """
    if not (budget_cost > 0 and budget_viol > 0):
        raise ValueError(f"budget_cost={budget_cost} and budget_viol={budget_viol} must be > 0")
    rows = np.arange(quality.shape[0])
    best_key, best = None, None
    for lam_lat in sorted(lambda_lats, reverse=True):
        for lam in sorted(lambdas, reverse=True):
            choice = argmax_score(quality, cost, violation, lam, lam_lat)
            q = float(quality[rows, choice].mean())
            c = float(cost[rows, choice].mean())
            v = float(violation[rows, choice].mean())
            excess = max(c / budget_cost, v / budget_viol)
            ok = excess <= 1.0
            key = (not ok, 0.0 if ok else excess, -q)
            if best_key is None or key < best_key:
                best_key, best = key, BudgetChoice(float(lam), float(lam_lat), ok, q, c, v)
    return best
