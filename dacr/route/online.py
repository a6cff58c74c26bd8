"""The enforced online interface: what a router sees, what it learns, and when.

A router decides request t from a :class:`Request` alone: the request's features, prompt,
domain, stream time and load, and the shared predictions for it (calibrated quality,
predicted cost, P(latency > tau) and the latency forecast behind it, per model). Nothing of
other requests, nothing realised. After it decides, :func:`run_online` hands it a
:class:`Feedback` of **its chosen model only**, when that feedback would arrive
(:class:`FeedbackSchedule`): the call's cost, latency and violation when it completes (stream
time ``ts + latency_s``, or after ``delay`` decisions on the index clock), its quality label no
earlier, or never (lost with probability ``p_miss``). Within one decision step the outcomes due
are delivered first, then the quality labels, each in decision order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dacr.route.feedback import (
    FEEDBACK_CLOCKS,
    completion_index,
    completion_indices,
    feedback_available_at,
    feedback_lost,
)

OUTCOME, QUALITY = "outcome", "quality"


@dataclass(frozen=True)
class Request:
    """Everything a router may know when request ``t`` of ``n`` arrives (arrays per model,
    read-only)."""

    t: int
    n: int
    models: tuple[str, ...]
    domain: str
    domain_code: int
    n_domains: int
    ts: float
    load: float
    q_cal: np.ndarray
    cost: np.ndarray
    viol: np.ndarray
    q_extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    p_win: float | None = None
    features: np.ndarray | None = None
    prompt: str | None = None
    lat_loc: np.ndarray | None = None
    lat_scale: np.ndarray | None = None
    tau_s: float | None = None


@dataclass(frozen=True)
class Feedback:
    """The realised outcome of the model chosen for request ``t``.

    ``kind`` is ``outcome`` (``cost`` in USD, ``latency_s``, ``violation`` 0/1; ``quality`` is
    None) or ``quality`` (the quality label only).
    """

    t: int
    model: int
    kind: str
    quality: float | None = None
    cost: float | None = None
    latency_s: float | None = None
    violation: float | None = None


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    view = np.asarray(a).view()
    view.flags.writeable = False
    return view


class RequestMaker:
    """Builds the :class:`Request` of each row of a context; the arrays are made read-only
    once, so every row handed out is a read-only view."""

    def __init__(self, ctx) -> None:
        lat = ctx.latency
        n_models = ctx.q_cal.shape[1]
        self.n = ctx.n
        self.models = (
            tuple(ctx.models) if ctx.models is not None else tuple(map(str, range(n_models)))
        )
        self.names = ctx.domain_names
        self.codes = np.asarray(ctx.domain)
        self.n_domains = int(np.max(ctx.domain, initial=0)) + 1
        self.ts = np.asarray(ctx.ts, dtype=float)
        self.load = None if ctx.load is None else np.asarray(ctx.load, dtype=float)
        self.q_cal, self.cost, self.viol = (_frozen(a) for a in (ctx.q_cal, ctx.cost, ctx.viol))
        self.q_extra = {k: _frozen(v) for k, v in ctx.q_extra.items()}
        self.p_win = ctx.p_win
        self.features = _frozen(ctx.features)
        self.prompts = ctx.prompts
        self.lat_loc = None if lat is None else _frozen(lat.loc)
        self.lat_scale = None if lat is None else _frozen(lat.scale)
        self.tau_s = None if lat is None else float(lat.tau_s)
        # per-row scalars as Python lists: indexing a list beats building numpy scalars
        names = self.names if self.names is not None else self.codes
        self._domain = [str(d) for d in names]
        self._code = [int(c) for c in self.codes]
        self._ts = self.ts.tolist()
        self._load = None if self.load is None else self.load.tolist()
        self._p_win = None if self.p_win is None else np.asarray(self.p_win, float).tolist()

    def __call__(self, t: int) -> Request:
        # A frozen dataclass sets each field through object.__setattr__; filling the
        # instance's __dict__ at once is several times faster (the hot path of every custom
        # router) and leaves it as frozen.
        request = object.__new__(Request)
        request.__dict__.update(
            t=int(t),
            n=self.n,
            models=self.models,
            domain=self._domain[t],
            domain_code=self._code[t],
            n_domains=self.n_domains,
            ts=self._ts[t],
            load=1.0 if self._load is None else self._load[t],
            q_cal=self.q_cal[t],
            cost=self.cost[t],
            viol=self.viol[t],
            q_extra={k: v[t] for k, v in self.q_extra.items()},
            p_win=None if self._p_win is None else self._p_win[t],
            features=None if self.features is None else self.features[t],
            prompt=None if self.prompts is None else str(self.prompts[t]),
            lat_loc=None if self.lat_loc is None else self.lat_loc[t],
            lat_scale=self.lat_scale,
            tau_s=self.tau_s,
        )
        return request


def request_at(ctx, t: int) -> Request:
    """Request ``t`` of a :class:`~dacr.route.base.Context` (read-only views, not copies)."""
    return RequestMaker(ctx)(t)


@dataclass(frozen=True)
class FeedbackSchedule:
    """When each decision's feedback reaches its router (module docstring).

    ``outcomes_at_once`` delivers outcomes right after their own decision: the original
    scripts' assumption, which DACR's ``dual: raw`` keeps for parity.
    """

    clock: str = "stream"
    delay: int = 10
    delay_s: float | None = None
    p_miss: float = 0.3
    seed: int = 0
    outcomes_at_once: bool = False

    def __post_init__(self) -> None:
        if self.clock not in FEEDBACK_CLOCKS:
            raise ValueError(
                f"feedback clock={self.clock!r} is not valid; choose one of {list(FEEDBACK_CLOCKS)}"
            )
        if not 0 <= self.p_miss <= 1:
            raise ValueError(f"p_miss={self.p_miss} must lie in [0, 1]")
        if self.delay < 0 or (self.delay_s is not None and self.delay_s < 0):
            raise ValueError(f"delay={self.delay} and delay_s={self.delay_s} must be >= 0")

    @classmethod
    def from_config(cls, dacr: Mapping, seed: int) -> FeedbackSchedule:
        """The schedule of an experiment's online routers: its ``dacr`` block's
        ``feedback_clock, delay, delay_s, p_miss`` and the global seed."""
        return cls(
            clock=dacr.get("feedback_clock", "stream"),
            delay=int(dacr.get("delay", 10)),
            delay_s=dacr.get("delay_s"),
            p_miss=float(dacr.get("p_miss", 0.3)),
            seed=int(seed),
        )


def _feedback(**fields) -> Feedback:
    """A :class:`Feedback` built without the frozen dataclass's per-field __setattr__."""
    feedback = object.__new__(Feedback)
    feedback.__dict__.update(fields)
    return feedback


