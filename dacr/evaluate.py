"""Evaluation: policies replayed over the test stream, and the experiment's tables.

The stages are separate rule entry points so that Snakemake caches their outputs: a change of
lambda or of a DACR budget reruns only :func:`run_policies` and :func:`run_aggregate`; features
and predictors are fit once per experiment (:mod:`dacr.fit`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.calibration_scores import calibration_table
from dacr.io import (
    load_npz,
    read_csv,
    read_parquet,
    write_json,
    write_parquet,
    write_table,
    write_with,
)
from dacr.metrics import bootstrap_ci
from dacr.plugins import (
    CustomSetup,
    custom_setup,
    linucb_choices,
    linucb_train,
    with_requests,
)
from dacr.route import (
    DECISION_INFO,
    CascadePolicy,
    CheapestPolicy,
    Context,
    DACRPolicy,
    DACRTrace,
    FixedPolicy,
    LatencyForecast,
    OraclePolicy,
    Outcomes,
    RandomPolicy,
    RouteLLMPolicy,
    ScalarisedPolicy,
    replay,
)
from dacr.route.budget import choose_budget_lambdas
from dacr.route.custom import TrainData
from dacr.route.oracle import ConstrainedOraclePolicy

log = logging.getLogger(__name__)

LAMBDA_FREE = (
    "random",
    "cheapest",
    "always_strong",
    "single",
    "oracle",
    "constrained_oracle",
    "cascade",
    "routellm",
    "mixllm_budget",
    "llmrec_budget",
)
UPPER_BOUNDS = ("oracle", "constrained_oracle")
LAMBDA_POLICIES = ("mixllm", "llmrec", "knn", "dacr", "linucb")
PER_QUERY_COLUMNS = (
    "policy",
    "lambda_cost",
    "t",
    "qid",
    "domain",
    "chosen_model",
    "quality",
    "cost",
    "latency_s",
    "slo_violation",
    "pred_quality",
    "pred_cost",
    "pred_violation",
)


def context_and_outcomes(
    pred: dict, decision_info: str, tau_seconds: float
) -> tuple[Context, Outcomes]:
    """What the routers may see and what is revealed afterwards, from ``predictions.npz``.

    ``predicted`` decisions see predicted cost and the load-aware forecast of P(latency > tau);
    ``oracle`` decisions see the realised cost and SLO violation (the original scripts'
    clairvoyant setting). Both see the load observable at each arrival.
    """
    if decision_info not in DECISION_INFO:
        raise ValueError(
            f"decision_info={decision_info!r} is not valid; choose one of {list(DECISION_INFO)}"
        )
    fitted_tau = float(pred["tau_seconds"])
    if fitted_tau != float(tau_seconds):
        raise ValueError(
            f"the predictions were fit for tau_seconds={fitted_tau:g}, not {tau_seconds:g}; "
            "rerun fit_predictors"
        )
    latency = pred["latency"]
    has_latency = not np.isnan(latency).all()
    violation = (latency > tau_seconds).astype(float) if has_latency else np.zeros_like(latency)
    outcomes = Outcomes(pred["quality"], pred["cost"], latency, violation)
    oracle = decision_info == "oracle"
    domains = pred["domains"]
    codes = pd.Categorical(domains, categories=sorted(set(domains))).codes.astype(np.int64)
    forecast = None
    if has_latency and not oracle:
        forecast = LatencyForecast(pred["lat_loc"], pred["lat_scale"], fitted_tau)
    ctx = Context(
        q_cal=pred["q_cal"],
        cost=pred["cost"] if oracle else pred["c_hat"],
        viol=violation if oracle else pred["v_hat"],
        domain=codes,
        ts=pred["ts"],
        q_extra={"llmrec": pred["q_llmrec"], "knn": pred["q_knn"], "calibrated": pred["q_cal"]},
        p_win=pred["p_win"],
        load=pred["load"],
        latency=forecast,
        domain_names=np.asarray(domains, dtype=object),
        models=tuple(str(m) for m in pred["models"]),
    )
    return ctx, outcomes


def per_query_frame(
    name: str,
    lam: float | None,
    choice: np.ndarray,
    pred: dict,
    ctx: Context,
    outcomes: Outcomes,
    q_pred: np.ndarray,
    *,
    pred_cost: np.ndarray | None = None,
    pred_violation: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-query rows (:data:`PER_QUERY_COLUMNS`) of one policy's choices over the stream.

    ``pred_*`` are what the policy predicted for its choice: ``q_pred`` (a matrix) and the
    context's cost and violation terms, unless a policy's own (``pred_cost``,
    ``pred_violation``, one value per request) are given.
    """
    rows = np.arange(len(choice))
    latency = outcomes.latency[rows, choice]
    return pd.DataFrame(
        {
            "policy": name,
            "lambda_cost": np.nan if lam is None else float(lam),
            "t": rows,
            "qid": pred["qids"],
            "domain": pred["domains"],
            "chosen_model": pred["models"][choice],
            "quality": outcomes.quality[rows, choice],
            "cost": outcomes.cost[rows, choice],
            "latency_s": latency,
            "slo_violation": np.where(np.isnan(latency), np.nan, outcomes.violation[rows, choice]),
            "pred_quality": q_pred[rows, choice],
            "pred_cost": ctx.cost[rows, choice] if pred_cost is None else pred_cost,
            "pred_violation": ctx.viol[rows, choice] if pred_violation is None else pred_violation,
        }
    )


