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


def budget_grid(
    quality: np.ndarray,
    cost: np.ndarray,
    violation: np.ndarray,
    *,
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    lambda_lats: tuple[float, ...] = DEFAULT_LAMBDA_LATS,
) -> np.ndarray:
    """Mean quality, cost and violation of the scalarised choice at every weight pair.

    Rows ``(lambda_cost, lambda_lat, quality, cost, violation)``, from the largest weights
    down; it does not depend on the budgets, so one grid serves a whole budget sweep.
    """
    rows = np.arange(quality.shape[0])
    out = []
    for lam_lat in sorted(lambda_lats, reverse=True):
        penalised = quality - lam_lat * violation
        for lam in sorted(lambdas, reverse=True):
            choice = np.argmax(penalised - lam * cost, axis=1)
            out.append(
                (
                    lam,
                    lam_lat,
                    quality[rows, choice].mean(),
                    cost[rows, choice].mean(),
                    violation[rows, choice].mean(),
                )
            )
    return np.array(out, dtype=float)


def choose_from_grid(grid: np.ndarray, budget_cost: float, budget_viol: float) -> BudgetChoice:
    """The pair of :func:`budget_grid` that meets both budgets with the best mean quality; ties
    go to the larger weights. When none does, the pair with the smallest relative excess
    ``max(cost / B, violation / delta)``, with ``feasible_on_train`` false."""
    if not (budget_cost > 0 and budget_viol > 0):
        raise ValueError(f"budget_cost={budget_cost} and budget_viol={budget_viol} must be > 0")
    excess = np.maximum(grid[:, 3] / budget_cost, grid[:, 4] / budget_viol)
    ok = excess <= 1.0
    # lexicographic: feasible first, then smaller excess (infeasible only), then better
    # quality; np.lexsort is stable, so ties keep the grid's larger-weights-first order
    key = np.lexsort((-grid[:, 2], np.where(ok, 0.0, excess), ~ok))
    lam, lam_lat, q, c, v = grid[key[0]]
    return BudgetChoice(float(lam), float(lam_lat), bool(ok[key[0]]), float(q), float(c), float(v))


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
    (predicted) matrices with the best mean quality (:func:`choose_from_grid`)."""
    if not (budget_cost > 0 and budget_viol > 0):
        raise ValueError(f"budget_cost={budget_cost} and budget_viol={budget_viol} must be > 0")
    grid = budget_grid(quality, cost, violation, lambdas=lambdas, lambda_lats=lambda_lats)
    return choose_from_grid(grid, budget_cost, budget_viol)
