"""Domain-adaptive calibrated routing (DACR): an online router that keeps a cost budget B and
an SLO-violation budget delta under domain shift, from honest predictions and partial feedback.

Score of model m for request t in domain d (``dual: normalized``, the default)::

    q~ - lambda_cost * c~ - lambda_lat * v~ - mu_c * c~ / B - mu_l * v~ / delta

with ``q~ = clip(q_cal + b[m, d], 0, 1)`` the calibrated quality plus the online correction,
``c~ = c_hat * exp(g[m, d])`` the predicted cost times its online correction, and ``v~`` the
forecast P(latency > tau) with the forecast's log-location shifted by the online latency
correction ``a[m, d]`` (the load observable at arrival is already in the forecast). Resources
are measured in budget units (``c / B`` and ``v / delta`` against 1), so the dual prices
``mu_c, mu_l`` are in quality units whatever the currency: dual mirror descent for online
allocation (Balseiro, Lu & Mirrokni 2020, Euclidean mirror map) with step ``eta``::

    mu_c <- max(0, mu_c + eta * (c~_t / B - 1))   at the decision (predicted consumption),
    mu_c <- max(0, mu_c + eta * (c_t - c~_t) / B) when the call's outcome arrives,

and the same for ``mu_l`` with ``v / delta``: the duals react at once and, once a call's outcome
is known, have stepped on its realised consumption. The step is ``eta = 1 / sqrt(T)`` over a
stream of T requests (their analysis's O(1/sqrt T) rule: regret and budget excess O(sqrt T)),
or the constant ``mu_lr`` when given. ``hard_budget`` also makes a model
eligible only while the spend committed so far (realised, plus predicted for calls in flight),
its predicted cost and a reserve for the remaining requests (their number times the mean
cheapest predicted cost so far) fit in ``B * T``; when none fits, the cheapest is called.

Feedback (``feedback_clock: stream``): a call's cost, latency and violation arrive when it
completes (stream time ``ts + latency_s``) and update the cost and latency corrections, which
pool a per-domain shift over all models with each model's deviation from it (running means of
log residuals, then exponentially weighted with weight ``lat_lr`` / ``cost_lr``). Its quality
label is lost with probability ``p_miss``; otherwise it arrives no earlier than completion and
than the ``delay`` rule, and updates ``b[m, d] <- clip(b + cal_lr * (y - q~), +-bias_bound)``.
``feedback_clock: index`` applies every feedback after decision ``t + delay`` (or ``delay_s``
of stream time later).

``dual: raw`` is the original scripts' update, for parity: raw-unit duals stepped on the
realised consumption right after each decision, ``q - (lambda_cost + mu_c) * c_hat -
(lambda_lat + mu_l) * v_hat``, no cost or latency corrections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dacr.route.base import Context, LatencyForecast, Outcomes, Policy
from dacr.route.feedback import FEEDBACK_CLOCKS, feedback_available_at, feedback_lost
from dacr.route.kernel import (
    COST_FLOOR,
    PARAMS,
    dacr_kernel,
    normal_tails,
    score_weights,
    tracker_step,
)
from dacr.route.online import QUALITY, Feedback, FeedbackSchedule, Request, run_online

DUAL_MODES = ("normalized", "raw")


@dataclass
class DACRTrace:
    """Per-decision state of a DACR replay (duals after the decision's own step), and the
    corrections at the end of the stream (models x domains)."""

    choice: np.ndarray
    mu_c: np.ndarray
    mu_l: np.ndarray
    q_tilde: np.ndarray
    pred_cost: np.ndarray
    pred_viol: np.ndarray
    bias: np.ndarray
    lat_shift: np.ndarray
    cost_shift: np.ndarray


class _Tracker:
    """Python twin of :func:`dacr.route.kernel.track` (same arithmetic, same order)."""

    def __init__(self, n_models: int, n_domains: int, lr: float, bound: float) -> None:
        self.lr, self.bound = lr, bound
        self.dom, self.dom_n = np.zeros(n_domains), np.zeros(n_domains)
        self.dev, self.dev_n = np.zeros((n_models, n_domains)), np.zeros((n_models, n_domains))
        self.edom, self.edev = np.ones(n_domains), np.ones((n_models, n_domains))

    def update(self, m: int, d: int, r: float) -> None:
        self.dom_n[d] += 1.0
        self.dom[d] += tracker_step(self.dom_n[d], self.lr) * (r - self.dom[d])
        self.dev_n[m, d] += 1.0
        step = tracker_step(self.dev_n[m, d], self.lr)
        self.dev[m, d] += step * (r - self.dom[d] - self.dev[m, d])
        self.edom[d] = math.exp(self.dom[d])
        self.edev[m, d] = math.exp(self.dev[m, d])

    def factors(self, d: int) -> np.ndarray:
        """exp(shift) of every model in domain d as the kernel forms it: a product of
        refreshed factors, bounded."""
        lo, hi = math.exp(-self.bound), math.exp(self.bound)
        return np.minimum(np.maximum(self.edom[d] * self.edev[:, d], lo), hi)

    def shifts_in(self, d: int) -> np.ndarray:
        """The bounded log-scale shift of every model in domain d."""
        return np.minimum(np.maximum(self.dom[d] + self.dev[:, d], -self.bound), self.bound)

    def shifts(self) -> np.ndarray:
        return np.clip(self.dom[None, :] + self.dev, -self.bound, self.bound)


class DACRPolicy(Policy):
    """Domain-adaptive calibrated routing with budget duals (see the module docstring).

    Parameters
    ----------
    lambda_cost, lambda_lat
        Weights of (predicted) cost in USD and of P(violation) in the score.
    budget_cost, budget_viol
        Budget B (mean USD per request) and delta (SLO violation rate).
    mu_lr
        Dual step size (per budget unit with ``dual: normalized``, per USD with ``raw``);
        None: ``1 / sqrt(T)`` (normalized) or 0.05 (raw, the original default).
    cal_lr, lat_lr, cost_lr
        Step sizes of the quality correction, and the floors of the latency and cost
        corrections' running-mean steps.
    delay, delay_s, p_miss
        Quality feedback delay (decisions, or seconds of stream time) and loss probability.
    bias_bound, shift_bound
        Bounds of the quality correction (probability) and of the log-scale corrections.
    dual
        ``normalized`` (default) or ``raw`` (the original update, for parity).
    hard_budget
        Never commit spend past ``budget_cost * T`` (normalized duals only).
    feedback_clock
        ``stream`` (outcomes at completion) or ``index`` (after ``delay`` decisions).
    n_domains, seed
        Number of domain codes in the context; seed of the lost-feedback draw.
    """

    name = "dacr"

    def __init__(
        self,
        lambda_cost: float,
        lambda_lat: float = 1.0,
        budget_cost: float = 0.0055,
        budget_viol: float = 0.10,
        mu_lr: float | None = None,
        cal_lr: float = 0.05,
        delay: int = 10,
        delay_s: float | None = None,
        p_miss: float = 0.3,
        bias_bound: float = 0.5,
        n_domains: int = 1,
        seed: int = 0,
        dual: str = "normalized",
        hard_budget: bool = False,
        feedback_clock: str = "stream",
        lat_lr: float = 0.02,
        cost_lr: float = 0.02,
        shift_bound: float = 3.0,
    ) -> None:
        params = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        _check_params(params)
        super().__init__(**params)

    # --- per-request API (the enforced interface) ------------------------------------------
    def reset(self) -> None:
        self.mu_c = 0.0
        self.mu_l = 0.0
        self.bias: np.ndarray | None = None

    def schedule(self) -> FeedbackSchedule:
        """When this router's feedback arrives: its own clock, delays and loss draws."""
        return FeedbackSchedule(
            clock=self.feedback_clock,
            delay=self.delay,
            delay_s=self.delay_s,
            p_miss=self.p_miss,
            seed=self.seed,
            outcomes_at_once=self.dual == "raw",
        )

    def _prepare(self, request: Request) -> None:
        if self.bias is not None:
            return
        if request.n_domains > self.n_domains:
            raise ValueError(
                f"dacr: the stream has domain code {request.n_domains - 1} but "
                f"n_domains={self.n_domains}"
            )
        n, m_count = request.n, len(request.q_cal)
        self.bias = np.zeros((m_count, self.n_domains))
        self._lat = _Tracker(m_count, self.n_domains, self.lat_lr, self.shift_bound)
        self._cost = _Tracker(m_count, self.n_domains, self.cost_lr, self.shift_bound)
        self._eta = self.step_size(n)
        self._seen: dict[int, tuple] = {}  # t -> what the decision used, until its feedback
        self._committed = 0.0
        self._floor_sum = 0.0

    def _estimates(self, request: Request) -> tuple[np.ndarray, np.ndarray]:
        """Corrected predicted cost and P(violation) of every model for a request."""
        if self.dual == "raw":
            return np.asarray(request.cost, float), np.asarray(request.viol, float)
        d = request.domain_code
        cost = np.asarray(request.cost, float) * self._cost.factors(d)
        if request.lat_loc is None:
            return cost, np.asarray(request.viol, float)
        loc = np.asarray(request.lat_loc, float) + self._lat.shifts_in(d)
        z = (math.log(request.tau_s) - loc) * (1.0 / np.asarray(request.lat_scale, float))
        return cost, normal_tails(z)

    def select_one(self, request: Request) -> int:
        self._prepare(request)
        t, d = request.t, request.domain_code
        cost, viol = self._estimates(request)
        q = np.clip(request.q_cal + self.bias[:, d], 0.0, 1.0)
        w = score_weights(
            self.lambda_cost,
            self.lambda_lat,
            self.mu_c,
            self.mu_l,
            self.budget_cost,
            self.budget_viol,
            self.dual == "normalized",
            [0.0] * 4,
        )
        score = q - w[0] * cost - w[1] * viol - w[2] * cost - w[3] * viol
        cheapest = int(np.argmin(cost))
        if self.hard_budget:
            self._floor_sum += cost[cheapest]
            reserve = (request.n - t - 1) * self._floor_sum / (t + 1)
            fits = self._committed + cost + reserve <= self.budget_cost * request.n
            score = np.where(fits, score, -np.inf)
        m = int(np.argmax(score)) if np.isfinite(score).any() else cheapest
        if self.dual == "normalized":  # the dual steps on the predicted consumption at once
            self.mu_c = max(0.0, self.mu_c + self._eta * (cost[m] / self.budget_cost - 1.0))
            self.mu_l = max(0.0, self.mu_l + self._eta * (viol[m] / self.budget_viol - 1.0))
            self._committed += cost[m]
        loc = None if request.lat_loc is None else float(request.lat_loc[m])
        self._seen[t] = (
            d,
            float(cost[m]),
            float(viol[m]),
            float(request.cost[m]),
            loc,
            float(request.q_cal[m]),
        )
        return m

    def update_one(self, feedback: Feedback) -> None:
        """The chosen model's outcome (cost, latency, violation) or quality label."""
        d, c_used, v_used, c_hat, loc, q_cal = self._seen[feedback.t]
        m = feedback.model
        if feedback.kind == QUALITY:
            p = min(max(q_cal + self.bias[m, d], 0.0), 1.0)
            b = self.bias[m, d] + self.cal_lr * (feedback.quality - p)
            self.bias[m, d] = min(max(b, -self.bias_bound), self.bias_bound)
            return
        if self.dual == "raw":  # the original: realised consumption in USD
            self.mu_c = max(0.0, self.mu_c + self._eta * (feedback.cost - self.budget_cost))
            self.mu_l = max(0.0, self.mu_l + self._eta * (feedback.violation - self.budget_viol))
            return
        if loc is not None:
            self._lat.update(m, d, math.log(feedback.latency_s) - loc)
        real, pred = max(feedback.cost, COST_FLOOR), max(c_hat, COST_FLOOR)
        self._cost.update(m, d, math.log(real / pred))
        c_err, v_err = feedback.cost - c_used, feedback.violation - v_used
        self.mu_c = max(0.0, self.mu_c + self._eta * c_err / self.budget_cost)
        self.mu_l = max(0.0, self.mu_l + self._eta * v_err / self.budget_viol)
        self._committed += c_err

    def run(self, ctx: Context, outcomes: Outcomes) -> np.ndarray:
        """The per-request replay through the enforced interface (the compiled
        :meth:`replay`'s reference)."""
        return run_online(self, ctx, outcomes, self.schedule())

    def step_size(self, n: int) -> float:
        """The dual step over a stream of ``n`` requests (see ``mu_lr``)."""
        if self.mu_lr is not None:
            return float(self.mu_lr)
        return 1.0 / math.sqrt(max(n, 1)) if self.dual == "normalized" else 0.05

    def corrections(self) -> tuple[np.ndarray, np.ndarray]:
        """The current (latency, cost) log-scale corrections, models x domains."""
        return self._lat.shifts(), self._cost.shifts()

    # --- compiled replay -------------------------------------------------------------------
    def _kernel_param(self, key: str, n: int) -> float:
        return self.step_size(n) if key == "mu_lr" else float(getattr(self, key))

    def replay(self, ctx: Context, outcomes: Outcomes) -> DACRTrace:
        """Run the whole stream; identical decisions to the per-request loop, compiled."""
        _check_domains(ctx, self.n_domains)
        if self.feedback_clock == "stream":
            _check_latency(outcomes)
        n, m_count = ctx.q_cal.shape
        has_lat = ctx.latency is not None and self.dual == "normalized"
        lat = ctx.latency
        f64 = np.float64
        choice, mu_c, mu_l, q_tilde, c_used, v_used, bias, lat_shift, cost_shift = dacr_kernel(
            np.ascontiguousarray(ctx.q_cal, dtype=f64),
            np.ascontiguousarray(ctx.cost, dtype=f64),
            np.ascontiguousarray(ctx.viol, dtype=f64),
            np.ascontiguousarray(ctx.domain, dtype=np.int64),
            np.ascontiguousarray(ctx.ts, dtype=f64),
            np.ascontiguousarray(lat.loc if has_lat else np.zeros((n, m_count)), dtype=f64),
            np.ascontiguousarray(lat.scale if has_lat else np.ones(m_count), dtype=f64),
            math.log(lat.tau_s) if has_lat else 0.0,
            has_lat,
            np.ascontiguousarray(outcomes.quality, dtype=f64),
            np.ascontiguousarray(outcomes.cost, dtype=f64),
            np.ascontiguousarray(outcomes.latency, dtype=f64),
            np.ascontiguousarray(outcomes.violation, dtype=f64),
            feedback_lost(n, self.p_miss, self.seed),
            feedback_available_at(ctx.ts, self.delay, self.delay_s).astype(np.int64),
            self.feedback_clock == "stream",
            self.dual == "normalized",
            bool(self.hard_budget),
            int(self.n_domains),
            np.array([self._kernel_param(k, n) for k in PARAMS]),
        )
        return DACRTrace(choice, mu_c, mu_l, q_tilde, c_used, v_used, bias, lat_shift, cost_shift)


def _check_params(p: dict) -> None:
    """Errors name the parameter, the bad value and what is valid."""
    if p["lambda_cost"] < 0 or p["lambda_lat"] < 0:
        raise ValueError(
            f"dacr: lambda_cost={p['lambda_cost']} and lambda_lat={p['lambda_lat']} must be >= 0"
        )
    if p["budget_cost"] <= 0 or p["budget_viol"] <= 0:
        raise ValueError(
            f"dacr: budget_cost={p['budget_cost']} and budget_viol={p['budget_viol']} must be > 0"
        )
    if not 0 <= p["p_miss"] <= 1:
        raise ValueError(f"dacr: p_miss={p['p_miss']} must lie in [0, 1]")
    if p["delay"] < 0 or (p["delay_s"] is not None and p["delay_s"] < 0):
        raise ValueError(f"dacr: delay={p['delay']} and delay_s={p['delay_s']} must be >= 0")
    if p["mu_lr"] is not None and p["mu_lr"] < 0:
        raise ValueError(f"dacr: mu_lr={p['mu_lr']} must be >= 0 (or null for the default rule)")
    for key in ("cal_lr", "lat_lr", "cost_lr"):
        if not 0 <= p[key] <= 1:
            raise ValueError(f"dacr: {key}={p[key]} must lie in [0, 1]")
    if p["dual"] not in DUAL_MODES:
        raise ValueError(f"dacr: dual={p['dual']!r} is not valid; choose one of {list(DUAL_MODES)}")
    if p["feedback_clock"] not in FEEDBACK_CLOCKS:
        raise ValueError(
            f"dacr: feedback_clock={p['feedback_clock']!r} is not valid; choose one of "
            f"{list(FEEDBACK_CLOCKS)}"
        )
    if p["hard_budget"] and p["dual"] == "raw":
        raise ValueError("dacr: hard_budget needs dual: normalized (raw duals track no spend)")
    if p["bias_bound"] <= 0 or p["shift_bound"] <= 0:
        raise ValueError(
            f"dacr: bias_bound={p['bias_bound']} and shift_bound={p['shift_bound']} must be > 0"
        )


def _check_domains(ctx: Context, n_domains: int) -> None:
    if int(np.max(ctx.domain, initial=0)) >= n_domains:
        raise ValueError(
            f"dacr: the context has domain code {int(np.max(ctx.domain))} but n_domains={n_domains}"
        )


def _check_latency(outcomes: Outcomes) -> None:
    if np.isnan(outcomes.latency).any():
        raise ValueError(
            "dacr.feedback_clock is stream, so a call's outcome arrives when it completes, but "
            "this experiment has no latency (latency: none) and so no completion times; set "
            "dacr.feedback_clock: index"
        )


def warm_up() -> None:
    """Compile DACR's replay (or load it from numba's cache) on a two-request stream, through
    :meth:`DACRPolicy.replay` so the argument types are the policy jobs' own: the jobs that
    follow find it cached instead of each compiling it (about 4 s)."""
    q = np.array([[0.5, 0.6], [0.4, 0.7]])
    ones = np.ones((2, 2))
    forecast = LatencyForecast(np.zeros((2, 2)), np.ones(2), 10.0)
    ctx = Context(
        q, 0.001 * ones, 0.1 * ones, np.zeros(2, dtype=np.int64), np.arange(2.0), latency=forecast
    )
    DACRPolicy(lambda_cost=1.0).replay(ctx, Outcomes(q, 0.001 * ones, ones, 0.0 * ones))
