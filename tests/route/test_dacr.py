from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from dacr.calibration_scores import ece
from dacr.route import Context, DACRPolicy, LatencyForecast, Outcomes, feedback_available_at
from dacr.route.kernel import normal_tail, normal_tails
from dacr.route.oracle import solve_constrained_oracle
from dacr.stream import load_multiplier


def make_ctx(q, cost, viol, *, domain=None, ts=None, latency=None, load=None) -> Context:
    n = q.shape[0]
    return Context(
        q_cal=q,
        cost=cost,
        viol=viol,
        domain=np.zeros(n, np.int64) if domain is None else domain,
        ts=np.arange(n, dtype=float) if ts is None else ts,
        q_extra={"calibrated": q},
        load=load,
        latency=latency,
    )


def per_request(policy: DACRPolicy, context: Context, out: Outcomes) -> np.ndarray:
    """The enforced per-request loop: Request in, chosen model's Feedback back when due."""
    return policy.run(context, out)


def random_stream(n=400, seed=0, n_models=4, n_domains=3):
    """Shifted latencies and costs, noisy labels: every correction has work to do."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.2, 0.9, (n, n_models))
    c_hat = np.geomspace(0.001, 0.02, n_models) * rng.lognormal(0, 0.2, (n, n_models))
    loc = np.log(np.geomspace(1.0, 9.0, n_models)) + rng.normal(0, 0.3, (n, n_models))
    forecast = LatencyForecast(loc, np.full(n_models, 0.5), 10.0)
    domain = rng.integers(0, n_domains, n)
    ts = np.cumsum(rng.exponential(0.3, n))
    latency = np.exp(loc + 0.4 + rng.normal(0, 0.5, (n, n_models)))
    out = Outcomes(
        (rng.random((n, n_models)) < q - 0.1).astype(float),
        c_hat * rng.lognormal(0.2, 0.2, (n, n_models)),
        latency,
        (latency > 10.0).astype(float),
    )
    context = make_ctx(q, c_hat, forecast.p_violation(), domain=domain, ts=ts, latency=forecast)
    return context, out


OPTIONS = [
    dict(dual=dual, feedback_clock=clock, hard_budget=hard, delay_s=delay_s, p_miss=p_miss)
    for dual, clock, hard, delay_s, p_miss in itertools.product(
        ("normalized", "raw"), ("stream", "index"), (False, True), (None, 2.0), (0.0, 0.3)
    )
    if not (hard and dual == "raw")
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{v}" for v in o.values()))
def test_compiled_replay_equals_the_per_request_api(options):
    context, out = random_stream()
    params = dict(lambda_cost=5.0, budget_cost=0.004, budget_viol=0.1, n_domains=3, seed=3)
    trace = DACRPolicy(**params, **options).replay(context, out)
    slow = DACRPolicy(**params, **options)
    assert trace.choice.tolist() == per_request(slow, context, out).tolist()
    # raw duals step on each outcome right after its decision; the last one is never delivered
    last = -2 if options["dual"] == "raw" else -1
    assert trace.mu_c[last] == pytest.approx(slow.mu_c, abs=1e-12)
    assert trace.mu_l[last] == pytest.approx(slow.mu_l, abs=1e-12)
    assert np.allclose(trace.bias, slow.bias)
    lat_shift, cost_shift = slow.corrections()
    assert np.allclose(trace.lat_shift, lat_shift) and np.allclose(trace.cost_shift, cost_shift)


# --- parity: dual raw, index clock is the original update -------------------------------------


def original_update(
    context: Context,
    out: Outcomes,
    lam,
    *,
    budget_cost,
    budget_viol,
    mu_lr,
    cal_lr,
    delay,
    lost,
    bound=0.5,
    lam_lat=1.0,
):
    """The raw-unit DACR loop as the previous release ran it (reference for dual: raw)."""
    n, m_count = context.q_cal.shape
    bias = np.zeros((m_count, int(context.domain.max()) + 1))
    mu_c = mu_l = 0.0
    pending = []
    choices = []
    for t in range(n):
        for s, m in [p for p in pending if p[0] + delay < t]:
            d = context.domain[s]
            p = min(max(context.q_cal[s, m] + bias[m, d], 0.0), 1.0)
            bias[m, d] = min(max(bias[m, d] + cal_lr * (out.quality[s, m] - p), -bound), bound)
        pending = [p for p in pending if p[0] + delay >= t]
        d = context.domain[t]
        q = np.clip(context.q_cal[t] + bias[:, d], 0.0, 1.0)
        m = int(np.argmax(q - (lam + mu_c) * context.cost[t] - (lam_lat + mu_l) * context.viol[t]))
        mu_c = max(0.0, mu_c + mu_lr * (out.cost[t, m] - budget_cost))
        mu_l = max(0.0, mu_l + mu_lr * (out.violation[t, m] - budget_viol))
        if not lost[t]:
            pending.append((t, m))
        choices.append(m)
    return np.array(choices), bias, mu_c


@pytest.mark.parametrize("delay", [0, 3, 10])
def test_dual_raw_reproduces_the_original_update(delay):
    context, out = random_stream(seed=1)
    params = dict(budget_cost=0.004, budget_viol=0.1, mu_lr=0.5, cal_lr=0.2, delay=delay)
    trace = DACRPolicy(
        lambda_cost=2.0,
        dual="raw",
        feedback_clock="index",
        p_miss=0.3,
        n_domains=3,
        seed=5,
        **params,
    ).replay(context, out)
    lost = np.random.default_rng([5, 4]).random(context.n) < 0.3
    choices, bias, mu_c = original_update(context, out, 2.0, lost=lost, **params)
    assert trace.choice.tolist() == choices.tolist()
    assert np.allclose(trace.bias, bias)
    assert trace.mu_c[-1] == pytest.approx(mu_c)


def test_raw_duals_step_on_realised_usd_by_hand():
    # One model, cost 0.01 per request, budget 0.004, violation every request, delta 0.1.
    one = np.ones((3, 1))
    context = make_ctx(0.5 * one, 0.01 * one, one)
    out = Outcomes(one, 0.01 * one, one, one)
    trace = DACRPolicy(
        lambda_cost=0.0, budget_cost=0.004, budget_viol=0.1, mu_lr=0.5, p_miss=1.0, dual="raw"
    ).replay(context, out)
    assert trace.mu_c.tolist() == pytest.approx([0.003, 0.006, 0.009])
    assert trace.mu_l.tolist() == pytest.approx([0.45, 0.9, 1.35])


# --- normalized duals -------------------------------------------------------------------------


def test_normalized_duals_step_in_budget_units_then_correct_to_realised_by_hand():
    # One model: predicted cost 0.01 = 2.5 B, realised 0.006 = 1.5 B; predicted violation 0.5,
    # realised 1. Calls take 1.5 s, requests come every 1 s: decision 0's outcome arrives
    # before decision 2, decision 1's before decision 3.
    n = 3
    one = np.ones((n, 1))
    context = make_ctx(0.5 * one, 0.01 * one, 0.5 * one)
    out = Outcomes(one, 0.006 * one, 1.5 * one, one)
    trace = DACRPolicy(
        lambda_cost=0.0, budget_cost=0.004, budget_viol=0.1, mu_lr=0.1, p_miss=1.0, cost_lr=0.0
    ).replay(context, out)
    step_c, step_l = 0.1 * (2.5 - 1), 0.1 * (5 - 1)
    fix_c, fix_l = 0.1 * (0.006 - 0.01) / 0.004, 0.1 * (1 - 0.5) / 0.1
    assert trace.mu_c[:2].tolist() == pytest.approx([step_c, 2 * step_c])
    assert trace.mu_l[:2].tolist() == pytest.approx([step_l, 2 * step_l])
    # decision 2 first sees decision 0's realised cost, and its cost correction: the domain's
    # running mean of r = log(0.006/0.01) with one pseudo-observation of 0 (r/2), plus the
    # model's running mean of what remains (r/4); then it steps on its own estimate
    c2 = 0.01 * math.exp(0.75 * math.log(0.6))
    assert trace.pred_cost[2] == pytest.approx(c2)
    assert trace.mu_c[2] == pytest.approx(2 * step_c + fix_c + 0.1 * (c2 / 0.004 - 1))
    assert trace.mu_l[2] == pytest.approx(3 * step_l + fix_l)


def test_normalized_decisions_do_not_depend_on_the_currency():
    context, out = random_stream(seed=2)
    scaled_ctx = make_ctx(
        context.q_cal,
        1000 * context.cost,
        context.viol,
        domain=context.domain,
        ts=context.ts,
        latency=context.latency,
    )
    scaled_out = Outcomes(out.quality, 1000 * out.cost, out.latency, out.violation)
    params = dict(lambda_cost=0.0, n_domains=3, budget_viol=0.1)
    usd = DACRPolicy(budget_cost=0.004, **params).replay(context, out)
    milli = DACRPolicy(budget_cost=4.0, **params).replay(scaled_ctx, scaled_out)
    assert usd.choice.tolist() == milli.choice.tolist()
    assert np.allclose(usd.mu_c, milli.mu_c)


def stationary_stream(n=6000, seed=7):
    """i.i.d. requests over three models with exact predictions: a cheap fast weak one, a
    mid-price slow one and a dear fast strong one."""
    rng = np.random.default_rng(seed)
    q = np.column_stack(
        [rng.uniform(0.3, 0.5, n), rng.uniform(0.5, 0.8, n), rng.uniform(0.6, 0.95, n)]
    )
    cost = np.tile([0.001, 0.003, 0.01], (n, 1))
    viol = np.column_stack(
        [rng.uniform(0, 0.05, n), rng.uniform(0.2, 0.6, n), rng.uniform(0, 0.1, n)]
    )
    realised = (rng.random((n, 3)) < viol).astype(float)
    context = make_ctx(q, cost, viol)
    # calls finish within 0.5 s, requests come every 1 s: every outcome arrives by the next one
    return context, Outcomes(q, cost, np.full((n, 3), 0.5), realised)


def test_stationary_stream_keeps_both_budgets_and_nears_the_lp_optimum():
    budget_cost, budget_viol = 0.004, 0.10
    context, out = stationary_stream()
    lp = solve_constrained_oracle(
        context.q_cal, context.cost, context.viol, budget_cost, budget_viol
    )
    # both budgets bind at the (expected-value) optimum: this is the case the duals must solve
    assert lp.mean_cost == pytest.approx(budget_cost, rel=1e-6)
    assert lp.violation_rate == pytest.approx(budget_viol, rel=1e-6)
    trace = DACRPolicy(
        lambda_cost=0.0,
        lambda_lat=0.0,
        budget_cost=budget_cost,
        budget_viol=budget_viol,
        cal_lr=0.0,
        p_miss=1.0,
    ).replay(context, out)
    rows = np.arange(context.n)
    mean_cost = out.cost[rows, trace.choice].mean()
    rate = out.violation[rows, trace.choice].mean()
    quality = out.quality[rows, trace.choice].mean()
    assert abs(mean_cost / budget_cost - 1) <= 0.02
    assert abs(rate - budget_viol) <= 0.01
    # regret O(sqrt T): within 5 % of the hindsight optimum at this T
    assert 0.95 * lp.quality <= quality <= lp.quality + 0.01


def test_hard_budget_never_spends_past_b_times_t():
    context, out = stationary_stream(n=2000)
    budget = 0.002
    soft = DACRPolicy(lambda_cost=0.0, budget_cost=budget, mu_lr=0.001, p_miss=1.0)
    hard = DACRPolicy(
        lambda_cost=0.0, budget_cost=budget, mu_lr=0.001, p_miss=1.0, hard_budget=True
    )
    rows = np.arange(context.n)
    spent_soft = out.cost[rows, soft.replay(context, out).choice].sum()
    spent_hard = out.cost[rows, hard.replay(context, out).choice].sum()
    assert spent_soft > budget * context.n  # a slow dual overspends...
    assert spent_hard <= budget * context.n + 1e-12  # ...the hard budget never does
    assert spent_hard >= 0.97 * budget * context.n  # and still spends what it has


def test_hard_budget_below_every_cost_calls_the_cheapest_in_both_apis():
    context, out = random_stream()
    rng = np.random.default_rng(1)  # each request's cheapest model at random
    context = dataclasses.replace(context, cost=rng.uniform(0.001, 0.02, context.cost.shape))
    out = dataclasses.replace(out, cost=context.cost.copy())  # priced as predicted: no correction
    params = dict(lambda_cost=0.0, budget_cost=1e-4, n_domains=3, hard_budget=True, seed=3)
    trace = DACRPolicy(**params).replay(context, out)
    slow = DACRPolicy(**params)
    # nothing ever fits B * T: each request goes to its cheapest corrected prediction
    assert trace.choice.tolist() == per_request(slow, context, out).tolist()
    assert trace.mu_l[-1] == pytest.approx(slow.mu_l, abs=1e-12)  # the same P(violation) used
    assert trace.choice.tolist() == context.cost.argmin(axis=1).tolist()
    assert np.all(np.isfinite(trace.pred_viol)) and trace.pred_viol.max() > 0


# --- feedback timing --------------------------------------------------------------------------


def test_outcomes_arrive_when_the_call_completes():
    # Two models, the first always chosen; its calls take 2.5 s, requests arrive every 1 s,
    # so decision s's realised cost reaches decision s + 3 (ts = s + 3 >= s + 2.5).
    n = 8
    q = np.tile([0.9, 0.1], (n, 1))
    cost = np.tile([0.01, 0.01], (n, 1))
    context = make_ctx(q, cost, np.zeros((n, 2)))
    out = Outcomes(np.ones((n, 2)), 2 * cost, np.full((n, 2), 2.5), np.zeros((n, 2)))
    trace = DACRPolicy(lambda_cost=0.0, p_miss=1.0, cost_lr=0.0).replay(context, out)
    assert (trace.pred_cost[:3] == 0.01).all()
    assert trace.pred_cost[3] == pytest.approx(0.01 * 2**0.75)  # r/2 pooled, r/4 own


def test_quality_labels_never_arrive_before_the_call_completes():
    n = 30
    q = np.tile([0.5, 0.45], (n, 1))
    context = make_ctx(q, np.zeros((n, 2)), np.zeros((n, 2)))
    slow = Outcomes(
        np.tile([1.0, 0.0], (n, 1)), np.zeros((n, 2)), np.full((n, 2), 7.5), np.zeros((n, 2))
    )
    params = dict(lambda_cost=0.0, cal_lr=0.1, delay=0, p_miss=0.0)
    stream = DACRPolicy(**params).replay(context, slow)
    index = DACRPolicy(**params, feedback_clock="index").replay(context, slow)
    assert index.q_tilde[1] == pytest.approx(0.55)  # index clock: right after the decision
    assert stream.q_tilde[:8].tolist() == [0.5] * 8  # stream clock: after the 7.5 s call
    assert stream.q_tilde[8] == pytest.approx(0.55)


def test_index_clock_applies_quality_exactly_after_decision_t_plus_delay():
    n = 30
    q = np.tile([0.5, 0.45], (n, 1))
    context = make_ctx(q, np.zeros((n, 2)), np.zeros((n, 2)))
    out = Outcomes(np.tile([1.0, 0.0], (n, 1)), np.zeros((n, 2)), np.ones((n, 2)), np.zeros((n, 2)))
    trace = DACRPolicy(
        lambda_cost=0.0, cal_lr=0.1, delay=5, p_miss=0.0, feedback_clock="index"
    ).replay(context, out)
    assert trace.q_tilde[:6].tolist() == [0.5] * 6
    assert trace.q_tilde[6] == pytest.approx(0.55)
    assert feedback_available_at(np.arange(4.0), 5, None).tolist() == [6, 7, 8, 9]


def test_stream_clock_without_latency_is_a_clear_error():
    context, out = random_stream(n=20)
    blind = Outcomes(out.quality, out.cost, np.full_like(out.latency, np.nan), out.violation)
    with pytest.raises(ValueError, match="feedback_clock: index"):
        DACRPolicy(lambda_cost=1.0, n_domains=3).replay(context, blind)
    with pytest.raises(ValueError, match="feedback_clock: index"):
        per_request(DACRPolicy(lambda_cost=1.0, n_domains=3), context, blind)
    DACRPolicy(lambda_cost=1.0, n_domains=3, feedback_clock="index").replay(context, blind)


# --- load and latency -------------------------------------------------------------------------


def bursty(offsets: np.ndarray, seed: int = 0):
    """A stream whose forecast and realised latencies follow the load observable at arrival."""
    n = len(offsets)
    rng = np.random.default_rng(seed)
    load = load_multiplier(offsets, capacity_qps=4.0, window_s=5.0)
    base = np.log(np.tile([1.5, 4.0, 8.0], (n, 1)))
    forecast = LatencyForecast(base + np.log(load)[:, None], np.full(3, 0.4), 10.0)
    latency = np.exp(forecast.loc + rng.normal(0, 0.4, (n, 3)))
    q = np.tile([0.4, 0.6, 0.8], (n, 1)) + rng.uniform(0, 0.1, (n, 3))
    cost = np.tile([0.0005, 0.002, 0.008], (n, 1))
    context = make_ctx(q, cost, forecast.p_violation(), ts=offsets, latency=forecast, load=load)
    return context, Outcomes(q, cost, latency, (latency > 10).astype(float))


def test_changing_arrivals_after_t_changes_no_decision_at_or_before_t():
    rng = np.random.default_rng(3)
    offsets = np.cumsum(rng.exponential(0.4, 600))
    cut = 300
    later = offsets.copy()
    # after request `cut`, a burst: the rest of the stream arrives 5x faster
    later[cut + 1 :] = offsets[cut] + np.cumsum(np.diff(offsets)[cut:] / 5)
    a_ctx, a_out = bursty(offsets)
    b_ctx, b_out = bursty(later)
    assert not np.allclose(a_ctx.load[cut + 1 :], b_ctx.load[cut + 1 :])  # the burst is seen
    assert np.array_equal(a_ctx.load[: cut + 1], b_ctx.load[: cut + 1])  # ...but not before
    for params in (dict(), dict(dual="raw"), dict(hard_budget=True)):
        policy = dict(lambda_cost=1.0, budget_cost=0.002, budget_viol=0.1, **params)
        a = DACRPolicy(**policy).replay(a_ctx, a_out).choice
        b = DACRPolicy(**policy).replay(b_ctx, b_out).choice
        assert a[: cut + 1].tolist() == b[: cut + 1].tolist()
        assert a.tolist() != b.tolist()


def test_load_aware_forecast_keeps_the_violation_budget_through_a_burst():
    offsets = np.r_[
        np.arange(0, 60, 0.5), 60 + np.arange(0, 30, 1 / 12), 90 + np.arange(0, 60, 0.5)
    ]
    context, out = bursty(offsets)
    rows = np.arange(context.n)
    unloaded = context.latency.loc - np.log(context.load)[:, None]
    blind_viol = LatencyForecast(unloaded, context.latency.scale, 10.0).p_violation()
    blind = make_ctx(context.q_cal, context.cost, blind_viol, ts=context.ts)
    params = dict(lambda_cost=0.0, budget_cost=0.01, budget_viol=0.1, p_miss=1.0)
    aware = DACRPolicy(**params).replay(context, out).choice
    unaware = DACRPolicy(**params).replay(blind, out).choice
    assert out.violation[rows, aware].mean() <= 0.1 + 0.02
    assert out.violation[rows, unaware].mean() > out.violation[rows, aware].mean() + 0.05


def test_online_latency_correction_lowers_violation_ece_on_a_shifted_domain():
    # Domain 1's calls take e^0.8 = 2.2x longer than forecast; domain 0's are as forecast.
    rng = np.random.default_rng(11)
    n = 3000
    domain = rng.integers(0, 2, n)
    loc = np.log(np.tile([2.0, 5.0, 8.0], (n, 1))) + rng.normal(0, 0.3, (n, 3))
    forecast = LatencyForecast(loc, np.full(3, 0.4), 10.0)
    latency = np.exp(loc + 0.8 * domain[:, None] + rng.normal(0, 0.4, (n, 3)))
    q = rng.uniform(0.3, 0.9, (n, 3))
    context = make_ctx(
        q,
        np.tile([0.001, 0.002, 0.004], (n, 1)),
        forecast.p_violation(),
        domain=domain,
        ts=np.arange(n, dtype=float),
        latency=forecast,
    )
    out = Outcomes(q, context.cost, latency, (latency > 10).astype(float))
    trace = DACRPolicy(lambda_cost=0.0, budget_cost=0.01, n_domains=2).replay(context, out)
    online = forecast.p_violation(trace.lat_shift[:, domain].T)
    shifted = domain == 1
    for m in range(3):
        before = ece(context.viol[shifted, m], out.violation[shifted, m])
        after = ece(online[shifted, m], out.violation[shifted, m])
        assert after < 0.5 * before
    assert trace.lat_shift[:, 1] == pytest.approx(np.full(3, 0.8), abs=0.25)
    # domain 0 is as forecast: its corrections stay near 0 (exponential-weighting noise only)
    assert np.abs(trace.lat_shift[:, 0]).max() < 0.3


# --- parameters and state ---------------------------------------------------------------------


def test_same_seed_same_decisions_and_seed_matters():
    context, out = random_stream()
    a = DACRPolicy(lambda_cost=1.0, n_domains=3, seed=1).replay(context, out).choice
    b = DACRPolicy(lambda_cost=1.0, n_domains=3, seed=1).replay(context, out).choice
    c = DACRPolicy(lambda_cost=1.0, n_domains=3, seed=2, cal_lr=0.5).replay(context, out).choice
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_quality_correction_is_bounded():
    n = 200
    q = np.tile([0.5, 0.45], (n, 1))
    context = make_ctx(q, np.zeros((n, 2)), np.zeros((n, 2)))
    out = Outcomes(np.tile([1.0, 0.0], (n, 1)), np.zeros((n, 2)), np.ones((n, 2)), np.zeros((n, 2)))
    trace = DACRPolicy(lambda_cost=0.0, cal_lr=1.0, delay=0, p_miss=0.0, bias_bound=0.2).replay(
        context, out
    )
    assert trace.bias.max() == pytest.approx(0.2)


def test_a_domain_code_beyond_n_domains_is_refused():
    context, out = random_stream(n=20)
    with pytest.raises(ValueError, match="n_domains=1"):
        DACRPolicy(lambda_cost=1.0).replay(context, out)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lambda_cost": -1.0}, "lambda_cost=-1.0"),
        ({"lambda_cost": 1.0, "budget_cost": 0.0}, "budget_cost=0.0"),
        ({"lambda_cost": 1.0, "budget_viol": -0.1}, "budget_viol=-0.1"),
        ({"lambda_cost": 1.0, "p_miss": 1.5}, "p_miss=1.5"),
        ({"lambda_cost": 1.0, "dual": "usd"}, "dual='usd' is not valid"),
        ({"lambda_cost": 1.0, "feedback_clock": "wall"}, "feedback_clock='wall' is not valid"),
        ({"lambda_cost": 1.0, "dual": "raw", "hard_budget": True}, "hard_budget needs"),
        ({"lambda_cost": 1.0, "lat_lr": 2.0}, "lat_lr=2.0"),
        ({"lambda_cost": 1.0, "shift_bound": 0.0}, "shift_bound=0.0"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DACRPolicy(**kwargs)


def test_tabulated_normal_tail_is_erfc_to_1e7_and_its_vector_form_has_the_same_bits():
    z = np.concatenate([np.linspace(-12.0, 12.0, 4001), [-9.0, 9.0, 0.0, 8.9999999]])
    exact = np.array([0.5 * math.erfc(v / math.sqrt(2.0)) for v in z])
    scalar = np.array([normal_tail(float(v)) for v in z])
    assert np.abs(scalar - exact).max() < 1e-7
    assert normal_tails(z).tolist() == scalar.tolist()
    assert normal_tail(-9.0) == 1.0 and normal_tail(9.0) == 0.0
