"""DACR's compiled replay: the arithmetic of :class:`dacr.route.dacr.DACRPolicy`, in one loop.

The per-request API in ``dacr.route.dacr`` performs the same operations in the same order;
the tests hold the two to identical decisions. Parameters travel as one float array (see
:data:`PARAMS`) to keep the signature short.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# Order of the float parameters in the kernel's ``par`` array.
PARAMS = (
    "lambda_cost",
    "lambda_lat",
    "budget_cost",
    "budget_viol",
    "mu_lr",
    "cal_lr",
    "lat_lr",
    "cost_lr",
    "bias_bound",
    "shift_bound",
)
COST_FLOOR = 1e-12  # USD; keeps log(cost) finite for free calls

# The normal tail 1 - Phi(z), tabulated on [-9, 9] and interpolated linearly (error < 1e-7):
# several times faster than erfc in the replay's inner loop, and the per-request API reads the
# same table, so both make the same decisions.
TAIL_MIN, TAIL_MAX, TAIL_STEPS = -9.0, 9.0, 1 << 14
TAIL_INV_STEP = TAIL_STEPS / (TAIL_MAX - TAIL_MIN)
TAIL = np.array(
    [
        0.5 * math.erfc((TAIL_MIN + i * (TAIL_MAX - TAIL_MIN) / TAIL_STEPS) / math.sqrt(2.0))
        for i in range(TAIL_STEPS + 1)
    ]
)


def tracker_step(count: float, lr: float) -> float:
    """Step of a running mean with one pseudo-observation (``1 / (count + 1)``) until it
    reaches ``lr``, then ``lr``; no division once past it."""
    return 1.0 / (count + 1.0) if (count + 1.0) * lr < 1.0 else lr


_tracker_step = numba.njit(cache=True, inline="always", error_model="numpy")(tracker_step)


@numba.njit(cache=True, inline="always", error_model="numpy")
def track(dom, dom_n, dev, dev_n, m, d, r, lr):  # pragma: no cover - compiled
    """Pooled log-residual tracker: a per-domain shift shared by all models, and each model's
    deviation from it; running means (one pseudo-observation of 0) until the step reaches
    ``lr``, exponentially weighted means after."""
    dom_n[d] += 1.0
    dom[d] += _tracker_step(dom_n[d], lr) * (r - dom[d])
    dev_n[m, d] += 1.0
    dev[m, d] += _tracker_step(dev_n[m, d], lr) * (r - dom[d] - dev[m, d])


@numba.njit(cache=True, inline="always", error_model="numpy")
def shift_of(dom, dev, m, d, bound):  # pragma: no cover - compiled
    """The tracked log-scale shift of (model m, domain d), bounded."""
    return min(max(dom[d] + dev[m, d], -bound), bound)


def score_weights(lam_c, lam_l, mu_c, mu_l, budget_c, budget_v, normalized, w):
    """Fill ``w`` with the score's weights (see :func:`_score`); one division per decision."""
    if normalized:
        w[0], w[1], w[2], w[3] = lam_c, lam_l, mu_c / budget_c, mu_l / budget_v
    else:
        w[0], w[1], w[2], w[3] = lam_c + mu_c, lam_l + mu_l, 0.0, 0.0
    return w


_score_weights = numba.njit(cache=True, inline="always", error_model="numpy")(score_weights)


def normal_tail(z: float) -> float:
    """1 - Phi(z) from :data:`TAIL` (the arithmetic of the compiled twin, in Python)."""
    if z <= TAIL_MIN:
        return 1.0
    if z >= TAIL_MAX:
        return 0.0
    x = (z - TAIL_MIN) * TAIL_INV_STEP
    i = int(x)
    return float(TAIL[i] + (x - i) * (TAIL[i + 1] - TAIL[i]))


_normal_tail = numba.njit(cache=True, inline="always", error_model="numpy")(normal_tail)


@numba.njit(cache=True, inline="always", error_model="numpy")
def p_exceed(log_tau, loc, inv_scale):  # pragma: no cover - compiled
    """P(log-normal latency > tau) for location ``loc`` and scale ``1 / inv_scale``."""
    return _normal_tail((log_tau - loc) * inv_scale)


@numba.njit(cache=True, inline="always", error_model="numpy")
def _score(q, c, v, w):  # pragma: no cover - compiled
    """``q - w0 c - w1 v - w2 c - w3 v``, terms in this order (so ``v = 0`` bounds it above).

    Normalized duals: ``w = (lambda_cost, lambda_lat, mu_c / B, mu_l / delta)``; raw:
    ``(lambda_cost + mu_c, lambda_lat + mu_l, 0, 0)``. See :func:`score_weights`.
    """
    return q - w[0] * c - w[1] * v - w[2] * c - w[3] * v


