"""Routing policies over (queries x models) matrices.

Every policy follows one online API (river style): parameters are stored unchanged,
``select_one(t, ctx)`` returns the model index for request t from what is known then,
``update_one(t, choice, outcome)`` reveals the realised outcome of that choice, ``clone()``
returns a fresh copy with the same parameters and no state. Stateless policies also provide a
vectorised ``select_batch(ctx)``; :func:`replay` uses it when present and the sequential loop
otherwise. DACR's sequential replay runs in a compiled kernel with the same arithmetic.

What a router may see (:class:`Context`): predicted quality (raw per-model, calibrated, joint
ranker, KNN), the cost and SLO-violation terms used for decisions (predicted, or realised when
``decision_info`` is ``oracle``), the domain and the stream time. Realised outcomes
(:class:`Outcomes`) reach a policy only through ``update_one`` after its decision; the oracle
policy is the one exception, an upper bound labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

DECISION_INFO = ("predicted", "oracle")


@dataclass(frozen=True)
class Context:
    """Decision-time information for n requests over M models (rows in stream order)."""

    q_cal: np.ndarray
    cost: np.ndarray
    viol: np.ndarray
    domain: np.ndarray
    ts: np.ndarray
    q_extra: dict[str, np.ndarray] = field(default_factory=dict)
    p_win: np.ndarray | None = None

    @property
    def n(self) -> int:
        return self.q_cal.shape[0]


@dataclass(frozen=True)
class Outcomes:
    """Realised quality, cost (USD), latency (s) and SLO violation (0/1) per (request, model)."""

    quality: np.ndarray
    cost: np.ndarray
    latency: np.ndarray
    violation: np.ndarray


class Policy:
    """Base class: parameters in ``__init__``, state created by :meth:`reset`."""

    name = "policy"
    upper_bound = False

    def __init__(self, **params: object) -> None:
        self._params = dict(params)
        for key, value in params.items():
            setattr(self, key, value)
        self.reset()

    def get_params(self) -> dict:
        return dict(self._params)

    def clone(self) -> Policy:
        """A fresh copy with the same parameters and reset state."""
        return type(self)(**self.get_params())

    def reset(self) -> None:
        """Create the online state (nothing for stateless policies)."""

    def select_one(self, t: int, ctx: Context) -> int:
        return int(self.select_batch(ctx)[t])

    def update_one(self, t: int, choice: int, outcome: Outcomes) -> None:
        return None

    def select_batch(self, ctx: Context) -> np.ndarray:
        raise NotImplementedError


def _argmax_score(q: np.ndarray, cost: np.ndarray, viol: np.ndarray, lam: float, lam_lat: float):
    return np.argmax(q - lam * cost - lam_lat * viol, axis=1)


class RandomPolicy(Policy):
    """Uniformly random model per request, from a seeded generator."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)

    def reset(self) -> None:
        self._rng = np.random.default_rng([self.seed, 3])

    def select_batch(self, ctx: Context) -> np.ndarray:
        return self._rng.integers(0, ctx.q_cal.shape[1], size=ctx.n)

    def select_one(self, t: int, ctx: Context) -> int:
        return int(self._rng.integers(0, ctx.q_cal.shape[1]))


class FixedPolicy(Policy):
    """Always the same model (``always_strong``, ``single:<model>``)."""

    def __init__(self, model: int, name: str = "single") -> None:
        super().__init__(model=model, name=name)

    def select_batch(self, ctx: Context) -> np.ndarray:
        return np.full(ctx.n, self.model, dtype=np.int64)


class CheapestPolicy(Policy):
    """The model with the lowest decision cost (predicted, or realised in oracle mode)."""

    name = "cheapest"

    def select_batch(self, ctx: Context) -> np.ndarray:
        return np.argmin(ctx.cost, axis=1)


class OraclePolicy(Policy):
    """Upper bound: the best realised quality, ties to the cheapest realised cost."""

    name = "oracle"
    upper_bound = True

    def __init__(self, outcomes: Outcomes) -> None:
        super().__init__(outcomes=outcomes)

    def select_batch(self, ctx: Context) -> np.ndarray:
        quality, cost = self.outcomes.quality, self.outcomes.cost
        best = quality == quality.max(axis=1, keepdims=True)
        return np.argmin(np.where(best, cost, np.inf), axis=1)


