from __future__ import annotations

import numpy as np
import pytest

from dacr.route import Context, Outcomes
from dacr.route.custom import TrainData
from dacr.route.linucb import LinUCBPolicy
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
