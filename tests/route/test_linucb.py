from __future__ import annotations

import itertools

import numpy as np
import pytest

from dacr.route import Context, Outcomes
from dacr.route.custom import TrainData
from dacr.route.linucb import LinUCBPolicy
from dacr.route.linucb_kernel import learn, ucb_select, width_cap, width_caps
from dacr.route.online import FeedbackSchedule, run_online


def contextual(n=3000, seed=0):
    """Model 0 is right when x > 0, model 1 when x < 0; the predictions know nothing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    p = np.column_stack([x[:, 0] > 0, x[:, 0] < 0]) * 0.8 + 0.1
    quality = (rng.random((n, 2)) < p).astype(float)
    flat = np.full((n, 2), 0.5)
    zeros = np.zeros((n, 2))
    ctx = Context(
        flat,
        np.full((n, 2), 0.001),
        zeros,
        np.zeros(n, np.int64),
        np.arange(n, dtype=float),
        features=x,
    )
    return ctx, Outcomes(quality, np.full((n, 2), 0.001), np.full((n, 2), 0.1), zeros), x


def test_learns_which_model_suits_which_context_from_its_own_feedback():
    ctx, out, x = contextual()
    choice = run_online(
        LinUCBPolicy(lambda_cost=0.0, budget_cost=1.0),
        ctx,
        out,
        FeedbackSchedule(clock="index", delay=0, p_miss=0.0),
    )
    right = np.where(x[:, 0] > 0, 0, 1)
    assert (choice[1500:] == right[1500:]).mean() > 0.9
    assert (choice[:50] == right[:50]).mean() < 0.9  # it had to learn it


def test_a_warm_start_from_the_training_split_knows_the_contexts_at_once():
    ctx, out, x = contextual()
    train_ctx, train_out, train_x = contextual(seed=5)
    train = TrainData(
        np.arange(len(train_x)).astype(str),
        train_x,
        np.array([]),
        np.array([]),
        ("a", "b"),
        train_out.quality,
        train_out.cost,
        None,
    )
    schedule = FeedbackSchedule(clock="index", delay=0, p_miss=1.0)  # never any label online
    warm = run_online(LinUCBPolicy(lambda_cost=0.0, budget_cost=1.0).fit(train), ctx, out, schedule)
    cold = run_online(
        LinUCBPolicy(lambda_cost=0.0, budget_cost=1.0, warm_start=False).fit(train),
        ctx,
        out,
        schedule,
    )
    right = np.where(x[:, 0] > 0, 0, 1)
    assert (warm[:200] == right[:200]).mean() > 0.9
    assert (cold == right).mean() < 0.7  # without labels and without a start it cannot learn


def test_its_duals_keep_the_cost_budget():
    # model 1 is always better but costs 3x the budget: at most half the calls may go to it
    n = 4000
    rng = np.random.default_rng(1)
    quality = np.column_stack([np.full(n, 0.3), np.full(n, 0.9)])
    cost = np.tile([0.001, 0.006], (n, 1))
    ctx = Context(
        np.full((n, 2), 0.5),
        cost,
        np.zeros((n, 2)),
        np.zeros(n, np.int64),
        np.arange(n, dtype=float),
        features=rng.normal(size=(n, 3)),
    )
    out = Outcomes(quality, cost, np.full((n, 2), 0.1), np.zeros((n, 2)))
    choice = run_online(
        LinUCBPolicy(lambda_cost=0.0, budget_cost=0.0035),
        ctx,
        out,
        FeedbackSchedule(clock="index", delay=0, p_miss=0.0),
    )
    spent = cost[np.arange(n), choice].mean()
    assert spent == pytest.approx(0.0035, rel=0.03)


def test_it_needs_features_and_valid_parameters():
    ctx, out, _ = contextual(10)
    blind = Context(ctx.q_cal, ctx.cost, ctx.viol, ctx.domain, ctx.ts)
    with pytest.raises(ValueError, match="linucb needs the query features"):
        run_online(LinUCBPolicy(lambda_cost=0.0), blind, out, FeedbackSchedule(clock="index"))
    with pytest.raises(ValueError, match="ridge=0"):
        LinUCBPolicy(lambda_cost=0.0, ridge=0)


def stream_case(n=600, n_models=4, d=5, seed=2):
    """Random predictions, outcomes and features on a Poisson stream (latencies of seconds)."""
    rng = np.random.default_rng(seed)
    shape = (n, n_models)
    ctx = Context(
        rng.random(shape),
        rng.random(shape) * 1e-3,
        rng.random(shape) * 0.3,
        np.zeros(n, np.int64),
        np.cumsum(rng.exponential(0.3, n)),
        features=rng.normal(size=(n, d)).astype(np.float32),
    )
    out = Outcomes(
        (rng.random(shape) < 0.5) * 1.0,
        rng.random(shape) * 1e-3,
        rng.exponential(2.0, shape),
        (rng.random(shape) < 0.2) * 1.0,
    )
    train = TrainData(
        np.arange(300).astype(str),
        rng.normal(size=(300, d)),
        np.array([]),
        np.array([]),
        tuple("abcd"[:n_models]),
        (rng.random((300, n_models)) < 0.5) * 1.0,
        None,
        None,
    )
    return ctx, out, train


def test_the_compiled_replay_makes_the_per_request_choices_under_every_schedule():
    ctx, out, train = stream_case()
    options = itertools.product(
        [True, False],  # warm start
        ["stream", "index"],
        [None, 1.5],  # delay_s
        [0.0, 0.3],  # p_miss
        [False, True],  # outcomes at once
        [0.0, 1.0],  # lambda_lat
    )
    for warm, clock, delay_s, p_miss, at_once, lambda_lat in options:
        schedule = FeedbackSchedule(
            clock=clock, delay=3, delay_s=delay_s, p_miss=p_miss, seed=7, outcomes_at_once=at_once
        )

        params = {"lambda_cost": 50.0, "lambda_lat": lambda_lat, "budget_cost": 4e-4}
        policies = [LinUCBPolicy(**params) for _ in range(2)]
        if warm:
            policies = [p.fit(train) for p in policies]
        expected = run_online(policies[0], ctx, out, schedule)
        got = policies[1].replay_online(ctx, out, schedule)
        case = (warm, clock, delay_s, p_miss, at_once, lambda_lat)
        assert np.array_equal(got, expected), case
        assert len(set(got.tolist())) > 1, case  # a real choice, not a constant


def test_the_width_bound_skips_only_models_that_cannot_win():
    rng = np.random.default_rng(4)
    d, n_models = 6, 5
    a0 = np.linalg.inv(np.eye(d) + (lambda z: z.T @ z)(rng.normal(size=(50, d))))
    a0 = (a0 + a0.T) / 2
    a_inv = np.tile(a0, (n_models, 1, 1))
    theta = rng.normal(size=(n_models, d)) * 0.1
    u = np.empty(d)
    for _ in range(200):  # labels for random models: every A_m grows from A_0
        m = int(rng.integers(n_models))
        learn(a_inv, theta, m, rng.normal(size=d), float(rng.random() < 0.5), u)
    for _ in range(500):
        x, cost, viol = rng.normal(size=d), rng.random(n_models) * 0.01, rng.random(n_models)
        w = np.array([10.0, 1.0, rng.random(), rng.random()])
        alpha = float(rng.choice([0.0, 0.5, 5.0]))
        width = np.sqrt(np.einsum("i,mij,j->m", x, a_inv, x))
        score = theta @ x - w[0] * cost - w[1] * viol - w[2] * cost - w[3] * viol + alpha * width
        cap = width_cap(a0, x, alpha, u)
        assert cap == pytest.approx(width_caps(a0, x[None, :], alpha)[0], rel=1e-12)
        got = ucb_select(cap, a_inv, theta, x, cost, viol, w, alpha, u, np.empty(n_models))
        assert score[got] == pytest.approx(score.max(), abs=1e-12)