class CascadePolicy(Policy):
    """Cheapest model (by training cost order) whose predicted quality reaches the threshold,
    else the most expensive one: a predictive cascade, as in the original DACR scripts."""

    name = "cascade"

    def __init__(self, cost_order: np.ndarray, threshold: float = 0.7) -> None:
        super().__init__(cost_order=np.asarray(cost_order), threshold=threshold)

    def select_batch(self, ctx: Context) -> np.ndarray:
        ok = ctx.q_cal[:, self.cost_order] >= self.threshold
        first = np.argmax(ok, axis=1)
        pos = np.where(ok.any(axis=1), first, len(self.cost_order) - 1)
        return self.cost_order[pos]


class RouteLLMPolicy(Policy):
    """Binary router: the strong model when P(strong beats weak) >= threshold, else the weak."""

    name = "routellm"

    def __init__(self, strong: int, weak: int, threshold: float = 0.5) -> None:
        super().__init__(strong=strong, weak=weak, threshold=threshold)

    def select_batch(self, ctx: Context) -> np.ndarray:
        if ctx.p_win is None:
            raise ValueError("routellm needs the win probabilities p_win in the context")
        return np.where(ctx.p_win >= self.threshold, self.strong, self.weak)


class ScalarisedPolicy(Policy):
    """``argmax q - lambda_cost * cost - lambda_lat * viol`` over a quality estimate.

    ``quality`` names the estimate: ``calibrated`` (MixLLM-style), or a key of
    ``Context.q_extra`` (``llmrec``, ``knn``).
    """

    def __init__(
        self, name: str, quality: str, lambda_cost: float, lambda_lat: float = 1.0
    ) -> None:
        super().__init__(name=name, quality=quality, lambda_cost=lambda_cost, lambda_lat=lambda_lat)

    def select_batch(self, ctx: Context) -> np.ndarray:
        q = ctx.q_cal if self.quality == "calibrated" else ctx.q_extra[self.quality]
        return _argmax_score(q, ctx.cost, ctx.viol, self.lambda_cost, self.lambda_lat)


@dataclass
class DACRTrace:
    """Per-decision state of a DACR replay (after the decision's update)."""

    choice: np.ndarray
    mu_c: np.ndarray
    mu_l: np.ndarray
    q_tilde: np.ndarray
    bias: np.ndarray


