"""Routers of your own, from config: ``custom_policies: {name: {class, params, uses_lambda}}``.

The class follows the documented contract (``docs/custom_routers.md``):

* ``__init__(**params)`` (plus ``lambda_cost=λ`` when ``uses_lambda``): store parameters;
* ``fit(train: TrainData)`` (optional, scikit-learn style): learn from the training split;
* ``select_one(request: Request) -> int``: the model for one request, from what it may know;
* ``update_one(feedback: Feedback) -> None``: the chosen model's feedback, when it arrives;
* ``select_batch(ctx: Context) -> array`` (optional): every request at once, for a router
  without state; row t may depend on request t only.

A router never receives realised outcomes except its own feedback, so it cannot peek; what
breaks the contract (a bad class path, a missing method, a wrong return value, an exception)
is an error naming the policy.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dacr.provenance import source_digest as source_digest  # re-exported from its home
from dacr.route.base import Context, Outcomes
from dacr.route.online import FeedbackSchedule, run_online

_CLASS_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
REQUIRED_METHODS = ("select_one", "update_one")


@dataclass(frozen=True)
class TrainData:
    """The training split, as a custom router's ``fit`` receives it (rows: queries)."""

    qids: np.ndarray
    features: np.ndarray
    prompts: np.ndarray
    domains: np.ndarray
    models: tuple[str, ...]
    quality: np.ndarray
    cost: np.ndarray
    latency: np.ndarray | None


class CustomPolicyError(ValueError):
    """A custom router that cannot be loaded or breaks the contract."""


def _where(name: str) -> str:
    return f"custom_policies.{name}"


def import_class(name: str, class_path: str, import_root: str | Path | None = None) -> type:
    """The class ``package.module:Class`` of custom policy ``name``.

    ``import_root`` (the project directory) is put on ``sys.path`` after what is there, so
    ``examples.routers...`` resolves from a checkout; installed packages resolve as usual.
    """
    if not isinstance(class_path, str) or not _CLASS_PATH.match(class_path):
        raise CustomPolicyError(
            f"{_where(name)}.class={class_path!r} is not valid; write 'package.module:Class'"
        )
    module_name, cls_name = class_path.split(":")
    if import_root is not None and str(import_root) not in sys.path:
        sys.path.append(str(import_root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CustomPolicyError(
            f"{_where(name)}.class={class_path!r}: cannot import module {module_name!r} "
            f"({exc}); install its package or put it on PYTHONPATH"
        ) from exc
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, type))
        raise CustomPolicyError(
            f"{_where(name)}.class={class_path!r}: module {module_name!r} has no class "
            f"{cls_name!r}; its classes: {found}"
        )
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise CustomPolicyError(
            f"{_where(name)}.class={class_path!r}: {cls_name} lacks {missing}; a router "
            "needs select_one(request) -> int and update_one(feedback) -> None"
        )
    return cls


def build(name: str, spec: Mapping, lam: float | None, import_root=None):
    """An instance of custom policy ``name`` (with ``lambda_cost=lam`` if it uses λ)."""
    cls = import_class(name, spec["class"], import_root)
    params = dict(spec.get("params") or {})
    if spec.get("uses_lambda", False):
        params["lambda_cost"] = lam
    try:
        policy = cls(**params)
    except TypeError as exc:
        raise CustomPolicyError(
            f"{_where(name)}: {spec['class']}(**{params}) failed: {exc}; check "
            f"{_where(name)}.params"
        ) from exc
    return policy


def fit_policy(name: str, policy, train: TrainData):
    """``policy.fit(train)`` when it has one; errors name the policy."""
    fit = getattr(policy, "fit", None)
    if fit is None:
        return policy
    try:
        fitted = fit(train)
    except Exception as exc:
        raise CustomPolicyError(f"{_where(name)}: fit(train) raised {exc!r}") from exc
    return policy if fitted is None else fitted


def replay_custom(
    name: str, policy, ctx: Context, outcomes: Outcomes, schedule: FeedbackSchedule
) -> np.ndarray:
    """Choices of a custom router: ``select_batch`` when it has one (checked for shape and
    range), else the enforced per-request loop; errors name the policy and the request."""
    n_models = ctx.q_cal.shape[1]
    batch = getattr(policy, "select_batch", None)
    try:
        if batch is not None:
            choice = np.asarray(batch(ctx))
            if choice.shape != (ctx.n,) or not np.issubdtype(choice.dtype, np.integer):
                raise CustomPolicyError(
                    f"{_where(name)}: select_batch returned {choice.dtype} of shape "
                    f"{choice.shape}; return {ctx.n} model indices (integers)"
                )
            bad = np.flatnonzero((choice < 0) | (choice >= n_models))
            if bad.size:
                raise CustomPolicyError(
                    f"{_where(name)}: select_batch chose model {int(choice[bad[0]])} for "
                    f"request {int(bad[0])}; valid: 0..{n_models - 1}"
                )
            return choice.astype(np.int64)
        return run_online(policy, ctx, outcomes, schedule, name=_where(name))
    except CustomPolicyError:
        raise
    except Exception as exc:
        raise CustomPolicyError(f"{_where(name)}: the router raised {exc!r}") from exc