def lambda_free_policies(pred: dict, outcomes: Outcomes, params: dict, seed: int) -> list:
    """(name, policy) for every policy without a cost weight (budget ones aside)."""
    models = [str(m) for m in pred["models"]]
    strong = int(pred["strong"])
    out = [
        ("random", RandomPolicy(seed=seed)),
        ("cheapest", CheapestPolicy()),
        ("always_strong", FixedPolicy(strong, name="always_strong")),
    ]
    out += [(f"single:{m}", FixedPolicy(j, name=f"single:{m}")) for j, m in enumerate(models)]
    out += [
        ("oracle", OraclePolicy(outcomes)),
        ("cascade", CascadePolicy(pred["cost_order"], params["cascade_threshold"])),
        ("routellm", RouteLLMPolicy(strong, int(pred["weak"]), params["routellm_threshold"])),
    ]
    return out


def budget_policies(
    pred: dict, budget_cost: float, budget_viol: float
) -> tuple[list[tuple[str, ScalarisedPolicy]], dict]:
    """mixllm_budget and llmrec_budget: weights chosen on the train split's out-of-fold
    predictions to meet both budgets (:func:`dacr.route.budget.choose_budget_lambdas`)."""
    out, info = [], {}
    for name, quality, train_q in (
        ("mixllm_budget", "calibrated", pred["train_q_cal"]),
        ("llmrec_budget", "llmrec", pred["train_q_llmrec"]),
    ):
        chosen = choose_budget_lambdas(
            train_q, pred["train_c_hat"], pred["train_v_hat"], budget_cost, budget_viol
        )
        if not chosen.feasible_on_train:
            log.warning(
                "%s: no cost weight meets B=%g and delta=%g even on the training predictions; "
                "using the closest (%s)",
                name,
                budget_cost,
                budget_viol,
                chosen.summary(),
            )
        out.append((name, ScalarisedPolicy(name, quality, chosen.lambda_cost, chosen.lambda_lat)))
        info[name] = chosen.summary()
    return out, info


def run_baselines(
    predictions_path: str | Path,
    out_path: str | Path,
    info_path: str | Path,
    *,
    decision_info: str,
    tau_seconds: float,
    cascade_threshold: float,
    routellm_threshold: float,
    budget_cost: float,
    budget_viol: float,
    seed: int,
    dacr: dict | None = None,
    custom: dict | None = None,
    features_path: str | Path | None = None,
    long_path: str | Path | None = None,
    import_root: str | None = None,
) -> pd.DataFrame:
    """Rule entry point: every policy without a cost weight, over the test stream.

    Also the budget policies (the constrained oracle, mixllm_budget, llmrec_budget), whose
    LP solution and chosen weights go to ``info_path`` (JSON), and the custom policies
    without ``uses_lambda``. An infeasible constrained oracle has no per-query rows and says
    so there.
    """
    pred = load_npz(predictions_path)
    ctx, outcomes = context_and_outcomes(pred, decision_info, tau_seconds)
    params = {"cascade_threshold": cascade_threshold, "routellm_threshold": routellm_threshold}
    policies = lambda_free_policies(pred, outcomes, params, seed)
    budgeted, info = budget_policies(pred, budget_cost, budget_viol)
    oracle = ConstrainedOraclePolicy(outcomes, budget_cost, budget_viol).solve()
    info["constrained_oracle"] = oracle.summary()
    frames = [
        per_query_frame(name, None, replay(policy, ctx, outcomes), pred, ctx, outcomes, ctx.q_cal)
        for name, policy in policies + budgeted
    ]
    setup = custom_setup(
        pred,
        ctx,
        custom,
        with_lambda=False,
        dacr=dacr or {},
        seed=seed,
        features_path=features_path,
        long_path=long_path,
        import_root=import_root,
    )
    frames += [
        per_query_frame(name, None, choice, pred, ctx, outcomes, ctx.q_cal)
        for name, choice in setup.choices(outcomes, None).items()
    ]
    if oracle.feasible:
        frames.append(
            per_query_frame(
                "constrained_oracle", None, oracle.choice, pred, ctx, outcomes, ctx.q_cal
            )
        )
    else:
        log.warning(
            "constrained oracle infeasible: no routing of this stream meets B=%g and delta=%g",
            budget_cost,
            budget_viol,
        )
    per_query = pd.concat(frames, ignore_index=True)
    write_table(per_query, out_path, dataset=str(pred["dataset"]))
    write_json({**info, "dataset": str(pred["dataset"])}, info_path)
    return per_query