class _Deliveries:
    """The pending feedback of one replay: buckets of decision indices per arrival step."""

    def __init__(self, schedule: FeedbackSchedule, ts: np.ndarray, outcomes) -> None:
        self.schedule = schedule
        self.ts = np.asarray(ts, dtype=float)
        self.out = outcomes
        self.lost = feedback_lost(len(ts), schedule.p_miss, schedule.seed).tolist()
        self.q_avail = feedback_available_at(self.ts, schedule.delay, schedule.delay_s).tolist()
        self.done = None
        if schedule.clock == "stream":
            self.done = completion_indices(self.ts, outcomes.latency)
        self.outcome_due: dict[int, list[tuple[int, int]]] = {}
        self.quality_due: dict[int, list[tuple[int, int]]] = {}

    def record(self, t: int, model: int) -> None:
        """Schedule the feedback of decision t (which read only row t of the outcomes)."""
        done = self.q_avail[t]
        if self.done is not None:
            done = int(self.done[t, model])
            if done < 0:
                completion_index(self.ts, t, float(self.out.latency[t, model]))  # raises
        at = t + 1 if self.schedule.outcomes_at_once else done
        self.outcome_due.setdefault(at, []).append((t, model))
        if not self.lost[t]:
            self.quality_due.setdefault(max(self.q_avail[t], done), []).append((t, model))

    def due(self, t: int) -> list[Feedback]:
        outcomes, labels = self.outcome_due.pop(t, None), self.quality_due.pop(t, None)
        if outcomes is None and labels is None:
            return []
        out = self.out
        items = [
            _feedback(
                t=s,
                model=m,
                kind=OUTCOME,
                quality=None,
                cost=float(out.cost[s, m]),
                latency_s=float(out.latency[s, m]),
                violation=float(out.violation[s, m]),
            )
            for s, m in outcomes or ()
        ]
        items += [
            _feedback(
                t=s,
                model=m,
                kind=QUALITY,
                quality=float(out.quality[s, m]),
                cost=None,
                latency_s=None,
                violation=None,
            )
            for s, m in labels or ()
        ]
        return items


def check_clock(schedule: FeedbackSchedule, outcomes, name: str) -> None:
    """The stream clock needs every call's latency (its completion time)."""
    if schedule.clock == "stream" and np.isnan(outcomes.latency).any():
        raise ValueError(
            f"{name}: the feedback clock is stream, "
            "so a call's outcome arrives when it completes, but this experiment has no latency "
            "(latency: none) and so no completion times; set dacr.feedback_clock: index"
        )


def run_online(
    policy, ctx, outcomes, schedule: FeedbackSchedule, *, name: str | None = None
) -> np.ndarray:
    """The per-request replay through the enforced interface: ``select_one(request)`` for
    each request, then ``update_one(feedback)`` with the chosen model's feedback when due.

    Raises
    ------
    ValueError
        A choice that is not a model index of the request, naming the policy and request.
    """
    n, n_models = ctx.q_cal.shape
    name = name or f"policy {getattr(policy, 'name', type(policy).__name__)!r}"
    check_clock(schedule, outcomes, name)
    deliveries = _Deliveries(schedule, ctx.ts, outcomes)
    make = RequestMaker(ctx)
    choices = np.empty(n, dtype=np.int64)
    for t in range(n):
        for feedback in deliveries.due(t):
            policy.update_one(feedback)
        choice = policy.select_one(make(t))
        if isinstance(choice, bool) or not isinstance(choice, int | np.integer):
            raise ValueError(
                f"{name}: select_one returned {choice!r} for request {t}; return a model "
                "index (int)"
            )
        if not 0 <= int(choice) < n_models:
            raise ValueError(
                f"{name}: select_one returned model {int(choice)} for request {t}; valid: "
                f"0..{n_models - 1}"
            )
        choices[t] = int(choice)
        deliveries.record(t, int(choice))
    return choices
