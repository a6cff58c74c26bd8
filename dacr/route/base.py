"""What a router sees, what it learns afterwards, and the online policy API.

Every policy follows one online API (river style): parameters are stored unchanged,
``select_one(t, ctx)`` returns the model index for request t from what is known then,
``update_one(t, choice, outcome)`` reveals the realised outcome of that choice, ``clone()``
returns a fresh copy with the same parameters and no state. Stateless policies also provide a
vectorised ``select_batch(ctx)``; :func:`replay` uses it when present, a policy's own
``replay`` (DACR's compiled kernel) next, and the sequential loop otherwise.

What a router may see (:class:`Context`): predicted quality (raw per-model, calibrated, joint
ranker, KNN), the cost and SLO-violation terms used for decisions (predicted, or realised when
``decision_info`` is ``oracle``), the domain, the stream time, the load observable at arrival
and the latency forecast behind the violation term. Realised outcomes (:class:`Outcomes`)
reach a policy only through ``update_one`` after its decision; the oracle policies are the
exceptions, upper bounds labelled as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import ndtr

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


def replay(policy: Policy, ctx: Context, outcomes: Outcomes) -> np.ndarray:
    """Choices of ``policy`` over the stream: vectorised when stateless, compiled when the
    policy has its own replay, else the sequential per-request loop."""
    own = getattr(policy, "replay", None)
    if own is not None:
        return own(ctx, outcomes).choice
    try:
        return np.asarray(policy.select_batch(ctx), dtype=np.int64)
    except NotImplementedError:
        choices = np.empty(ctx.n, dtype=np.int64)
        for t in range(ctx.n):
            choices[t] = policy.select_one(t, ctx)
            policy.update_one(t, int(choices[t]), outcomes)
        return choices