class DACRPolicy(Policy):
    """Domain-adaptive calibrated routing (Eq. 9 of the DACR method) with online updates.

    Score of model m for request t in domain d:
    ``q~ - lambda_cost*c - lambda_lat*v - mu_c*c - mu_l*v`` with ``q~ = clip(q_cal + b[m, d],
    0, 1)``. After each decision the dual prices take a projected step,
    ``mu_c <- max(0, mu_c + mu_lr*(c_t - budget_cost))`` and
    ``mu_l <- max(0, mu_l + mu_lr*(v_t - budget_viol))``, from the realised cost and violation
    of the chosen model. The chosen model's realised quality y (partial feedback) is lost with
    probability ``p_miss``; otherwise it updates the correction, in probability space,
    ``b[m, d] <- clip(b + cal_lr*(y - clip(q_cal + b, 0, 1)), -bias_bound, bias_bound)``.
    Feedback of decision s is applied after decision ``s + delay`` (``delay=0``: right after
    its own decision), or, with ``delay_s`` set, before the first decision u > s whose stream
    time is at least ``ts_s + delay_s``.
    """

    name = "dacr"

    def __init__(
        self,
        lambda_cost: float,
        lambda_lat: float = 1.0,
        budget_cost: float = 0.0055,
        budget_viol: float = 0.10,
        mu_lr: float = 0.05,
        cal_lr: float = 0.05,
        delay: int = 10,
        delay_s: float | None = None,
        p_miss: float = 0.3,
        bias_bound: float = 0.5,
        n_domains: int = 1,
        seed: int = 0,
    ) -> None:
        if lambda_cost < 0 or lambda_lat < 0:
            raise ValueError(
                f"dacr: lambda_cost={lambda_cost} and lambda_lat={lambda_lat} must be >= 0"
            )
        if budget_cost <= 0 or budget_viol <= 0:
            raise ValueError(
                f"dacr: budget_cost={budget_cost} and budget_viol={budget_viol} must be > 0"
            )
        if not 0 <= p_miss <= 1:
            raise ValueError(f"dacr: p_miss={p_miss} must lie in [0, 1]")
        if delay < 0 or (delay_s is not None and delay_s < 0):
            raise ValueError(f"dacr: delay={delay} and delay_s={delay_s} must be >= 0")
        super().__init__(
            lambda_cost=lambda_cost,
            lambda_lat=lambda_lat,
            budget_cost=budget_cost,
            budget_viol=budget_viol,
            mu_lr=mu_lr,
            cal_lr=cal_lr,
            delay=delay,
            delay_s=delay_s,
            p_miss=p_miss,
            bias_bound=bias_bound,
            n_domains=n_domains,
            seed=seed,
        )

    def reset(self) -> None:
        self.mu_c = 0.0
        self.mu_l = 0.0
        self.bias: np.ndarray | None = None
        self._pending: list[tuple[int, int, int, float]] = []  # (avail, decision, model, y)
        self._q_seen: dict[int, np.ndarray] = {}
        self._lost: np.ndarray | None = None
        self._avail: np.ndarray | None = None

    # --- per-request API -------------------------------------------------------------------
    def _prepare(self, ctx: Context) -> None:
        if self.bias is None:
            self.bias = np.zeros((ctx.q_cal.shape[1], self.n_domains))
            self._lost = feedback_lost(ctx.n, self.p_miss, self.seed)
            self._avail = feedback_available_at(ctx.ts, self.delay, self.delay_s)

    def _apply_due(self, t: int, ctx: Context) -> None:
        keep = []
        for avail, s, m, y in self._pending:
            if avail <= t:
                d = ctx.domain[s]
                p = min(max(ctx.q_cal[s, m] + self.bias[m, d], 0.0), 1.0)
                b = self.bias[m, d] + self.cal_lr * (y - p)
                self.bias[m, d] = min(max(b, -self.bias_bound), self.bias_bound)
            else:
                keep.append((avail, s, m, y))
        self._pending = keep

    def select_one(self, t: int, ctx: Context) -> int:
        self._prepare(ctx)
        self._apply_due(t, ctx)
        q = np.clip(ctx.q_cal[t] + self.bias[:, ctx.domain[t]], 0.0, 1.0)
        lam_c = self.lambda_cost + self.mu_c
        lam_l = self.lambda_lat + self.mu_l
        return int(np.argmax(q - lam_c * ctx.cost[t] - lam_l * ctx.viol[t]))

    def update_one(self, t: int, choice: int, outcome: Outcomes) -> None:
        c = float(outcome.cost[t, choice])
        v = float(outcome.violation[t, choice])
        self.mu_c = max(0.0, self.mu_c + self.mu_lr * (c - self.budget_cost))
        self.mu_l = max(0.0, self.mu_l + self.mu_lr * (v - self.budget_viol))
        if not self._lost[t]:
            self._pending.append(
                (int(self._avail[t]), t, choice, float(outcome.quality[t, choice]))
            )

    # --- compiled replay -------------------------------------------------------------------
    def replay(self, ctx: Context, outcomes: Outcomes) -> DACRTrace:
        """Run the whole stream; identical decisions to the per-request loop, compiled."""
        lost = feedback_lost(ctx.n, self.p_miss, self.seed)
        avail = feedback_available_at(ctx.ts, self.delay, self.delay_s)
        choice, mu_c, mu_l, q_tilde, bias = _dacr_kernel(
            np.ascontiguousarray(ctx.q_cal, dtype=np.float64),
            np.ascontiguousarray(ctx.cost, dtype=np.float64),
            np.ascontiguousarray(ctx.viol, dtype=np.float64),
            np.ascontiguousarray(ctx.domain, dtype=np.int64),
            np.ascontiguousarray(outcomes.cost, dtype=np.float64),
            np.ascontiguousarray(outcomes.violation, dtype=np.float64),
            np.ascontiguousarray(outcomes.quality, dtype=np.float64),
            lost,
            avail,
            self.n_domains,
            float(self.lambda_cost),
            float(self.lambda_lat),
            float(self.budget_cost),
            float(self.budget_viol),
            float(self.mu_lr),
            float(self.cal_lr),
            float(self.bias_bound),
        )
        return DACRTrace(choice, mu_c, mu_l, q_tilde, bias)


