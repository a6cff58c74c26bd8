"""Routers that learn online through the enforced interface: LinUCB and custom routers.

Both run in the same policy jobs as the built-ins, with the same seeds, feedback schedule
(the experiment's ``dacr`` block: ``feedback_clock, delay, delay_s, p_miss``) and budgets, and
see each request as a :class:`~dacr.route.online.Request` with the query features (and, for
custom routers, the prompt text).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.io import load_npz, read_parquet
from dacr.route import Context, Outcomes
from dacr.route.custom import CustomPolicyError, TrainData, build, fit_policy, replay_custom
from dacr.route.linucb import LinUCBPolicy
from dacr.route.online import FeedbackSchedule

log = logging.getLogger(__name__)

#: Names custom policies may not take (outputs key rows by policy name).
RESERVED = frozenset(
    {
        "random",
        "cheapest",
        "always_strong",
        "oracle",
        "constrained_oracle",
        "cascade",
        "routellm",
        "mixllm",
        "llmrec",
        "knn",
        "dacr",
        "linucb",
        "mixllm_budget",
        "llmrec_budget",
        "zero_router",
    }
)


def check_custom_names(custom: Mapping) -> None:
    """Custom policy names must not shadow a built-in (or a single model's rows)."""
    for name in custom:
        if name in RESERVED or name.startswith("single:"):
            raise CustomPolicyError(
                f"custom_policies.{name}: the name is taken by a built-in policy; "
                f"choose another (built-ins: {sorted(RESERVED)})"
            )


def prompts_by_qid(long_path: str | Path) -> pd.DataFrame:
    """One row per query of the long form: ``qid, prompt, domain``."""
    long = read_parquet(long_path, columns=["qid", "prompt", "domain"]).drop_duplicates("qid")
    return long.astype({"qid": str, "prompt": str, "domain": str}).set_index("qid")


def with_requests(
    ctx: Context, features_path: str | Path | None, long_path: str | Path | None, pred: dict
) -> Context:
    """The context plus what online routers read from a request: the test queries' features
    (``features.npz``) and, given the long form, their prompts."""
    features = prompts = None
    if features_path is not None:
        feats = load_npz(features_path)
        if not np.array_equal(feats["test_qids"], pred["qids"]):
            raise ValueError(f"{features_path} was built for another stream; rerun build_features")
        features = feats["X_test"]
    if long_path is not None:
        table = prompts_by_qid(long_path)
        prompts = table["prompt"].reindex(pred["qids"].astype(str)).to_numpy(dtype=object)
    return replace(ctx, features=features, prompts=prompts)


def train_data(pred: dict, features_path: str | Path, long_path: str | Path) -> TrainData:
    """The training split for custom routers' ``fit``: features, prompts, domains and the
    realised quality, cost and latency matrices (rows: ``features.npz``'s train qids)."""
    feats = load_npz(features_path)
    qids = feats["train_qids"].astype(str)
    table = prompts_by_qid(long_path).reindex(qids)
    latency = pred.get("train_latency")
    return TrainData(
        qids=qids,
        features=feats["X_train"],
        prompts=table["prompt"].to_numpy(dtype=object),
        domains=table["domain"].to_numpy(dtype=object),
        models=tuple(str(m) for m in pred["models"]),
        quality=pred["train_quality"],
        cost=pred["train_cost"],
        latency=None if latency is None or np.isnan(latency).all() else latency,
    )


def linucb_choices(
    ctx: Context,
    outcomes: Outcomes,
    lam: float,
    *,
    lambda_lat: float,
    linucb: Mapping,
    dacr: Mapping,
    seed: int,
    train=None,
) -> np.ndarray:
    """LinUCB's choices at cost weight ``lam``, with DACR's budgets and feedback schedule,
    started from ``train`` (``features``, ``quality``) when given and ``warm_start``."""
    policy = LinUCBPolicy(
        lambda_cost=lam,
        lambda_lat=lambda_lat,
        alpha=float(linucb.get("alpha", 0.5)),
        ridge=float(linucb.get("ridge", 1.0)),
        budget_cost=float(dacr.get("budget_cost", 0.0055)),
        budget_viol=float(dacr.get("budget_viol", 0.10)),
        mu_lr=dacr.get("mu_lr"),
        warm_start=bool(linucb.get("warm_start", True)),
    )
    if train is not None:
        policy.fit(train)
    return policy.replay_online(ctx, outcomes, FeedbackSchedule.from_config(dacr, seed))


def linucb_train(pred: dict, features_path: str | Path) -> TrainData:
    """The training split as LinUCB's offline start reads it (features and quality)."""
    feats = load_npz(features_path)
    qids = feats["train_qids"].astype(str)
    return TrainData(
        qids,
        feats["X_train"],
        np.array([], dtype=object),
        np.array([], dtype=object),
        tuple(str(m) for m in pred["models"]),
        pred["train_quality"],
        pred["train_cost"],
        None,
    )


def custom_choices(
    custom: Mapping[str, Mapping],
    ctx: Context,
    outcomes: Outcomes,
    lam: float | None,
    *,
    train: TrainData | None,
    dacr: Mapping,
    seed: int,
    import_root: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """Choices of every custom policy of this job: those with ``uses_lambda`` at ``lam``, or
    those without when ``lam`` is None. Each is built, fit on ``train`` and replayed."""
    check_custom_names(custom)
    schedule = FeedbackSchedule.from_config(dacr, seed)
    out = {}
    for name, spec in sorted(custom.items()):
        if bool(spec.get("uses_lambda", False)) != (lam is not None):
            continue
        policy = build(name, spec, lam, import_root)
        if train is not None:
            policy = fit_policy(name, policy, train)
        out[name] = replay_custom(name, policy, ctx, outcomes, schedule)
        log.info("custom policy %s (λ=%s): %s", name, lam, np.bincount(out[name]))
    return out


@dataclass(frozen=True)
class CustomSetup:
    """What the custom policies of a job share: their specs (only those of this job: with
    ``uses_lambda`` in a λ job, without in the baselines job), a context whose requests carry
    features and prompts, the training split, and the schedule's settings."""

    specs: dict
    ctx: Context
    train: object
    dacr: dict
    seed: int
    import_root: str | None

    def choices(self, outcomes: Outcomes, lam: float | None) -> dict[str, np.ndarray]:
        if not self.specs:
            return {}
        return custom_choices(
            self.specs,
            self.ctx,
            outcomes,
            lam,
            train=self.train,
            dacr=self.dacr,
            seed=self.seed,
            import_root=self.import_root,
        )


def custom_setup(
    pred: dict,
    ctx: Context,
    custom: dict | None,
    *,
    with_lambda: bool,
    dacr: dict,
    seed: int,
    features_path: str | Path | None,
    long_path: str | Path | None,
    import_root: str | None,
) -> CustomSetup:
    """The :class:`CustomSetup` of a job (reads features and prompts only when needed)."""
    specs = {k: v for k, v in (custom or {}).items() if bool(v.get("uses_lambda")) == with_lambda}
    if not specs:
        return CustomSetup({}, ctx, None, dacr, seed, import_root)
    if features_path is None or long_path is None:
        raise ValueError("custom policies need the features and the long form (prompts)")
    full = with_requests(ctx, features_path, long_path, pred)
    train = train_data(pred, features_path, long_path)
    return CustomSetup(specs, full, train, dacr, seed, import_root)