def dacr_frames(
    pred: dict, ctx: Context, outcomes: Outcomes, lam: float, dacr: dict, seed: int
) -> tuple[pd.DataFrame, DACRTrace]:
    """Per-query rows of DACR at cost weight ``lam``, and its trace; its ``pred_*`` columns
    are its own online-corrected estimates of the model it chose."""
    policy = DACRPolicy(lambda_cost=lam, n_domains=int(ctx.domain.max()) + 1, seed=seed, **dacr)
    trace = policy.replay(ctx, outcomes)
    q_dacr = ctx.q_cal.copy()
    q_dacr[np.arange(ctx.n), trace.choice] = trace.q_tilde
    frame = per_query_frame(
        "dacr",
        lam,
        trace.choice,
        pred,
        ctx,
        outcomes,
        q_dacr,
        pred_cost=trace.pred_cost,
        pred_violation=trace.pred_viol,
    )
    return frame, trace


def lambda_policy_frames(
    pred: dict,
    ctx: Context,
    outcomes: Outcomes,
    lam: float,
    lambda_lat: float,
    dacr: dict,
    seed: int,
    *,
    linucb: dict | None = None,
    linucb_start=None,
    custom_choices_at: dict[str, np.ndarray] | None = None,
) -> tuple[list[pd.DataFrame], DACRTrace]:
    """Per-query rows of mixllm, llmrec, knn, DACR (and LinUCB when the context has features,
    and the custom routers' given choices) at cost weight ``lam``, and DACR's trace."""
    frames = []
    for name, quality in (("mixllm", "calibrated"), ("llmrec", "llmrec"), ("knn", "knn")):
        choice = replay(ScalarisedPolicy(name, quality, lam, lambda_lat), ctx, outcomes)
        q = ctx.q_extra[quality]
        frames.append(per_query_frame(name, lam, choice, pred, ctx, outcomes, q))
    frame, trace = dacr_frames(pred, ctx, outcomes, lam, dacr, seed)
    frames.append(frame)
    if linucb is not None:
        if ctx.features is None:
            raise ValueError("linucb needs the query features (features.npz) in the context")
        choice = linucb_choices(
            ctx,
            outcomes,
            lam,
            lambda_lat=lambda_lat,
            linucb=linucb,
            dacr=dacr,
            seed=seed,
            train=linucb_start,
        )
        frames.append(per_query_frame("linucb", lam, choice, pred, ctx, outcomes, ctx.q_cal))
    for name, choice in (custom_choices_at or {}).items():
        frames.append(per_query_frame(name, lam, choice, pred, ctx, outcomes, ctx.q_cal))
    return frames, trace


@dataclass(frozen=True)
class LambdaSetup:
    """What every λ of a job shares: the predictions, the stream as the routers see it, its
    outcomes, the custom λ routers and LinUCB's offline start (None without one)."""

    pred: dict
    ctx: Context
    outcomes: Outcomes
    custom: CustomSetup
    linucb_start: TrainData | None


def lambda_setup(
    predictions_path: str | Path,
    *,
    decision_info: str,
    tau_seconds: float,
    features_path: str | Path | None,
    long_path: str | Path | None,
    custom: dict | None,
    linucb: dict | None,
    dacr: dict,
    seed: int,
    import_root: str | None,
) -> LambdaSetup:
    """The :class:`LambdaSetup` of a λ job or a dense λ sweep, from ``predictions.npz``."""
    pred = load_npz(predictions_path)
    ctx, outcomes = context_and_outcomes(pred, decision_info, tau_seconds)
    ctx = with_requests(ctx, features_path, None, pred)
    setup = custom_setup(
        pred,
        ctx,
        custom,
        with_lambda=True,
        dacr=dacr,
        seed=seed,
        features_path=features_path,
        long_path=long_path,
        import_root=import_root,
    )
    start = linucb_train(pred, features_path) if linucb and features_path else None
    return LambdaSetup(pred, ctx, outcomes, setup, start)


