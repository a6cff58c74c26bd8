from __future__ import annotations

import numpy as np
import pytest

from dacr.policies import (
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
    feedback_available_at,
    replay,
)

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


def _dacr_stream(n=400, seed=0):
    rng = np.random.default_rng(seed)
    q_hat = rng.uniform(0.2, 0.8, size=(n, 3))
    cost = np.tile([0.001, 0.004, 0.02], (n, 1))
    viol = rng.uniform(0, 0.3, size=(n, 3))
    dom = rng.integers(0, 2, size=n)
    real_q = (rng.uniform(size=(n, 3)) < np.clip(q_hat - 0.3, 0, 1)).astype(float)
    context = ctx(q_cal=q_hat, cost=cost, viol=viol, domain=dom, ts=np.arange(n, dtype=float))
    out = Outcomes(real_q, cost, np.ones((n, 3)), (rng.uniform(size=(n, 3)) < viol).astype(float))
    return context, out


def _python_loop(policy, context, out):
    choices = []
    for t in range(context.n):
        m = policy.select_one(t, context)
        policy.update_one(t, m, out)
        choices.append(m)
    return np.array(choices)


@pytest.mark.parametrize("delay,delay_s,p_miss", [(10, None, 0.3), (0, None, 0.0), (3, 2.5, 0.5)])
def test_dacr_compiled_replay_equals_the_per_request_loop(delay, delay_s, p_miss):
    context, out = _dacr_stream()
    params = dict(lambda_cost=2.0, delay=delay, delay_s=delay_s, p_miss=p_miss, n_domains=2, seed=9)
    fast = DACRPolicy(**params).replay(context, out)
    slow_policy = DACRPolicy(**params)
    slow = _python_loop(slow_policy, context, out)
    assert fast.choice.tolist() == slow.tolist()
    assert fast.mu_c[-1] == pytest.approx(slow_policy.mu_c)
    assert np.allclose(fast.bias, slow_policy.bias)


def test_dacr_dual_prices_step_by_step():
    # One model, cost 0.01 per request, budget 0.004, violation every request, delta 0.1.
    n = 3
    one = np.ones((n, 1))
    context = ctx(
        q_cal=0.5 * one, cost=0.01 * one, viol=one, domain=np.zeros(n, np.int64), ts=np.arange(3.0)
    )
    out = Outcomes(one, 0.01 * one, one, one)
    trace = DACRPolicy(
        lambda_cost=0.0, budget_cost=0.004, budget_viol=0.1, mu_lr=0.5, p_miss=1.0
    ).replay(context, out)
    assert trace.mu_c.tolist() == pytest.approx([0.003, 0.006, 0.009])
    assert trace.mu_l.tolist() == pytest.approx([0.45, 0.9, 1.35])


def test_dacr_dual_price_never_goes_negative():
    n = 4
    one = np.ones((n, 1))
    context = ctx(
        q_cal=0.5 * one,
        cost=0.0 * one,
        viol=0 * one,
        domain=np.zeros(n, np.int64),
        ts=np.arange(4.0),
    )
    out = Outcomes(one, 0.0 * one, one, 0 * one)
    trace = DACRPolicy(lambda_cost=0.0, mu_lr=1.0, p_miss=1.0).replay(context, out)
    assert (trace.mu_c == 0).all() and (trace.mu_l == 0).all()


def _feedback_setup(n=30):
    # Two models; model 0 is predicted 0.5 but always scores 1: its correction rises once
    # feedback arrives. Model 1 is predicted 0.45, so DACR always picks 0.
    q = np.tile([0.5, 0.45], (n, 1))
    zeros = np.zeros((n, 2))
    context = ctx(
        q_cal=q, cost=zeros, viol=zeros, domain=np.zeros(n, np.int64), ts=np.arange(n, dtype=float)
    )
    out = Outcomes(np.tile([1.0, 0.0], (n, 1)), zeros, np.ones((n, 2)), zeros)
    return context, out


def test_dacr_feedback_is_applied_exactly_after_decision_t_plus_delay():
    context, out = _feedback_setup()
    trace = DACRPolicy(lambda_cost=0.0, cal_lr=0.1, delay=5, p_miss=0.0).replay(context, out)
    # q~ of the chosen model: 0.5 until decision 5 has been made; decision 6 is the first to
    # see the feedback of decision 0: 0.5 + 0.1 * (1 - 0.5) = 0.55.
    assert trace.q_tilde[:6].tolist() == [0.5] * 6
    assert trace.q_tilde[6] == pytest.approx(0.55)
    assert feedback_available_at(np.arange(4.0), 5, None).tolist() == [6, 7, 8, 9]


def test_dacr_zero_delay_no_loss_is_immediate():
    context, out = _feedback_setup()
    trace = DACRPolicy(lambda_cost=0.0, cal_lr=0.1, delay=0, p_miss=0.0).replay(context, out)
    assert trace.q_tilde[0] == 0.5
    assert trace.q_tilde[1] == pytest.approx(0.55)
    assert trace.q_tilde[2] == pytest.approx(0.55 + 0.1 * 0.45)


def test_dacr_all_feedback_lost_never_changes_corrections():
    context, out = _feedback_setup()
    trace = DACRPolicy(lambda_cost=0.0, cal_lr=0.5, delay=0, p_miss=1.0).replay(context, out)
    assert (trace.bias == 0).all()
    assert (trace.q_tilde == 0.5).all()


def test_dacr_time_delay_uses_stream_time():
    ts = np.array([0.0, 0.5, 1.0, 3.0, 3.1])
    assert feedback_available_at(ts, 0, 2.0).tolist() == [3, 3, 3, 5, 5]
    assert feedback_available_at(ts, 0, 0.0).tolist() == [1, 2, 3, 4, 5]


def test_dacr_correction_is_bounded():
    context, out = _feedback_setup(200)
    trace = DACRPolicy(lambda_cost=0.0, cal_lr=1.0, delay=0, p_miss=0.0, bias_bound=0.2).replay(
        context, out
    )
    assert trace.bias.max() == pytest.approx(0.2)


def test_dacr_same_seed_same_decisions_and_seed_matters():
    context, out = _dacr_stream()
    a = DACRPolicy(lambda_cost=1.0, n_domains=2, seed=1).replay(context, out).choice
    b = DACRPolicy(lambda_cost=1.0, n_domains=2, seed=1).replay(context, out).choice
    c = DACRPolicy(lambda_cost=1.0, n_domains=2, seed=2, cal_lr=0.5).replay(context, out).choice
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lambda_cost": -1.0}, "lambda_cost=-1.0"),
        ({"lambda_cost": 1.0, "budget_cost": 0.0}, "budget_cost=0.0"),
        ({"lambda_cost": 1.0, "budget_viol": -0.1}, "budget_viol=-0.1"),
        ({"lambda_cost": 1.0, "p_miss": 1.5}, "p_miss=1.5"),
    ],
)
def test_dacr_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DACRPolicy(**kwargs)
