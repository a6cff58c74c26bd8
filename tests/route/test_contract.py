"""The honest-decision contract over every policy the workflow reports (built-in and the
example custom routers): permuting the realised outcomes of later requests, or of models not
chosen, changes no decision at or before the cut."""

from __future__ import annotations

import numpy as np
import pytest

from dacr.evaluate import budget_policies, context_and_outcomes, lambda_free_policies
from dacr.plugins import custom_choices, linucb_choices
from dacr.route import DACRPolicy, ScalarisedPolicy, replay
from dacr.route.contract import ContractViolation, check_router
from dacr.route.custom import TrainData

N, M, CUT = 240, 4, 120
EXEMPT = {"oracle", "constrained_oracle"}  # upper bounds: they read realised outcomes
EXAMPLES = {
    "embedding_threshold": {
        "class": "examples.routers.embedding_threshold:EmbeddingThresholdRouter"
    },
    "external_score": {
        "class": "examples.routers.external_score:ExternalScoreRouter",
        "uses_lambda": True,
    },
}
DACR = {"budget_cost": 0.003, "budget_viol": 0.1, "feedback_clock": "stream", "delay": 3}


def predictions(seed=0):
    """A predictions.npz as fit_predictors writes it, small and random."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.2, 0.9, (N, M))
    lat_loc = np.log(np.geomspace(1, 9, M)) + rng.normal(0, 0.3, (N, M))
    latency = np.exp(lat_loc + rng.normal(0.3, 0.4, (N, M)))
    train_q = (rng.random((300, M)) < 0.6).astype(float)
    return {
        "models": np.array([f"m{j}" for j in range(M)]),
        "qids": np.array([f"q{i}" for i in range(N)]),
        "domains": np.where(rng.random(N) < 0.5, "math", "code"),
        "ts": np.cumsum(rng.exponential(0.5, N)),
        "load": np.maximum(1.0, rng.normal(1.2, 0.3, N)),
        "tau_seconds": np.float64(10.0),
        "q_raw": q,
        "q_cal": q,
        "q_llmrec": q[:, ::-1].copy(),
        "q_knn": np.sqrt(q),
        "p_win": rng.random(N),
        "c_hat": np.geomspace(0.0005, 0.01, M) * rng.lognormal(0, 0.2, (N, M)),
        "v_hat": rng.uniform(0, 0.5, (N, M)),
        "lat_loc": lat_loc,
        "lat_scale": np.full(M, 0.5),
        "quality": (rng.random((N, M)) < q).astype(float),
        "cost": np.geomspace(0.0005, 0.01, M) * rng.lognormal(0.1, 0.2, (N, M)),
        "latency": latency,
        "strong": np.int64(M - 1),
        "weak": np.int64(0),
        "cost_order": np.arange(M),
        "train_q_cal": rng.uniform(0.2, 0.9, (300, M)),
        "train_q_llmrec": rng.uniform(0.2, 0.9, (300, M)),
        "train_c_hat": np.tile(np.geomspace(0.0005, 0.01, M), (300, 1)),
        "train_v_hat": rng.uniform(0, 0.3, (300, M)),
        "train_quality": train_q,
        "train_cost": np.tile(np.geomspace(0.0005, 0.01, M), (300, 1)),
    }


PRED = predictions()
CTX, OUT = context_and_outcomes(PRED, "predicted", 10.0)
CTX = type(CTX)(
    **{
        **vars(CTX),
        "features": np.random.default_rng(1).normal(size=(N, 5)),
        "prompts": np.array([f"please explain step {i}" * (i % 7) for i in range(N)], dtype=object),
    }
)
TRAIN = TrainData(
    np.array([f"t{i}" for i in range(300)]),
    np.random.default_rng(2).normal(size=(300, 5)),
    np.array(["x"] * 300, dtype=object),
    np.array(["math"] * 300, dtype=object),
    tuple(PRED["models"]),
    PRED["train_quality"],
    PRED["train_cost"],
    None,
)


def runners() -> dict:
    """name -> run(ctx, outcomes): each built as the workflow builds it."""
    out = {}
    params = {"cascade_threshold": 0.6, "routellm_threshold": 0.5}
    for name, policy in lambda_free_policies(PRED, OUT, params, seed=3):
        out[name] = lambda c, o, p=policy: replay(p.clone(), c, o)
    for name, policy in budget_policies(PRED, 0.003, 0.1)[0]:
        out[name] = lambda c, o, p=policy: replay(p.clone(), c, o)
    for name, quality in (("mixllm", "calibrated"), ("llmrec", "llmrec"), ("knn", "knn")):
        out[name] = lambda c, o, n=name, q=quality: replay(ScalarisedPolicy(n, q, 5.0), c, o)
    out["dacr"] = lambda c, o: (
        DACRPolicy(lambda_cost=5.0, n_domains=2, seed=3, **DACR).replay(c, o).choice
    )
    out["linucb"] = lambda c, o: linucb_choices(
        c, o, 5.0, lambda_lat=1.0, linucb={}, dacr=DACR, seed=3
    )
    for name, spec in EXAMPLES.items():
        lam = 5.0 if spec.get("uses_lambda") else None
        out[name] = lambda c, o, n=name, s=spec, lam=lam: custom_choices(
            {n: s}, c, o, lam, train=TRAIN, dacr=DACR, seed=3
        )[n]
    return out


RUNNERS = runners()
COVERED = set(RUNNERS) | EXEMPT


@pytest.mark.parametrize("name", sorted(RUNNERS))
def test_no_decision_depends_on_what_was_unknown_when_made(name):
    batch = not name.startswith(("dacr", "linucb", "embedding", "external"))
    choices = check_router(name, RUNNERS[name], CTX, OUT, cut=CUT, batch=batch)
    assert choices.shape == (N,)


def test_the_oracles_are_the_labelled_exceptions():
    oracle = dict(
        lambda_free_policies(PRED, OUT, {"cascade_threshold": 0.6, "routellm_threshold": 0.5}, 3)
    )["oracle"]
    assert oracle.upper_bound
    with pytest.raises(ContractViolation, match="'oracle'"):
        check_router("oracle", lambda c, o: replay(type(oracle)(o), c, o), CTX, OUT, cut=CUT)


def test_a_router_that_peeks_is_caught():
    def peeks_at_outcomes(ctx, outcomes):  # a closure over the outcomes: not the interface
        return np.argmax(outcomes.quality, axis=1)

    with pytest.raises(ContractViolation, match=r"decision \d+ changed.*unchosen"):
        check_router("peeker", peeks_at_outcomes, CTX, OUT, cut=CUT)

    def peeks_ahead(ctx, outcomes):  # a batch rule that reads the next request's features
        nxt = np.roll(ctx.features[:, 0], -1)
        return (nxt > 0).astype(np.int64)

    with pytest.raises(ContractViolation, match=f"decision {CUT} changed.*later requests"):
        check_router("ahead", peeks_ahead, CTX, OUT, cut=CUT, batch=True)
