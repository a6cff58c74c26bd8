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
    deviation from it (``dev[d, m]``, domain-major: a decision reads one row); running means (one
    pseudo-observation of 0) until the step reaches ``lr``, exponentially weighted means after."""
    dom_n[d] += 1.0
    dom[d] += _tracker_step(dom_n[d], lr) * (r - dom[d])
    dev_n[d, m] += 1.0
    dev[d, m] += _tracker_step(dev_n[d, m], lr) * (r - dom[d] - dev[d, m])


@numba.njit(cache=True, inline="always", error_model="numpy")
def shift_of(dom, dev, m, d, bound):  # pragma: no cover - compiled
    """The tracked log-scale shift of (model m, domain d), bounded."""
    return min(max(dom[d] + dev[d, m], -bound), bound)


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


def normal_tails(z: np.ndarray) -> np.ndarray:
    """:func:`normal_tail` of every element, vectorised: the same operations, the same bits."""
    z = np.asarray(z, dtype=float)
    x = (np.clip(z, TAIL_MIN, TAIL_MAX) - TAIL_MIN) * TAIL_INV_STEP
    i = np.minimum(x.astype(np.int64), TAIL_STEPS - 1)  # int(x): x >= 0
    out = TAIL[i] + (x - i) * (TAIL[i + 1] - TAIL[i])
    return np.where(z <= TAIL_MIN, 1.0, np.where(z >= TAIL_MAX, 0.0, out))


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
    """Put decision s in bucket u (if u is inside the stream)."""
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
    """The whole replay in one body: in numba, an inlined helper that writes arrays costs 20-30
    ns a decision here (the loop reloads every array after it), so only readers are helpers.
    Per decision the loops over models stay apart (costs, P(violation), quality, score), so
    that each compiles to straight-line or vector code."""
    n, n_models = q_cal.shape
    lam_c, lam_l, budget_c, budget_v = par[0], par[1], par[2], par[3]
    mu_lr, cal_lr, lat_lr, cost_lr = par[4], par[5], par[6], par[7]
    bias_bound, shift_bound = par[8], par[9]  # (unpacking a slice of par is slower)
    bias = np.zeros((n_domains, n_models))  # domain-major, like the trackers' deviations
    lat_dom, lat_dom_n = np.zeros(n_domains), np.zeros(n_domains)
    lat_dev, lat_dev_n = np.zeros((n_domains, n_models)), np.zeros((n_domains, n_models))
    cost_dom, cost_dom_n = np.zeros(n_domains), np.zeros(n_domains)
    cost_dev, cost_dev_n = np.zeros((n_domains, n_models)), np.zeros((n_domains, n_models))
    # the cost correction as factors exp(shift), refreshed where a feedback changed them
    cost_edom = np.ones(n_domains)
    cost_edev = np.ones((n_domains, n_models))
    lo, hi = math.exp(-shift_bound), math.exp(shift_bound)
    head_o, next_o = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    head_q, next_q = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    choice = np.empty(n, dtype=np.int64)
    mu_c_tr, mu_l_tr = np.empty(n), np.empty(n)
    q_tilde, c_used, v_used = np.empty(n), np.empty(n), np.empty(n)
    c_now, v_now, q_now = np.empty(n_models), np.empty(n_models), np.empty(n_models)
    w = np.empty(4)
    inv_scale = 1.0 / lat_scale
    forecast = normalized and has_lat
    mu_c, mu_l, committed, floor_sum = 0.0, 0.0, 0.0, 0.0
    total = budget_c * n
    for t in range(n):
        if normalized:  # outcomes (cost, latency, violation) of the calls completed by now
            for i in range(_due(head_o, next_o, t, buf)):
                s = buf[i]
                m, d = choice[s], domain[s]
                if has_lat:
                    r = math.log(lat_real[s, m]) - lat_loc[s, m]
                    track(lat_dom, lat_dom_n, lat_dev, lat_dev_n, m, d, r, lat_lr)
                r = math.log(max(c_real[s, m], COST_FLOOR) / max(c_hat[s, m], COST_FLOOR))
                track(cost_dom, cost_dom_n, cost_dev, cost_dev_n, m, d, r, cost_lr)
                cost_edom[d] = math.exp(cost_dom[d])
                cost_edev[d, m] = math.exp(cost_dev[d, m])
                mu_c = max(0.0, mu_c + mu_lr * (c_real[s, m] - c_used[s]) / budget_c)
                mu_l = max(0.0, mu_l + mu_lr * (v_real[s, m] - v_used[s]) / budget_v)
                committed += c_real[s, m] - c_used[s]
        for i in range(_due(head_q, next_q, t, buf)):  # quality labels arriving now
            s = buf[i]
            m, d = choice[s], domain[s]
            p = min(max(q_cal[s, m] + bias[d, m], 0.0), 1.0)
            b = bias[d, m] + cal_lr * (q_real[s, m] - p)
            bias[d, m] = min(max(b, -bias_bound), bias_bound)

        # the decision: corrected costs, the cheapest, P(violation), then the best score
        d = domain[t]
        if normalized:
            e_d = cost_edom[d]
            for m in range(n_models):
                c_now[m] = c_hat[t, m] * min(max(e_d * cost_edev[d, m], lo), hi)
        else:
            for m in range(n_models):
                c_now[m] = c_hat[t, m]
        cheapest = 0
        for m in range(1, n_models):
            if c_now[m] < c_now[cheapest]:
                cheapest = m
        reserve = 0.0
        if hard:
            floor_sum += c_now[cheapest]
            reserve = (n - t - 1) * floor_sum / (t + 1)
        if forecast:
            for m in range(n_models):
                shift = shift_of(lat_dom, lat_dev, m, d, shift_bound)
                v_now[m] = p_exceed(log_tau, lat_loc[t, m] + shift, inv_scale[m])
        else:
            for m in range(n_models):
                v_now[m] = v_hat[t, m]
        for m in range(n_models):
            q_now[m] = min(max(q_cal[t, m] + bias[d, m], 0.0), 1.0)
        _score_weights(lam_c, lam_l, mu_c, mu_l, budget_c, budget_v, normalized, w)
        best, m = -np.inf, -1  # the best score, the lowest index on ties
        for k in range(n_models):
            if hard and committed + c_now[k] + reserve > total:
                continue  # past the hard budget
            s_k = _score(q_now[k], c_now[k], v_now[k], w)
            if s_k > best:
                best, m = s_k, k
        if m < 0:  # nothing fits the hard budget: the cheapest
            m = cheapest

        choice[t] = m
        q_tilde[t] = q_now[m]
        c_used[t] = c_now[m]
        v_used[t] = v_now[m]
        done = q_avail[t]
        if stream_clock:
            done = completion_at(ts, t, ts[t] + lat_real[t, m])
        if normalized:
            mu_c = max(0.0, mu_c + mu_lr * (c_now[m] / budget_c - 1.0))
            mu_l = max(0.0, mu_l + mu_lr * (v_now[m] / budget_v - 1.0))
            committed += c_now[m]
            if done < n:  # the outcome's bucket (pushed here, not in a helper: see above)
                next_o[t] = head_o[done]
                head_o[done] = t
        else:
            mu_c = max(0.0, mu_c + mu_lr * (c_real[t, m] - budget_c))
            mu_l = max(0.0, mu_l + mu_lr * (v_real[t, m] - budget_v))
        u = max(q_avail[t], done)
        if not lost[t] and u < n:  # the quality label's bucket
            next_q[t] = head_q[u]
            head_q[u] = t
        mu_c_tr[t] = mu_c
        mu_l_tr[t] = mu_l
    lat_shift = np.empty((n_models, n_domains))
    cost_shift = np.empty((n_models, n_domains))
    for m in range(n_models):
        for d in range(n_domains):
            lat_shift[m, d] = shift_of(lat_dom, lat_dev, m, d, shift_bound)
            cost_shift[m, d] = shift_of(cost_dom, cost_dev, m, d, shift_bound)
    return choice, mu_c_tr, mu_l_tr, q_tilde, c_used, v_used, bias.T.copy(), lat_shift, cost_shift
