from __future__ import annotations

import numpy as np
import pytest

from dacr.route.budget import DEFAULT_LAMBDA_LATS, DEFAULT_LAMBDAS, choose_budget_lambdas


def two_models(n=1000, seed=0):
    # model 1 costs 2 USD more and is better by a spread-out margin d_t: at weight lam it is
    # chosen where d_t > 2 * lam, so the mean cost is 1 + 2 * P(d > 2 lam)
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 1, n)
    quality = np.column_stack([np.full(n, 0.2), 0.2 + d])
    cost = np.tile([1.0, 3.0], (n, 1))
    return quality, cost, np.zeros((n, 2)), d


def test_the_smallest_weight_that_meets_the_budget_wins():
    quality, cost, violation, d = two_models()
    chosen = choose_budget_lambdas(quality, cost, violation, 2.0, 0.1)
    # mean cost <= 2 needs P(d > 2 lam) <= 1/2: lam >= median(d) / 2
    feasible = [lam for lam in DEFAULT_LAMBDAS if (d > 2 * lam).mean() <= 0.5]
    assert chosen.lambda_cost == min(feasible)
    assert chosen.feasible_on_train and chosen.train_cost <= 2.0
    assert chosen.lambda_lat == max(DEFAULT_LAMBDA_LATS)  # no violations: ties go to the larger


def test_violation_budget_sets_the_latency_weight():
    quality, cost, _, d = two_models()
    violation = np.tile([0.0, 0.3], (len(d), 1))  # model 1 violates 30 % of the time
    chosen = choose_budget_lambdas(quality, np.zeros_like(cost), violation, 1.0, 0.15)
    # at most half the queries may go to model 1: d_t > 0.3 * lam_lat for at most half
    assert chosen.feasible_on_train and chosen.train_violation <= 0.15
    assert (d > 0.3 * chosen.lambda_lat).mean() <= 0.5
    assert chosen.train_violation > 0.10  # and not much more conservative than needed


def test_an_unreachable_budget_returns_the_closest_pair_flagged_infeasible():
    quality, cost, violation, _ = two_models()
    chosen = choose_budget_lambdas(quality, cost, violation, 0.5, 0.1)  # below the cheapest
    assert not chosen.feasible_on_train
    assert chosen.train_cost == pytest.approx(1.0)  # everything on the cheap model


def test_bad_budgets_are_refused():
    quality, cost, violation, _ = two_models(10)
    with pytest.raises(ValueError, match="budget_cost=0"):
        choose_budget_lambdas(quality, cost, violation, 0.0, 0.1)
