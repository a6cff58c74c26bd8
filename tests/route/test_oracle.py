from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from dacr.route import Context, Outcomes
from dacr.route.oracle import (
    ConstrainedOraclePolicy,
    round_allocation,
    solve_constrained_oracle,
    undominated,
)


def instance(seed=0, n=6, m=3):
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0, 1, (n, m)).round(2)
    cost = rng.uniform(0.001, 0.01, (n, m)).round(4)
    violation = (rng.random((n, m)) < 0.4).astype(float)
    return quality, cost, violation


def brute_force(quality, cost, violation, budget_cost, budget_viol):
    """Every integral routing of the queries, then the best mixture of them within both
    budgets: the set of fractional routings is the convex hull of the integral ones."""
    n, m = quality.shape
    rows = np.arange(n)
    routes = np.array(list(itertools.product(range(m), repeat=n)))  # (m**n, n)
    points = np.stack([a[rows, routes].mean(axis=1) for a in (quality, cost, violation)])
    res = linprog(
        -points[0],
        A_ub=points[1:],
        b_ub=[budget_cost, budget_viol],
        A_eq=np.ones((1, len(routes))),
        b_eq=[1.0],
        bounds=(0, None),
        method="highs-ds",
    )
    return None if res.status == 2 else -res.fun


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("budgets", [(0.004, 0.2), (0.006, 0.5), (0.01, 1.0), (0.003, 0.35)])
def test_lp_equals_brute_force_enumeration_on_6x3(seed, budgets):
    quality, cost, violation = instance(seed)
    expected = brute_force(quality, cost, violation, *budgets)
    got = solve_constrained_oracle(quality, cost, violation, *budgets)
    if expected is None:
        assert not got.feasible
    else:
        assert got.feasible
        assert got.quality == pytest.approx(expected, abs=1e-9)
        assert got.mean_cost <= budgets[0] * (1 + 1e-9)
        assert got.violation_rate <= budgets[1] + 1e-9


def test_the_vertex_splits_at_most_two_queries_and_rounding_keeps_both_budgets():
    rng = np.random.default_rng(4)
    quality, cost = rng.uniform(0, 1, (500, 5)), rng.uniform(0.001, 0.01, (500, 5))
    violation = (rng.random((500, 5)) < 0.3).astype(float)
    got = solve_constrained_oracle(quality, cost, violation, 0.004, 0.1)
    assert got.n_fractional <= 2
    rows = np.arange(500)
    assert cost[rows, got.choice].mean() <= 0.004
    assert violation[rows, got.choice].mean() <= 0.1
    assert quality[rows, got.choice].mean() == pytest.approx(got.quality, abs=2 / 500)


def test_rounding_prefers_the_best_combination_within_budget():
    # One split query between a dear good model and a cheap poor one; within the budget only
    # the cheap one fits, although the fractional weight favours the dear one.
    x = np.array([[1.0, 0.0], [0.3, 0.7]])
    quality = np.array([[0.5, 0.5], [0.1, 0.9]])
    cost = np.array([[1.0, 1.0], [1.0, 3.0]])
    choice, n_split = round_allocation(x, quality, cost, np.zeros((2, 2)), 1.5, 0.1)
    assert n_split == 1 and choice.tolist() == [0, 0]


@pytest.mark.parametrize(
    "budget_cost,budget_viol,violations",
    [(0.0005, 1.0, [0.0, 0.0]), (1.0, 0.2, [0.5, 0.25]), (0.002, 0.4, [1.0, 0.0])],
    ids=["cost below the cheapest", "violations below the fastest", "jointly"],
)
def test_infeasible_budgets_are_reported_never_relaxed(budget_cost, budget_viol, violations):
    # model 0 costs 0.001, model 1 0.004; "jointly": the cheap one always violates, the dear
    # one never, and B = 0.002 with delta = 0.4 needs >= 2/3 on model 0 for cost but <= 0.4
    quality = np.full((4, 2), 0.5)
    cost = np.tile([0.001, 0.004], (4, 1))
    violation = np.tile(violations, (4, 1))
    got = solve_constrained_oracle(quality, cost, violation, budget_cost, budget_viol)
    assert not got.feasible
    assert np.isnan(got.quality) and got.choice is None
    out = Outcomes(quality, cost, np.ones((4, 2)), violation)
    ctx = Context(quality, cost, violation, np.zeros(4, np.int64), np.arange(4.0))
    with pytest.raises(ValueError, match="no routing meets"):
        ConstrainedOraclePolicy(out, budget_cost, budget_viol).select_batch(ctx)


def test_dominated_pairs_are_dropped_without_changing_the_optimum():
    quality, cost, violation = instance(2, n=40, m=6)
    keep = undominated(quality, cost, violation)
    assert 0 < keep.sum() < keep.size and keep.any(axis=1).all()
    full = linprog(
        -quality.ravel() / 40,
        A_ub=np.vstack([cost.ravel() / 40, violation.ravel() / 40]),
        b_ub=[0.005, 0.3],
        A_eq=np.kron(np.eye(40), np.ones((1, 6))),
        b_eq=np.ones(40),
        method="highs-ds",
    )
    assert solve_constrained_oracle(quality, cost, violation, 0.005, 0.3).quality == pytest.approx(
        -full.fun, abs=1e-9
    )


def test_bad_inputs_name_the_problem():
    quality, cost, violation = instance()
    with pytest.raises(ValueError, match="budget_cost=0"):
        solve_constrained_oracle(quality, cost, violation, 0, 0.1)
    cost[0, 0] = np.nan
    with pytest.raises(ValueError, match="cost has missing"):
        solve_constrained_oracle(quality, cost, violation, 0.01, 0.1)