def online_end_quality(ctx: Context, trace: DACRTrace) -> np.ndarray:
    """Calibrated quality plus DACR's per-(model, domain) corrections at the end of the stream."""
    return np.clip(ctx.q_cal + trace.bias[:, ctx.domain].T, 0.0, 1.0)


def online_end_violation(ctx: Context, trace: DACRTrace) -> np.ndarray | None:
    """P(latency > tau) with DACR's latency corrections at the end of the stream (None when
    decisions do not use a latency forecast)."""
    if ctx.latency is None:
        return None
    return ctx.latency.p_violation(trace.lat_shift[:, ctx.domain].T)


def online_calibration(pred: dict, ctx: Context, outcomes: Outcomes, trace: DACRTrace):
    """ECE rows of DACR's end-of-stream estimates: quality, and violation when forecast."""
    models, domains = list(pred["models"]), pred["domains"]
    stage = {"online_end": online_end_quality(ctx, trace)}
    rows = calibration_table(stage, outcomes.quality, domains, models, target="quality")
    v_end = online_end_violation(ctx, trace)
    if v_end is not None:
        rows += calibration_table(
            {"online_end": v_end}, outcomes.violation, domains, models, target="violation"
        )
    return pd.DataFrame(rows)


def run_lambda(
    predictions_path: str | Path,
    out_path: str | Path,
    trace_path: str | Path,
    calib_path: str | Path,
    *,
    lam: float,
    decision_info: str,
    tau_seconds: float,
    lambda_lat: float,
    dacr: dict,
    seed: int,
    linucb: dict | None = None,
    custom: dict | None = None,
    features_path: str | Path | None = None,
    long_path: str | Path | None = None,
    import_root: str | None = None,
) -> pd.DataFrame:
    """Rule entry point: mixllm, llmrec, knn, DACR, LinUCB and the custom policies with
    ``uses_lambda`` at cost weight ``lam`` over the test stream, DACR's trace and its
    end-of-stream calibration."""
    if lam < 0:
        raise ValueError(f"lambda_cost={lam} must be >= 0")
    job = lambda_setup(
        predictions_path,
        decision_info=decision_info,
        tau_seconds=tau_seconds,
        features_path=features_path,
        long_path=long_path,
        custom=custom,
        linucb=linucb,
        dacr=dacr,
        seed=seed,
        import_root=import_root,
    )
    pred, ctx, outcomes = job.pred, job.ctx, job.outcomes
    frames, trace = lambda_policy_frames(
        pred,
        ctx,
        outcomes,
        lam,
        lambda_lat,
        dacr,
        seed,
        linucb=linucb,
        linucb_start=job.linucb_start,
        custom_choices_at=job.custom.choices(outcomes, lam),
    )
    budgets = (dacr.get("budget_cost", 0.0055), dacr.get("budget_viol", 0.10))
    dacr_rows = next(f for f in frames if f["policy"].iloc[0] == "dacr")
    dataset = str(pred["dataset"])
    trace_rows = dacr_trace_frame(lam, trace, dacr_rows, ctx, *budgets)
    write_table(trace_rows, trace_path, dataset=dataset)
    calib = online_calibration(pred, ctx, outcomes, trace).assign(lambda_cost=lam)
    write_table(calib, calib_path, dataset=dataset)
    per_query = pd.concat(frames, ignore_index=True)
    write_table(per_query, out_path, dataset=dataset)
    return per_query


def dacr_trace_frame(
    lam: float,
    trace: DACRTrace,
    per_query: pd.DataFrame,
    ctx: Context,
    budget_cost: float,
    budget_viol: float,
) -> pd.DataFrame:
    """Per decision of a DACR replay: stream time, observable load, dual prices, running mean
    cost (and its ratio to B) and running violation rate, with the budgets."""
    t = np.arange(1, len(trace.choice) + 1)
    viol = per_query["slo_violation"].to_numpy(float)
    running_cost = np.cumsum(per_query["cost"].to_numpy(float)) / t
    return pd.DataFrame(
        {
            "t": t - 1,
            "lambda_cost": float(lam),
            "offset_s": np.asarray(ctx.ts, dtype=float),
            "load": np.ones(ctx.n) if ctx.load is None else np.asarray(ctx.load, dtype=float),
            "mu_c": trace.mu_c,
            "mu_l": trace.mu_l,
            "running_mean_cost": running_cost,
            "running_cost_ratio": running_cost / budget_cost,
            "running_violation_rate": np.cumsum(np.nan_to_num(viol)) / t
            if not np.isnan(viol).all()
            else np.nan,
            "budget_cost": float(budget_cost),
            "budget_viol": float(budget_viol),
        }
    )


