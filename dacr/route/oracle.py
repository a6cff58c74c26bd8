"""The constrained oracle: the hindsight-optimal routing of a stream under both budgets.

It solves the linear program

    max (1/T) sum_t sum_m q[t, m] x[t, m]
    s.t. sum_m x[t, m] = 1, x >= 0                     (each request routed, fractionally)
         (1/T) sum_t sum_m c[t, m] x[t, m] <= B          (mean cost)
         (1/T) sum_t sum_m v[t, m] x[t, m] <= delta      (SLO violation rate)

on the realised quality, cost and violation with HiGHS (``scipy.optimize.linprog``, interior
point with crossover, so the solution is a vertex). Its value is an upper bound on the mean
quality of any router that keeps both budgets on this stream. A budget no routing can meet is
reported as infeasible, never relaxed. Before solving, (query, model) pairs dominated by
another model of the same query (no better quality, no lower cost, no lower violation) are
dropped: they carry no weight in some optimal solution, and the LP shrinks several-fold.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from dacr.route.base import Context, Outcomes, Policy

log = logging.getLogger(__name__)

_SUPPORT_EPS = 1e-9
_MAX_ROUNDINGS = 4096


@dataclass(frozen=True)
class ConstrainedOracle:
    """Solution of the constrained-oracle LP.

    ``quality``, ``mean_cost`` and ``violation_rate`` are those of the fractional optimum (NaN
    when infeasible); ``choice`` is its integral rounding, which differs from the optimum only
    on the ``n_fractional`` queries the vertex splits (at most two) and keeps both budgets
    whenever some rounding does.
    """

    feasible: bool
    status: str
    budget_cost: float
    budget_viol: float
    quality: float
    mean_cost: float
    violation_rate: float
    choice: np.ndarray | None
    n_fractional: int
    seconds: float

    def summary(self) -> dict:
        """The solution's scalars (JSON-friendly)."""
        return {
            "feasible": self.feasible,
            "status": self.status,
            "budget_cost": self.budget_cost,
            "budget_viol": self.budget_viol,
            "quality": self.quality,
            "mean_cost": self.mean_cost,
            "violation_rate": self.violation_rate,
            "n_fractional": self.n_fractional,
            "seconds": self.seconds,
        }


def undominated(quality: np.ndarray, cost: np.ndarray, violation: np.ndarray) -> np.ndarray:
    """Mask of (query, model) pairs that no other model of the query dominates."""
    n, m_count = quality.shape
    keep = np.ones((n, m_count), dtype=bool)
    for j in range(m_count):
        q, c, v = quality[:, [j]], cost[:, [j]], violation[:, [j]]
        no_worse = (quality >= q) & (cost <= c) & (violation <= v)
        better = (quality > q) | (cost < c) | (violation < v)
        dominated = no_worse & better
        dominated[:, j] = False
        keep[:, j] = ~dominated.any(axis=1)
    return keep


def _check(quality, cost, violation, budget_cost, budget_viol) -> None:
    shapes = {quality.shape, cost.shape, violation.shape}
    if len(shapes) != 1 or quality.ndim != 2 or quality.size == 0:
        raise ValueError(
            f"constrained oracle: quality, cost and violation must be one non-empty (queries x "
            f"models) shape; got {quality.shape}, {cost.shape}, {violation.shape}"
        )
    for name, a in (("quality", quality), ("cost", cost), ("violation", violation)):
        if not np.isfinite(a).all():
            raise ValueError(f"constrained oracle: {name} has missing or infinite values")
    if not (budget_cost > 0 and budget_viol > 0):
        raise ValueError(
            f"constrained oracle: budget_cost={budget_cost} and budget_viol={budget_viol} "
            "must be > 0"
        )


