"""LinUCB's arithmetic, compiled: one decision, one label, and the whole replay in one loop.

:class:`dacr.route.linucb.LinUCBPolicy` calls :func:`ucb_select` and :func:`learn` per request;
:func:`linucb_kernel` runs the same two functions over a stream with the feedback schedule of
:func:`dacr.route.online.run_online`, so both make identical decisions (tested).

Per model m, ``A_m^-1`` (symmetric) and ``theta_m = A_m^-1 b_m`` are kept. A label y of
features x updates them in O(D^2) (Sherman-Morrison, with ``u = A^-1 x``, ``k = 1 + x'u``)::

    A^-1 <- A^-1 - u u' / k        theta <- theta + u (y - x'theta) / k

Every ``A_m`` only grows from the start ``A_0`` (the prior, shared by all models), so
``x' A_m^-1 x <= x' A_0^-1 x``: a model whose score with that width is below the best exact
score so far cannot win, and its own O(D^2) width is skipped.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from dacr.route.kernel import _due, _push, completion_at

# Order of the float parameters in the kernel's ``par`` array.
PARAMS = ("lambda_cost", "lambda_lat", "alpha", "budget_cost", "budget_viol", "eta")
_SLACK = 1e-9  # relative slack of the width bound against rounding


@numba.njit(cache=True, inline="always", error_model="numpy")
def _sym_mv(a, x, out):  # pragma: no cover - compiled
    """``out = a x`` for a symmetric ``a``, row by row as axpy updates (they vectorise
    without reordering a sum), and returns ``x' out``. Eight rows share one pass over ``out``
    (each element still adds them in row order, so the bits are those of one row at a time):
    the loads and stores of ``out`` were the bottleneck, 0.71 -> 0.58 us at D = 73."""
    d = x.size
    for i in range(d):
        out[i] = 0.0
    j = 0
    while j + 8 <= d:  # eight rows per pass over out: the same sums in the same order
        r0, r1, r2, r3 = a[j], a[j + 1], a[j + 2], a[j + 3]
        r4, r5, r6, r7 = a[j + 4], a[j + 5], a[j + 6], a[j + 7]
        x0, x1, x2, x3 = x[j], x[j + 1], x[j + 2], x[j + 3]
        x4, x5, x6, x7 = x[j + 4], x[j + 5], x[j + 6], x[j + 7]
        for i in range(d):
            o = out[i]
            o += r0[i] * x0
            o += r1[i] * x1
            o += r2[i] * x2
            o += r3[i] * x3
            o += r4[i] * x4
            o += r5[i] * x5
            o += r6[i] * x6
            o += r7[i] * x7
            out[i] = o
        j += 8
    while j < d:
        row = a[j]
        xj = x[j]
        for i in range(d):
            out[i] += row[i] * xj
        j += 1
    q = 0.0
    for i in range(d):
        q += x[i] * out[i]
    return q


@numba.njit(cache=True, error_model="numpy")
def width_cap(a0, x, alpha, u):  # pragma: no cover - compiled
    """``alpha sqrt(x' A_0^-1 x)``, a little above it: no model's bonus can exceed it."""
    return alpha * math.sqrt(max(_sym_mv(a0, x, u), 0.0) * (1.0 + _SLACK))


def width_caps(a0: np.ndarray, X: np.ndarray, alpha: float) -> np.ndarray:
    """:func:`width_cap` of every row of ``X`` at once (BLAS; its last-digit differences are
    far inside the slack, and the cap only decides which exact widths are skipped)."""
    quad = np.einsum("ti,ti->t", X @ a0, X)
    return alpha * np.sqrt(np.maximum(quad, 0.0) * (1.0 + _SLACK))


@numba.njit(cache=True, error_model="numpy")
def ucb_select(cap, a_inv, theta, x, cost, viol, w, alpha, u, base):  # pragma: no cover
    """The model of highest ``theta_m x - w0 c - w1 v - w2 c - w3 v + alpha sqrt(x' A_m^-1 x)``
    (the first on ties), given ``cap`` (:func:`width_cap`); ``u`` (length D) and ``base`` (one
    per model) are scratch."""
    n_models, d = theta.shape
    top = 0
    for m in range(n_models):
        row = theta[m]
        mean = 0.0
        for i in range(d):
            mean += row[i] * x[i]
        base[m] = mean - w[0] * cost[m] - w[1] * viol[m] - w[2] * cost[m] - w[3] * viol[m]
        if base[m] > base[top]:
            top = m
    best = -np.inf
    best_m = top
    for k in range(-1, n_models):  # the most promising first, then the rest in order
        m = top if k < 0 else k
        if (k >= 0 and m == top) or base[m] + cap < best:
            continue  # its width is at most the start's: it cannot win
        s = base[m] + alpha * math.sqrt(max(_sym_mv(a_inv[m], x, u), 0.0))
        if s > best or (s == best and m < best_m):
            best = s
            best_m = m
    return best_m


@numba.njit(cache=True, error_model="numpy")
def learn(a_inv, theta, m, x, y, u):  # pragma: no cover - compiled
    """Model m's statistics after label y for features x (module docstring)."""
    d = x.size
    a = a_inv[m]
    k = 1.0 + _sym_mv(a, x, u)
    th = theta[m]
    r = y
    for i in range(d):
        r -= x[i] * th[i]
    step = r / k
    for i in range(d):
        row = a[i]
        ui = u[i] / k
        for j in range(d):
            row[j] -= ui * u[j]
        th[i] += u[i] * step


@numba.njit(cache=True, error_model="numpy")
def linucb_kernel(
    X,
    cost,
    viol,
    ts,
    c_real,
    lat_real,
    v_real,
    q_real,
    lost,
    q_avail,
    stream_clock,
    at_once,
    caps,
    a_inv,
    theta,
    par,
):  # pragma: no cover - compiled; checked against the per-request API in the tests
    n, n_models = cost.shape
    lam_c, lam_l, alpha, budget_c, budget_v, eta = par[0], par[1], par[2], par[3], par[4], par[5]
    head_o = np.full(n, -1, dtype=np.int64)
    next_o = np.full(n, -1, dtype=np.int64)
    head_q = np.full(n, -1, dtype=np.int64)
    next_q = np.full(n, -1, dtype=np.int64)
    buf = np.empty(n, dtype=np.int64)
    choice = np.empty(n, dtype=np.int64)
    c_used, v_used = np.empty(n), np.empty(n)
    u = np.empty(X.shape[1])
    base = np.empty(n_models)
    w = np.empty(4)
    mu_c = 0.0
    mu_l = 0.0
    for t in range(n):
        for i in range(_due(head_o, next_o, t, buf)):
            s = buf[i]
            m = choice[s]
            mu_c = max(0.0, mu_c + eta * (c_real[s, m] - c_used[s]) / budget_c)
            mu_l = max(0.0, mu_l + eta * (v_real[s, m] - v_used[s]) / budget_v)
        for i in range(_due(head_q, next_q, t, buf)):
            s = buf[i]
            learn(a_inv, theta, choice[s], X[s], q_real[s, choice[s]], u)
        w[0], w[1], w[2], w[3] = lam_c, lam_l, mu_c / budget_c, mu_l / budget_v
        m = ucb_select(caps[t], a_inv, theta, X[t], cost[t], viol[t], w, alpha, u, base)
        choice[t] = m
        c_used[t] = cost[t, m]
        v_used[t] = viol[t, m]
        mu_c = max(0.0, mu_c + eta * (cost[t, m] / budget_c - 1.0))
        mu_l = max(0.0, mu_l + eta * (viol[t, m] / budget_v - 1.0))
        done = q_avail[t]
        if stream_clock:
            done = completion_at(ts, t, ts[t] + lat_real[t, m])
        _push(head_o, next_o, t + 1 if at_once else done, t)
        if not lost[t]:
            _push(head_q, next_q, max(q_avail[t], done), t)
    return choice
