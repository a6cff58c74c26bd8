"""Routing policies over (queries x models) matrices, and the hindsight references.

``base``: what a router sees (:class:`Context`) and what it learns afterwards
(:class:`Outcomes`), the online policy API and :func:`replay`. ``baselines``: the stateless
routers. ``feedback``: when each decision's outcome reaches the router. ``dacr``: the online
DACR router (compiled replay in ``kernel``). ``oracle``: the constrained hindsight optimum.
``budget``: offline cost weights chosen on training data to meet a budget. ``online``: the
enforced per-request interface (``run_online``); ``linucb``: the LinUCB bandit on it (compiled
replay in ``linucb_kernel``); ``custom``, ``contract``: routers of one's own and the honesty
check every router passes.
"""

from __future__ import annotations

from dacr.route.base import DECISION_INFO, Context, LatencyForecast, Outcomes, Policy, replay
from dacr.route.baselines import (
    CascadePolicy,
    CheapestPolicy,
    FixedPolicy,
    OraclePolicy,
    RandomPolicy,
    RouteLLMPolicy,
    ScalarisedPolicy,
)
from dacr.route.dacr import DUAL_MODES, DACRPolicy, DACRTrace
from dacr.route.feedback import (
    FEEDBACK_CLOCKS,
    completion_index,
    feedback_available_at,
    feedback_lost,
)

__all__ = [
    "DECISION_INFO",
    "DUAL_MODES",
    "FEEDBACK_CLOCKS",
    "CascadePolicy",
    "CheapestPolicy",
    "Context",
    "DACRPolicy",
    "DACRTrace",
    "FixedPolicy",
    "LatencyForecast",
    "OraclePolicy",
    "Outcomes",
    "Policy",
    "RandomPolicy",
    "RouteLLMPolicy",
    "ScalarisedPolicy",
    "completion_index",
    "feedback_available_at",
    "feedback_lost",
    "replay",
]
