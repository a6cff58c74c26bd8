"""What a router sees, what it learns afterwards, and the online policy API.

Every policy follows one online API (river style): parameters are stored unchanged,
``select_one(request)`` returns the model index for a :class:`~dacr.route.online.Request`
(what is known when it arrives), ``update_one(feedback)`` receives a
:class:`~dacr.route.online.Feedback` of the chosen model only, when it arrives, and
``clone()`` returns a fresh copy with the same parameters and no state. An optional
scikit-learn-style ``fit(train)`` sees the training split. Stateless policies also provide a
vectorised ``select_batch(ctx)``; :func:`replay` uses a policy's own compiled ``replay``
(DACR) first, ``select_batch`` next, and the enforced per-request loop
(:func:`~dacr.route.online.run_online`) otherwise.

:class:`Context` holds the decision-time information of every request of a stream (rows in
stream order): predicted quality (calibrated, joint ranker, KNN), the cost and SLO-violation
terms used for decisions (predicted, or realised when ``decision_info`` is ``oracle``), the
domain, the stream time, the load observable at arrival, the latency forecast behind the
violation term, and optionally the query features and prompts. Realised outcomes
(:class:`Outcomes`) are never handed to a policy; the oracle policies are the exceptions,
upper bounds labelled as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

from dacr.route.online import Feedback, FeedbackSchedule, Request, request_at, run_online

DECISION_INFO = ("predicted", "oracle")


@dataclass(frozen=True)
class LatencyForecast:
    """Log-normal latency forecast: ``log latency_s ~ N(loc[t, m], scale[m]**2)``.

    ``loc`` already holds the load observable at arrival (``log load``) and the out-of-fold
    offset of the predictor, so ``P(latency > tau) = 1 - Phi((log tau - loc) / scale)``. DACR
    shifts ``loc`` online per (model, domain) from the latencies it observes.
    """

    loc: np.ndarray
    scale: np.ndarray
    tau_s: float

    def p_violation(self, shift: np.ndarray | float = 0.0) -> np.ndarray:
        """P(latency > tau) per (request, model), with ``loc`` shifted by ``shift``."""
        z = (math.log(self.tau_s) - self.loc - shift) / self.scale
        return 1.0 - ndtr(z)


@dataclass(frozen=True)
class Context:
    """Decision-time information for n requests over M models (rows in stream order).

    ``load`` is the load multiplier observable when request t arrives (from arrivals up to and
    including t); ``latency`` the forecast ``viol`` was computed from (None when decisions see
    realised violations, or latency is off).
    """

    q_cal: np.ndarray
    cost: np.ndarray
    viol: np.ndarray
    domain: np.ndarray
    ts: np.ndarray
    q_extra: dict[str, np.ndarray] = field(default_factory=dict)
    p_win: np.ndarray | None = None
    load: np.ndarray | None = None
    latency: LatencyForecast | None = None
    features: np.ndarray | None = None
    prompts: np.ndarray | None = None
    domain_names: np.ndarray | None = None
    models: tuple[str, ...] | None = None

    @property
    def n(self) -> int:
        return self.q_cal.shape[0]

    def request(self, t: int) -> Request:
        """Request ``t`` as a router sees it (read-only views)."""
        return request_at(self, t)


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

    def fit(self, train: object) -> Policy:
        """Learn from the training split (nothing for policies built on shared predictions)."""
        return self

    def select_one(self, request: Request) -> int:
        """The model for one request: by default the batch rule on that request alone."""
        return int(self.select_batch(context_of(request))[0])

    def update_one(self, feedback: Feedback) -> None:
        return None

    def select_batch(self, ctx: Context) -> np.ndarray:
        raise NotImplementedError


def context_of(request: Request) -> Context:
    """A one-row :class:`Context` holding just ``request`` (for batch rules)."""
    one = np.zeros(1, dtype=np.int64) + request.domain_code
    latency = None
    if request.lat_loc is not None:
        latency = LatencyForecast(request.lat_loc[None, :], request.lat_scale, request.tau_s)
    return Context(
        q_cal=request.q_cal[None, :],
        cost=request.cost[None, :],
        viol=request.viol[None, :],
        domain=one,
        ts=np.array([request.ts]),
        q_extra={k: v[None, :] for k, v in request.q_extra.items()},
        p_win=None if request.p_win is None else np.array([request.p_win]),
        load=np.array([request.load]),
        latency=latency,
        features=None if request.features is None else request.features[None, :],
        prompts=None if request.prompt is None else np.array([request.prompt], dtype=object),
        domain_names=np.array([request.domain], dtype=object),
        models=request.models,
    )


def replay(
    policy: Policy,
    ctx: Context,
    outcomes: Outcomes,
    schedule: FeedbackSchedule | None = None,
) -> np.ndarray:
    """Choices of ``policy`` over the stream: its compiled replay when it has one,
    vectorised when stateless, else the enforced per-request loop under ``schedule``
    (default: :class:`~dacr.route.online.FeedbackSchedule`'s defaults)."""
    own = getattr(policy, "replay", None)
    if own is not None:
        return own(ctx, outcomes).choice
    try:
        return np.asarray(policy.select_batch(ctx), dtype=np.int64)
    except NotImplementedError:
        return run_online(policy, ctx, outcomes, schedule or FeedbackSchedule())