def summarize(per_query: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Metrics per group: n, mean quality and cost, total cost, latency quantiles, SLO rate."""
    g = per_query.groupby(by, dropna=False, sort=True, observed=True)
    lat = g["latency_s"]
    out = pd.DataFrame(
        {
            "n": g.size(),
            "mean_quality": g["quality"].mean(),
            "mean_cost": g["cost"].mean(),
            "total_cost": g["cost"].sum(),
            "mean_latency_s": lat.mean(),
            "p50_latency_s": lat.quantile(0.50),
            "p95_latency_s": lat.quantile(0.95),
            "p99_latency_s": lat.quantile(0.99),
            "slo_violation_rate": g["slo_violation"].mean(),
        }
    )
    return out.reset_index()


def _policy_order(policies: pd.Series) -> pd.Series:
    order = {name: i for i, name in enumerate(LAMBDA_FREE + LAMBDA_POLICIES)}
    return policies.map(lambda p: order.get(p.split(":")[0], len(order)))


def metrics_with_ci(
    per_query: pd.DataFrame, metrics: pd.DataFrame, n_resamples: int, seed: int
) -> pd.DataFrame:
    """``metrics`` plus ``*_ci_low``/``*_ci_high`` columns: 95 % intervals of a query-level
    bootstrap stratified by domain (mean quality, mean cost, p95 latency, SLO violation rate)."""
    if n_resamples == 0:
        return metrics
    ci = bootstrap_ci(per_query, rng=np.random.default_rng([seed, 9]), n_resamples=n_resamples)
    keys = ["policy", "lambda_cost"]
    bounds = [c for c in ci.columns if c.endswith(("_ci_low", "_ci_high"))]
    return metrics.merge(ci[keys + bounds], on=keys, how="left", validate="one_to_one")


def run_aggregate(
    per_query_paths: Sequence[str | Path],
    trace_paths: Sequence[str | Path],
    online_calib_paths: Sequence[str | Path],
    offline_calib_path: str | Path,
    predictions_path: str | Path,
    *,
    metrics_path: str | Path,
    by_domain_path: str | Path,
    calibration_path: str | Path,
    per_query_path: str | Path,
    trace_path: str | Path,
    decision_info: str,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Rule entry point: every job's per-query rows -> the experiment's tables."""
    per_query = pd.concat([read_parquet(p) for p in per_query_paths], ignore_index=True)
    per_query = per_query.sort_values(
        ["policy", "lambda_cost", "t"], kind="stable", ignore_index=True
    )
    dataset = str(load_npz(predictions_path)["dataset"])
    metrics = summarize(per_query, ["policy", "lambda_cost"])
    metrics = metrics.assign(
        decision_info=decision_info,
        dataset=dataset,
        upper_bound=metrics["policy"].isin(UPPER_BOUNDS),
    )
    metrics = (
        metrics.assign(_o=_policy_order(metrics["policy"]))
        .sort_values(["_o", "policy", "lambda_cost"], kind="stable")
        .drop(columns="_o")
    )
    metrics = metrics_with_ci(per_query, metrics, n_resamples, seed)
    by_domain = summarize(per_query, ["policy", "lambda_cost", "domain"]).assign(
        decision_info=decision_info, dataset=dataset
    )
    calib = pd.concat(
        [read_csv(offline_calib_path)] + [read_csv(p) for p in online_calib_paths],
        ignore_index=True,
    )
    traces = pd.concat([read_parquet(p) for p in trace_paths], ignore_index=True)
    write_with(lambda tmp: metrics.to_csv(tmp, index=False), metrics_path)
    write_with(lambda tmp: by_domain.to_csv(tmp, index=False), by_domain_path)
    write_table(calib, calibration_path, dataset=dataset)
    write_parquet(
        per_query, per_query_path, metadata={"dataset": dataset, "decision_info": decision_info}
    )
    write_table(traces, trace_path, dataset=dataset)
    log.info("metrics (%s, %s data):\n%s", decision_info, dataset, metrics.to_string(index=False))
    return metrics
