from __future__ import annotations

import numpy as np
import pytest

from dacr.route import (
    CascadePolicy,
    CheapestPolicy,
    Context,
    DACRPolicy,
    FixedPolicy,
    OraclePolicy,
    Outcomes,
    RandomPolicy,
    RouteLLMPolicy,
    ScalarisedPolicy,
    replay,
)
from dacr.route.online import FeedbackSchedule, run_online
from dacr.route.oracle import ConstrainedOraclePolicy

# Three queries x three models (0 cheap/weak, 1 mid, 2 dear/strong).
Q_HAT = np.array([[0.2, 0.6, 0.9], [0.8, 0.7, 0.95], [0.1, 0.2, 0.3]])
C_HAT = np.array([[0.001, 0.01, 0.1], [0.001, 0.01, 0.1], [0.001, 0.01, 0.1]])
V_HAT = np.array([[0.0, 0.0, 0.9], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
QUALITY = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.5]])


def ctx(**kw) -> Context:
    base = dict(
        q_cal=Q_HAT,
        cost=C_HAT,
        viol=V_HAT,
        domain=np.zeros(3, dtype=np.int64),
        ts=np.arange(3.0),
        q_extra={"calibrated": Q_HAT, "knn": Q_HAT[:, ::-1].copy()},
        p_win=np.array([0.9, 0.2, 0.5]),
    )
    base.update(kw)
    return Context(**base)


def outcomes(quality=QUALITY) -> Outcomes:
    lat = np.ones_like(quality)
    return Outcomes(quality, C_HAT, lat, np.zeros_like(quality))


POLICIES = [
    RandomPolicy(seed=1),
    CheapestPolicy(),
    FixedPolicy(2),
    OraclePolicy(outcomes()),
    CascadePolicy(np.array([0, 1, 2]), 0.7),
    RouteLLMPolicy(strong=2, weak=0, threshold=0.5),
    ScalarisedPolicy("mixllm", "calibrated", lambda_cost=1.0, lambda_lat=1.0),
    DACRPolicy(lambda_cost=1.0, delay=0, p_miss=0.0, n_domains=1),
    DACRPolicy(lambda_cost=1.0, dual="raw", feedback_clock="index", n_domains=1),
    DACRPolicy(lambda_cost=1.0, hard_budget=True, budget_cost=0.01, n_domains=1),
    ConstrainedOraclePolicy(outcomes(), budget_cost=0.05, budget_viol=0.5),
]


def test_cheapest_picks_the_lowest_decision_cost():
    assert replay(CheapestPolicy(), ctx(), outcomes()).tolist() == [0, 0, 0]


def test_fixed_policy_always_returns_its_model():
    assert replay(FixedPolicy(1), ctx(), outcomes()).tolist() == [1, 1, 1]


def test_oracle_takes_best_realised_quality_ties_to_cheapest():
    # q0: models 1 and 2 score 1 -> 1 is cheaper; q1: all score 1 -> 0; q2: only 2 scores.
    assert replay(OraclePolicy(outcomes()), ctx(), outcomes()).tolist() == [1, 0, 2]


def test_cascade_takes_the_cheapest_model_above_threshold_else_the_dearest():
    # q0: 0.2, 0.6 < 0.7 <= 0.9 -> 2; q1: 0.8 >= 0.7 -> 0; q2: nobody -> the last, 2.
    assert replay(CascadePolicy(np.array([0, 1, 2]), 0.7), ctx(), outcomes()).tolist() == [2, 0, 2]


def test_cascade_follows_the_given_cost_order():
    # Model 1 listed first: q1 has 0.7 >= 0.7 for model 1, so it wins over model 0.
    policy = CascadePolicy(np.array([1, 0, 2]), 0.7)
    assert replay(policy, ctx(), outcomes()).tolist() == [2, 1, 2]


def test_routellm_thresholds_the_win_probability():
    policy = RouteLLMPolicy(strong=2, weak=0, threshold=0.5)
    assert replay(policy, ctx(), outcomes()).tolist() == [2, 0, 2]


def test_mixllm_scalarisation_by_hand():
    # q0 scores: 0.2-0.001, 0.6-0.01, 0.9-0.1-0.9 -> model 1.
    # q1: 0.799, 0.7-0.01-0.5=0.19, 0.95-0.1=0.85 -> model 2.  q2: 0.099, 0.19, 0.2 -> 2.
    policy = ScalarisedPolicy("mixllm", "calibrated", lambda_cost=1.0, lambda_lat=1.0)
    assert replay(policy, ctx(), outcomes()).tolist() == [1, 2, 2]
    cheap = ScalarisedPolicy("mixllm", "calibrated", lambda_cost=10.0, lambda_lat=1.0)
    # lambda 10: q1 -> 0.79 vs 0.95-1.0 -> 0; q2 -> 0.09, 0.1, -0.7 -> 1.
    assert replay(cheap, ctx(), outcomes()).tolist() == [1, 0, 1]


def test_knn_and_llmrec_use_their_own_quality_estimate():
    policy = ScalarisedPolicy("knn", "knn", lambda_cost=0.0, lambda_lat=0.0)
    assert replay(policy, ctx(), outcomes()).tolist() == [0, 0, 0]


def test_random_is_seeded_and_clone_resets_it():
    a = replay(RandomPolicy(seed=5), ctx(), outcomes())
    policy = RandomPolicy(seed=5)
    b = replay(policy, ctx(), outcomes())
    c = replay(policy.clone(), ctx(), outcomes())
    assert a.tolist() == b.tolist() == c.tolist()


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: type(p).__name__)
def test_contract_same_seed_same_decisions_inputs_untouched_clone_resets(policy):
    context = ctx()
    before = {k: v.copy() for k, v in vars(context).items() if isinstance(v, np.ndarray)}
    first = replay(policy.clone(), context, outcomes())
    second = replay(policy.clone(), context, outcomes())
    assert first.tolist() == second.tolist()
    for key, value in before.items():
        assert np.array_equal(getattr(context, key), value), key
    assert policy.clone().get_params().keys() == policy.get_params().keys()


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: type(p).__name__)
def test_contract_per_request_api_matches_the_replay(policy):
    context, out = ctx(), outcomes()
    fast = replay(policy.clone(), context, out)
    slow = policy.clone()
    schedule = slow.schedule() if hasattr(slow, "schedule") else FeedbackSchedule()
    assert run_online(slow, context, out, schedule).tolist() == fast.tolist()