def feedback_lost(n: int, p_miss: float, seed: int) -> np.ndarray:
    """Which decisions' quality feedback is lost: seeded, shared by every lambda of a run."""
    return np.random.default_rng([seed, 4]).random(n) < p_miss


def feedback_available_at(ts: np.ndarray, delay: int, delay_s: float | None) -> np.ndarray:
    """For each decision s, the first decision index u > s that sees its feedback.

    Count delay: ``u = s + delay + 1`` (feedback applied after decision s + delay). Time delay:
    the first u > s with ``ts[u] >= ts[s] + delay_s``.
    """
    n = len(ts)
    s = np.arange(n)
    if delay_s is None:
        return s + int(delay) + 1
    ts = np.asarray(ts, dtype=float)
    return np.maximum(np.searchsorted(ts, ts + float(delay_s), side="left"), s + 1)


@numba.njit(cache=True)
def _dacr_kernel(
    q_cal,
    cost,
    viol,
    domain,
    cost_real,
    viol_real,
    quality_real,
    lost,
    avail,
    n_domains,
    lam_c,
    lam_l,
    budget_c,
    budget_v,
    mu_lr,
    cal_lr,
    bound,
):  # pragma: no cover - compiled; checked against the Python loop in the tests
    n, m_count = q_cal.shape
    bias = np.zeros((m_count, n_domains))
    choice = np.empty(n, dtype=np.int64)
    mu_c_tr = np.empty(n)
    mu_l_tr = np.empty(n)
    q_tilde = np.empty(n)
    mu_c = 0.0
    mu_l = 0.0
    nxt = 0  # next decision whose feedback is not yet applied (avail is non-decreasing)
    for t in range(n):
        while nxt < t and avail[nxt] <= t:
            if not lost[nxt]:
                m = choice[nxt]
                d = domain[nxt]
                p = min(max(q_cal[nxt, m] + bias[m, d], 0.0), 1.0)
                b = bias[m, d] + cal_lr * (quality_real[nxt, m] - p)
                bias[m, d] = min(max(b, -bound), bound)
            nxt += 1
        d = domain[t]
        best = -np.inf
        best_m = 0
        best_q = 0.0
        for m in range(m_count):
            q = min(max(q_cal[t, m] + bias[m, d], 0.0), 1.0)
            s = q - (lam_c + mu_c) * cost[t, m] - (lam_l + mu_l) * viol[t, m]
            if s > best:
                best = s
                best_m = m
                best_q = q
        choice[t] = best_m
        q_tilde[t] = best_q
        mu_c = max(0.0, mu_c + mu_lr * (cost_real[t, best_m] - budget_c))
        mu_l = max(0.0, mu_l + mu_lr * (viol_real[t, best_m] - budget_v))
        mu_c_tr[t] = mu_c
        mu_l_tr[t] = mu_l
    return choice, mu_c_tr, mu_l_tr, q_tilde, bias


def replay(policy: Policy, ctx: Context, outcomes: Outcomes) -> np.ndarray:
    """Choices of ``policy`` over the stream: vectorised when stateless, else sequential."""
    if isinstance(policy, DACRPolicy):
        return policy.replay(ctx, outcomes).choice
    try:
        return np.asarray(policy.select_batch(ctx), dtype=np.int64)
    except NotImplementedError:
        choices = np.empty(ctx.n, dtype=np.int64)
        for t in range(ctx.n):
            choices[t] = policy.select_one(t, ctx)
            policy.update_one(t, int(choices[t]), outcomes)
        return choices