@numba.njit(cache=True, inline="always", error_model="numpy")
def _due(head, nxt, t, buf):  # pragma: no cover - compiled
    """Decisions whose event falls due at t, ascending (buckets are pushed in order)."""
    k = 0
    s = head[t]
    while s >= 0:
        buf[k] = s
        k += 1
        s = nxt[s]
    for i in range(k // 2):  # in place: no allocation per decision
        buf[i], buf[k - 1 - i] = buf[k - 1 - i], buf[i]
    return k


@numba.njit(cache=True, inline="always", error_model="numpy")
def completion_at(ts, s, end):  # pragma: no cover - compiled
    """First index u > s with ``ts[u] >= end`` (len(ts) if none): a galloping search from s,
    since calls mostly complete a few requests later."""
    n = ts.size
    lo, step = s + 1, 1
    hi = lo
    while hi < n and ts[hi] < end:  # gallop: ts[lo - 1] < end is known for every lo tried
        lo = hi + 1
        hi = s + 1 + 2 * step
        step *= 2
    hi = min(hi, n)
    while lo < hi:  # binary search in [lo, hi): ts[hi] >= end or hi = n
        mid = (lo + hi) // 2
        if ts[mid] < end:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, inline="always", error_model="numpy")
def _push(head, nxt, u, s):  # pragma: no cover - compiled
    if u < head.size:
        nxt[s] = head[u]
        head[u] = s