def solve_constrained_oracle(
    quality: np.ndarray,
    cost: np.ndarray,
    violation: np.ndarray,
    budget_cost: float,
    budget_viol: float,
) -> ConstrainedOracle:
    """Solve the constrained-oracle LP (module docstring) with HiGHS."""
    quality, cost, violation = (np.asarray(a, dtype=np.float64) for a in (quality, cost, violation))
    _check(quality, cost, violation, budget_cost, budget_viol)
    from scipy.optimize import linprog  # HiGHS; imported here, only the LP's jobs need it

    n, _ = quality.shape
    start = time.perf_counter()
    rows, cols = np.nonzero(undominated(quality, cost, violation))
    k = rows.size
    # Budget rows scaled to a right-hand side of 1 (USD costs are ~1e-4: badly scaled raw).
    a_ub = np.vstack(
        [cost[rows, cols] / (budget_cost * n), violation[rows, cols] / (budget_viol * n)]
    )
    a_eq = sp.csr_array((np.ones(k), (rows, np.arange(k))), shape=(n, k))
    res = linprog(
        -quality[rows, cols] / n,
        A_ub=a_ub,
        b_ub=np.ones(2),
        A_eq=a_eq,
        b_eq=np.ones(n),
        bounds=(0, None),
        method="highs-ipm",
    )
    seconds = time.perf_counter() - start
    if res.status != 0:
        feasible = res.status != 2
        if feasible:  # iteration limit or numerical trouble: not an answer either way
            raise RuntimeError(f"constrained oracle: HiGHS failed ({res.status}): {res.message}")
        nan = float("nan")
        return ConstrainedOracle(
            False, res.message, budget_cost, budget_viol, nan, nan, nan, None, 0, seconds
        )
    x = np.zeros_like(quality)
    x[rows, cols] = np.maximum(res.x, 0.0)
    choice, n_frac = round_allocation(x, quality, cost, violation, budget_cost, budget_viol)
    return ConstrainedOracle(
        True,
        res.message,
        budget_cost,
        budget_viol,
        float((quality * x).sum() / n),
        float((cost * x).sum() / n),
        float((violation * x).sum() / n),
        choice,
        n_frac,
        seconds,
    )


def round_allocation(
    x: np.ndarray,
    quality: np.ndarray,
    cost: np.ndarray,
    violation: np.ndarray,
    budget_cost: float,
    budget_viol: float,
) -> tuple[np.ndarray, int]:
    """One model per query from a fractional allocation: the split queries get the support
    combination with the best quality that keeps both budgets (else the one closest to them)."""
    n = x.shape[0]
    choice = np.argmax(x, axis=1)
    support = x > _SUPPORT_EPS
    split = np.flatnonzero(support.sum(axis=1) > 1)
    options = [np.flatnonzero(support[i]) for i in split]
    if split.size == 0 or np.prod([len(o) for o in options], dtype=float) > _MAX_ROUNDINGS:
        return choice, int(split.size)
    rows = np.arange(n)
    base = [
        float(a[rows, choice].sum() - a[split, choice[split]].sum())
        for a in (quality, cost, violation)
    ]
    best, best_key = None, None
    for combo in itertools.product(*options):
        combo = np.asarray(combo)
        q, c, v = (
            b + float(a[split, combo].sum())
            for b, a in zip(base, (quality, cost, violation), strict=True)
        )
        excess = max(c / (budget_cost * n), v / (budget_viol * n)) - 1.0
        key = (excess > 1e-12, max(excess, 0.0), -q)
        if best_key is None or key < best_key:
            best, best_key = combo, key
    choice[split] = best
    return choice, int(split.size)


class ConstrainedOraclePolicy(Policy):
    """Upper bound under both budgets: the rounded constrained-oracle LP of the stream."""

    name = "constrained_oracle"
    upper_bound = True

    def __init__(self, outcomes: Outcomes, budget_cost: float, budget_viol: float) -> None:
        super().__init__(outcomes=outcomes, budget_cost=budget_cost, budget_viol=budget_viol)

    def solve(self) -> ConstrainedOracle:
        out = self.outcomes
        return solve_constrained_oracle(
            out.quality, out.cost, out.violation, self.budget_cost, self.budget_viol
        )

    def reset(self) -> None:
        self._choice: np.ndarray | None = None

    def select_one(self, request) -> int:
        """The LP's (rounded) choice for request ``request.t`` (solved once, in hindsight)."""
        if self._choice is None:
            self._choice = self.select_batch(None)
        return int(self._choice[request.t])

    def select_batch(self, ctx: Context | None) -> np.ndarray:
        solution = self.solve()
        if not solution.feasible:
            raise ValueError(
                f"constrained oracle: no routing meets budget_cost={self.budget_cost:g} and "
                f"budget_viol={self.budget_viol:g} on this stream ({solution.status})"
            )
        return solution.choice