@numba.njit(cache=True, error_model="numpy")
def dacr_kernel(
    q_cal,
    c_hat,
    v_hat,
    domain,
    ts,
    lat_loc,
    lat_scale,
    log_tau,
    has_lat,
    q_real,
    c_real,
    lat_real,
    v_real,
    lost,
    q_avail,
    stream_clock,
    normalized,
    hard,
    n_domains,
    par,
):  # pragma: no cover - compiled; checked against the per-request API in the tests
    n, n_models = q_cal.shape
    lam_c, lam_l, budget_c, budget_v = par[0], par[1], par[2], par[3]
    mu_lr, cal_lr, lat_lr, cost_lr, bias_bound, shift_bound = (
        par[4],
        par[5],
        par[6],
        par[7],
        par[8],
        par[9],
    )
    bias = np.zeros((n_models, n_domains))
    lat_dom, lat_dom_n = np.zeros(n_domains), np.zeros(n_domains)
    lat_dev, lat_dev_n = np.zeros((n_models, n_domains)), np.zeros((n_models, n_domains))
    cost_dom, cost_dom_n = np.zeros(n_domains), np.zeros(n_domains)
    cost_dev, cost_dev_n = np.zeros((n_models, n_domains)), np.zeros((n_models, n_domains))
    # the cost correction as factors exp(shift), refreshed where a feedback changed them
    cost_edom = np.ones(n_domains)
    cost_edev = np.ones((n_models, n_domains))
    lo, hi = math.exp(-shift_bound), math.exp(shift_bound)
    head_o = np.full(n, -1, dtype=np.int64)
    next_o = np.full(n, -1, dtype=np.int64)
    head_q = np.full(n, -1, dtype=np.int64)
    next_q = np.full(n, -1, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    choice = np.empty(n, dtype=np.int64)
    mu_c_tr, mu_l_tr = np.empty(n), np.empty(n)
    q_tilde, c_used, v_used = np.empty(n), np.empty(n), np.empty(n)
    c_now, v_now, q_now = np.empty(n_models), np.empty(n_models), np.empty(n_models)
    bound = np.empty(n_models)
    eligible = np.empty(n_models, dtype=np.bool_)
    w = np.empty(4)
    inv_scale = 1.0 / lat_scale
    mu_c = 0.0
    mu_l = 0.0
    committed = 0.0
    floor_sum = 0.0
    total = budget_c * n
    for t in range(n):
        if normalized:
            for i in range(_due(head_o, next_o, t, buf)):
                s = buf[i]
                m = choice[s]
                d = domain[s]
                if has_lat:
                    r = math.log(lat_real[s, m]) - lat_loc[s, m]
                    track(lat_dom, lat_dom_n, lat_dev, lat_dev_n, m, d, r, lat_lr)
                r = math.log(max(c_real[s, m], COST_FLOOR) / max(c_hat[s, m], COST_FLOOR))
                track(cost_dom, cost_dom_n, cost_dev, cost_dev_n, m, d, r, cost_lr)
                cost_edom[d] = math.exp(cost_dom[d])
                cost_edev[m, d] = math.exp(cost_dev[m, d])
                mu_c = max(0.0, mu_c + mu_lr * (c_real[s, m] - c_used[s]) / budget_c)
                mu_l = max(0.0, mu_l + mu_lr * (v_real[s, m] - v_used[s]) / budget_v)
                committed += c_real[s, m] - c_used[s]
        for i in range(_due(head_q, next_q, t, buf)):
            s = buf[i]
            m = choice[s]
            d = domain[s]
            p = min(max(q_cal[s, m] + bias[m, d], 0.0), 1.0)
            b = bias[m, d] + cal_lr * (q_real[s, m] - p)
            bias[m, d] = min(max(b, -bias_bound), bias_bound)

        d = domain[t]
        cheapest = 0
        for m in range(n_models):
            if normalized:
                c_now[m] = c_hat[t, m] * min(max(cost_edom[d] * cost_edev[m, d], lo), hi)
            else:
                c_now[m] = c_hat[t, m]
            if c_now[m] < c_now[cheapest]:
                cheapest = m
        reserve = 0.0
        if hard:
            floor_sum += c_now[cheapest]
            reserve = (n - t - 1) * floor_sum / (t + 1)
        # The violation terms only lower a score, so a model's score without them bounds it:
        # P(violation) is evaluated only for models that can still win.
        _score_weights(lam_c, lam_l, mu_c, mu_l, budget_c, budget_v, normalized, w)
        top = -1
        for m in range(n_models):
            eligible[m] = not (hard and committed + c_now[m] + reserve > total)
            q_now[m] = min(max(q_cal[t, m] + bias[m, d], 0.0), 1.0)
            bound[m] = _score(q_now[m], c_now[m], 0.0, w)
            if eligible[m] and (top < 0 or bound[m] > bound[top]):
                top = m
        best = -np.inf
        best_m = -1
        if top >= 0:  # the best bound first, then every model whose bound reaches the best
            for k in range(-1, n_models):
                m = top if k < 0 else k
                if (k >= 0 and m == top) or not eligible[m] or bound[m] < best:
                    continue
                if normalized and has_lat:
                    loc = lat_loc[t, m] + shift_of(lat_dom, lat_dev, m, d, shift_bound)
                    v_now[m] = p_exceed(log_tau, loc, inv_scale[m])
                else:
                    v_now[m] = v_hat[t, m]
                s_m = _score(q_now[m], c_now[m], v_now[m], w)
                if s_m > best or (s_m == best and m < best_m):
                    best = s_m
                    best_m = m
        if best_m < 0:  # nothing fits the hard budget: the cheapest
            best_m = cheapest
            v_now[cheapest] = v_hat[t, cheapest]
            if normalized and has_lat:
                loc = lat_loc[t, cheapest] + shift_of(lat_dom, lat_dev, cheapest, d, shift_bound)
                v_now[cheapest] = p_exceed(log_tau, loc, inv_scale[cheapest])
        m = best_m
        choice[t] = m
        q_tilde[t] = min(max(q_cal[t, m] + bias[m, d], 0.0), 1.0)
        c_used[t] = c_now[m]
        v_used[t] = v_now[m]
        done = q_avail[t]
        if stream_clock:
            done = completion_at(ts, t, ts[t] + lat_real[t, m])
        if normalized:
            mu_c = max(0.0, mu_c + mu_lr * (c_now[m] / budget_c - 1.0))
            mu_l = max(0.0, mu_l + mu_lr * (v_now[m] / budget_v - 1.0))
            committed += c_now[m]
            _push(head_o, next_o, done, t)
        else:
            mu_c = max(0.0, mu_c + mu_lr * (c_real[t, m] - budget_c))
            mu_l = max(0.0, mu_l + mu_lr * (v_real[t, m] - budget_v))
        if not lost[t]:
            _push(head_q, next_q, max(q_avail[t], done), t)
        mu_c_tr[t] = mu_c
        mu_l_tr[t] = mu_l
    lat_shift = np.empty((n_models, n_domains))
    cost_shift = np.empty((n_models, n_domains))
    for m in range(n_models):
        for d in range(n_domains):
            lat_shift[m, d] = shift_of(lat_dom, lat_dev, m, d, shift_bound)
            cost_shift[m, d] = shift_of(cost_dom, cost_dev, m, d, shift_bound)
    return choice, mu_c_tr, mu_l_tr, q_tilde, c_used, v_used, bias, lat_shift, cost_shift
