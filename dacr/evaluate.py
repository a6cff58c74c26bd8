"""Evaluation: matrices per split, features, predictors, policies over lambda, metrics.

The stages are separate rule entry points so that Snakemake caches their outputs: a change of
lambda or of a DACR budget reruns only :func:`run_policies` and :func:`run_aggregate`; features
and predictors are fit once per experiment.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.calibration import DomainCalibrator, calibration_table
from dacr.features import build_features
from dacr.io import read_parquet_metadata, write_parquet, write_with
from dacr.latency import latency_matrix, read_latency_log
from dacr.metrics import bootstrap_ci
from dacr.policies import (
    DECISION_INFO,
    CascadePolicy,
    CheapestPolicy,
    Context,
    DACRPolicy,
    DACRTrace,
    FixedPolicy,
    OraclePolicy,
    Outcomes,
    RandomPolicy,
    RouteLLMPolicy,
    ScalarisedPolicy,
    replay,
)
from dacr.predictors import (
    JointRanker,
    KNNQuality,
    LogTargetRegressor,
    QualityPredictor,
    WinPredictor,
    cross_fit_predict,
)
from dacr.stream import read_stream

log = logging.getLogger(__name__)

LAMBDA_FREE = ("random", "cheapest", "always_strong", "single", "oracle", "cascade", "routellm")
LAMBDA_POLICIES = ("mixllm", "llmrec", "knn", "dacr")
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


@dataclass(frozen=True)
class SplitMatrices:
    """One split as matrices: rows are queries (test: in stream order), columns ``models``."""

    qids: np.ndarray
    domains: np.ndarray
    prompts: np.ndarray
    quality: np.ndarray
    cost: np.ndarray


def _pivot(long: pd.DataFrame, qids: np.ndarray, models: list[str], column: str) -> np.ndarray:
    wide = long.pivot(index="qid", columns="model", values=column)
    return wide.reindex(index=pd.Index(qids, dtype=object), columns=models).to_numpy(float)


def split_matrices(
    long: pd.DataFrame, qids: Sequence[str], models: list[str], name: str
) -> SplitMatrices:
    """Quality and cost matrices of ``qids``; a model missing for some query is an error."""
    qids = np.asarray(qids, dtype=object)
    if len(qids) == 0:
        raise ValueError(f"the {name} split is empty")
    sub = long.loc[long["qid"].isin(qids)]
    quality = _pivot(sub, qids, models, "quality")
    cost = _pivot(sub, qids, models, "cost")
    missing = np.isnan(quality)
    if missing.any():
        rows, cols = np.nonzero(missing)
        examples = [(qids[r], models[c]) for r, c in zip(rows[:5], cols[:5], strict=True)]
        raise ValueError(
            f"{name} split: {int(missing.sum())} (qid, model) pairs have no quality, e.g. "
            f"{examples}; every query needs every model (drop incomplete queries upstream)"
        )
    if (cost < 0).any():
        raise ValueError(f"{name} split: negative costs, min {cost.min()}")
    first = sub.drop_duplicates("qid").set_index("qid").reindex(qids)
    return SplitMatrices(
        qids=qids,
        domains=first["domain"].astype(str).to_numpy(),
        prompts=first["prompt"].astype(str).to_numpy(),
        quality=quality,
        cost=cost,
    )


def load_splits(
    long_path: str | Path,
    split_path: str | Path,
    stream_path: str | Path,
    experiment: str,
    domain_labels: str = "dataset",
) -> tuple[SplitMatrices, SplitMatrices, pd.DataFrame, list[str]]:
    """Train matrices, test matrices (stream order), the test events, and the model order.

    The test split is the stream's ``test`` events, in stream order; the train split is every
    query labelled ``train`` in ``split.parquet``. A qid in both is an error. With
    ``domain_labels="llm"`` the test queries' domain is the stream's ``llm_domain`` label
    (rule label_domain), which DACR's corrections and the per-domain tables then use.
    """
    long = pd.read_parquet(
        long_path, columns=["qid", "prompt", "domain", "model", "quality", "cost"]
    )
    long = long.astype({"qid": str, "model": str, "domain": str})
    models = sorted(long["model"].unique())
    split = pd.read_parquet(split_path)
    train_qids = split.loc[split["split"] == "train", "qid"].astype(str).to_numpy()
    events = read_stream(stream_path)
    events = events.loc[events["split"] == "test"].reset_index(drop=True)
    if events.empty:
        raise ValueError(
            f"experiment {experiment!r}: the stream {stream_path} has no test events; "
            "set stream.split to test or all"
        )
    if events["qid"].duplicated().any():
        raise ValueError(f"{stream_path}: a qid appears twice among the test events")
    leak = np.intersect1d(train_qids, events["qid"].to_numpy())
    if len(leak):
        raise ValueError(
            f"experiment {experiment!r}: {len(leak)} test qids are also in train, e.g. {leak[:3]}"
        )
    train = split_matrices(long, train_qids, models, f"experiment {experiment!r} train")
    test = split_matrices(long, events["qid"].to_numpy(), models, f"experiment {experiment!r} test")
    if domain_labels == "llm":
        if "llm_domain" not in events:
            raise ValueError(
                f"experiment {experiment!r}: domain_labels is llm but {stream_path} has no "
                "llm_domain column; give it the labelled stream (stream_labeled.jsonl)"
            )
        test = replace(test, domains=events["llm_domain"].astype(str).to_numpy())
    elif domain_labels != "dataset":
        raise ValueError(f"domain_labels={domain_labels!r} is not valid; choose dataset or llm")
    return train, test, events, models


def embeddings_for(embeddings_path: str | Path, qids: np.ndarray) -> np.ndarray:
    """Rows of the cached sentence embeddings (``run_embeddings``) for ``qids``, in order."""
    data = load_npz(embeddings_path)
    index = pd.Index(data["qids"])
    pos = index.get_indexer(qids.astype(str))
    if (pos < 0).any():
        missing = qids[pos < 0][:3]
        raise ValueError(
            f"{embeddings_path}: no embedding for qids {list(missing)}; rerun embed_prompts"
        )
    return data["embeddings"][pos]


def run_embeddings(
    long_path: str | Path,
    out_path: str | Path,
    *,
    backend: str = "torch",
    batch_size: int = 64,
    max_length: int = 256,
    model_dir: str | None = None,
    threads: int | None = None,
) -> None:
    """Rule entry point: all-MiniLM-L6-v2 embeddings of every prompt, once per dataset."""
    from dacr.embed import embed_texts

    long = pd.read_parquet(long_path, columns=["qid", "prompt"]).drop_duplicates("qid")
    qids = long["qid"].to_numpy().astype(str)
    emb = embed_texts(
        long["prompt"].astype(str).tolist(),
        backend=backend,
        batch_size=batch_size,
        max_length=max_length,
        model_dir=model_dir,
        threads=threads,
    )
    write_with(_NpzWriter({"qids": qids, "embeddings": emb.astype(np.float32)}), _npz(out_path))
    log.info("embedded %d prompts with %s (%s)", len(qids), backend, emb.shape)


def run_features(
    long_path: str | Path,
    split_path: str | Path,
    stream_path: str | Path,
    out_path: str | Path,
    *,
    experiment: str,
    features: dict,
    seed: int,
    embeddings_path: str | Path | None = None,
    n_jobs: int = 1,
) -> None:
    """Rule entry point: query features of both splits, fit on train prompts only."""
    train, test, _, _ = load_splits(long_path, split_path, stream_path, experiment)
    cfg = dict(features)
    emb_train = emb_test = None
    if embeddings_path is not None:
        emb_train = embeddings_for(embeddings_path, train.qids)
        emb_test = embeddings_for(embeddings_path, test.qids)
    X_train, X_test = build_features(
        train.prompts,
        test.prompts,
        train_domains=train.domains,
        test_domains=test.domains,
        kind=cfg.get("kind", "tfidf_svd"),
        svd_dim=cfg.get("svd_dim", 64),
        char_ngrams=cfg.get("char_ngrams", True),
        char_max_chars=cfg.get("char_max_chars", 300),
        n_jobs=n_jobs,
        domain_onehot_features=cfg.get("domain_onehot", False),
        embeddings_train=emb_train,
        embeddings_test=emb_test,
        seed=seed,
    )
    arrays = {
        "X_train": X_train,
        "X_test": X_test,
        "train_qids": train.qids.astype(str),
        "test_qids": test.qids.astype(str),
    }
    write_with(_NpzWriter(arrays), _npz(out_path))
    log.info("features: train %s, test %s", X_train.shape, X_test.shape)


def _npz(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: feature and prediction files must end in .npz")
    return path


class _NpzWriter:
    """np.savez appends '.npz' to names without it; write to an exact temporary path."""

    def __init__(self, arrays: dict) -> None:
        self.arrays = arrays

    def __call__(self, tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **self.arrays)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` written by dacr (no pickled objects)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def strong_and_weak(train: SplitMatrices) -> tuple[int, int, np.ndarray]:
    """(strong, weak, cost order): best mean train quality (ties -> cheaper), cheapest mean
    train cost (ties -> better), and all models by mean train cost."""
    mean_q = train.quality.mean(axis=0)
    mean_c = train.cost.mean(axis=0)
    strong = int(np.lexsort((mean_c, -mean_q))[0])
    weak = int(np.lexsort((-mean_q, mean_c))[0])
    return strong, weak, np.lexsort((-mean_q, mean_c))


def run_predictors(
    long_path: str | Path,
    split_path: str | Path,
    stream_path: str | Path,
    features_path: str | Path,
    latency_path: str | Path | None,
    out_path: str | Path,
    calib_path: str | Path,
    *,
    experiment: str,
    holdout: Sequence[str] | None,
    predictor: dict,
    calibration: dict,
    tau_seconds: float,
    latency_impute: str,
    knn_k: int,
    seed: int,
    domain_labels: str = "dataset",
) -> None:
    """Rule entry point: fit every predictor on train, predict the test stream.

    Calibrators are fit on out-of-fold predictions of the training split (folds grouped by
    domain for OOD experiments), never on in-sample predictions.
    """
    train, test, events, models = load_splits(
        long_path, split_path, stream_path, experiment, domain_labels
    )
    feats = load_npz(features_path)
    if not np.array_equal(feats["test_qids"], test.qids.astype(str)):
        raise ValueError(f"{features_path} was built for another stream; rerun build_features")
    X_train, X_test = feats["X_train"], feats["X_test"]

    qp = QualityPredictor(
        kind=predictor.get("kind", "logistic"), C=predictor.get("C", 1.0), random_state=seed
    )
    groups = train.domains if holdout else None
    oof = cross_fit_predict(
        qp, X_train, train.quality, groups=groups, n_splits=predictor.get("cv_folds", 5), seed=seed
    )
    calibrator = DomainCalibrator(
        method=calibration.get("method", "platt"),
        per_domain=calibration.get("per_domain", True),
        shrinkage=calibration.get("shrinkage", 50.0),
        min_domain_samples=calibration.get("min_domain_samples", 20),
    ).fit(oof, train.quality, train.domains)
    qp.fit(X_train, train.quality)
    q_raw = qp.predict(X_test)
    q_cal = calibrator.predict(q_raw, test.domains)

    cost_model = LogTargetRegressor().fit(X_train, train.cost)
    c_hat = cost_model.predict(X_test)
    if latency_path is None:
        L_test = np.full(test.quality.shape, np.nan)
        v_hat = np.zeros(test.quality.shape)
    else:
        lat_log = read_latency_log(latency_path)
        L_train = latency_matrix(
            list(train.qids), models, lat_log, impute=latency_impute, source=str(latency_path)
        )
        L_test = latency_matrix(
            list(test.qids), models, lat_log, impute=latency_impute, source=str(latency_path)
        )
        v_hat = LogTargetRegressor().fit(X_train, L_train).prob_above(X_test, tau_seconds)

    strong, weak, cost_order = strong_and_weak(train)
    wins = train.quality[:, strong] > train.quality[:, weak]
    p_win = WinPredictor().fit(X_train, wins).predict_proba(X_test)
    q_llmrec = JointRanker(random_state=seed).fit(X_train, train.quality).predict(X_test)
    q_knn = KNNQuality(k=knn_k).fit(X_train, train.quality).predict(X_test)

    dataset = read_parquet_metadata(long_path).get("dataset", "routerbench")
    arrays = {
        "models": np.asarray(models),
        "qids": test.qids.astype(str),
        "domains": test.domains.astype(str),
        "train_domains": np.unique(train.domains).astype(str),
        "ts": events["offset_s"].to_numpy(float)
        if "offset_s" in events
        else events["ts"].to_numpy(float),
        "q_raw": q_raw,
        "q_cal": q_cal,
        "q_llmrec": q_llmrec,
        "q_knn": q_knn,
        "p_win": p_win,
        "c_hat": c_hat,
        "v_hat": v_hat,
        "quality": test.quality,
        "cost": test.cost,
        "latency": L_test,
        "strong": np.int64(strong),
        "weak": np.int64(weak),
        "cost_order": cost_order,
        "dataset": np.asarray(dataset),
    }
    write_with(_NpzWriter(arrays), _npz(out_path))
    rows = calibration_table(
        {"raw": q_raw, "calibrated": q_cal}, test.quality, test.domains, models
    )
    write_with(lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False), calib_path)
    log.info(
        "predictors for %s: %d train / %d test queries, %d models; strong=%s weak=%s; "
        "test ECE (all models) raw %.4f -> calibrated %.4f",
        experiment,
        len(train.qids),
        len(test.qids),
        len(models),
        models[strong],
        models[weak],
        np.mean([r["ece"] for r in rows if r["domain"] == "all" and r["stage"] == "raw"]),
        np.mean([r["ece"] for r in rows if r["domain"] == "all" and r["stage"] == "calibrated"]),
    )


def context_and_outcomes(
    pred: dict, decision_info: str, tau_seconds: float
) -> tuple[Context, Outcomes]:
    """What the routers may see and what is revealed afterwards, from ``predictions.npz``.

    ``predicted`` decisions see predicted cost and P(latency > tau); ``oracle`` decisions see
    the realised cost and SLO violation (the original scripts' clairvoyant setting).
    """
    if decision_info not in DECISION_INFO:
        raise ValueError(
            f"decision_info={decision_info!r} is not valid; choose one of {list(DECISION_INFO)}"
        )
    latency = pred["latency"]
    has_latency = not np.isnan(latency).all()
    violation = (latency > tau_seconds).astype(float) if has_latency else np.zeros_like(latency)
    outcomes = Outcomes(pred["quality"], pred["cost"], latency, violation)
    oracle = decision_info == "oracle"
    domains = pred["domains"]
    codes = pd.Categorical(domains, categories=sorted(set(domains))).codes.astype(np.int64)
    ctx = Context(
        q_cal=pred["q_cal"],
        cost=pred["cost"] if oracle else pred["c_hat"],
        viol=violation if oracle else pred["v_hat"],
        domain=codes,
        ts=pred["ts"],
        q_extra={"llmrec": pred["q_llmrec"], "knn": pred["q_knn"], "calibrated": pred["q_cal"]},
        p_win=pred["p_win"],
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
) -> pd.DataFrame:
    """Per-query rows (:data:`PER_QUERY_COLUMNS`) of one policy's choices over the stream."""
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
            "pred_cost": ctx.cost[rows, choice],
            "pred_violation": ctx.viol[rows, choice],
        }
    )


def lambda_free_policies(pred: dict, outcomes: Outcomes, params: dict, seed: int) -> list:
    """(name, policy, quality estimate) for every policy that has no lambda."""
    models = [str(m) for m in pred["models"]]
    strong = int(pred["strong"])
    out = [
        ("random", RandomPolicy(seed=seed), "q_cal"),
        ("cheapest", CheapestPolicy(), "q_cal"),
        ("always_strong", FixedPolicy(strong, name="always_strong"), "q_cal"),
    ]
    out += [
        (f"single:{m}", FixedPolicy(j, name=f"single:{m}"), "q_cal") for j, m in enumerate(models)
    ]
    out += [
        ("oracle", OraclePolicy(outcomes), "q_cal"),
        ("cascade", CascadePolicy(pred["cost_order"], params["cascade_threshold"]), "q_cal"),
        (
            "routellm",
            RouteLLMPolicy(strong, int(pred["weak"]), params["routellm_threshold"]),
            "q_cal",
        ),
    ]
    return out


def lambda_policy_frames(
    pred: dict,
    ctx: Context,
    outcomes: Outcomes,
    lam: float,
    lambda_lat: float,
    dacr: dict,
    seed: int,
) -> tuple[list[pd.DataFrame], DACRTrace]:
    """Per-query rows of mixllm, llmrec, knn and DACR at cost weight ``lam``, and DACR's trace.

    DACR's ``pred_quality`` is its online-corrected estimate of the model it chose.
    """
    frames = []
    for name, quality in (("mixllm", "calibrated"), ("llmrec", "llmrec"), ("knn", "knn")):
        choice = replay(ScalarisedPolicy(name, quality, lam, lambda_lat), ctx, outcomes)
        q = ctx.q_extra[quality]
        frames.append(per_query_frame(name, lam, choice, pred, ctx, outcomes, q))
    policy = DACRPolicy(lambda_cost=lam, n_domains=int(ctx.domain.max()) + 1, seed=seed, **dacr)
    trace = policy.replay(ctx, outcomes)
    q_dacr = ctx.q_cal.copy()
    q_dacr[np.arange(ctx.n), trace.choice] = trace.q_tilde
    frames.append(per_query_frame("dacr", lam, trace.choice, pred, ctx, outcomes, q_dacr))
    return frames, trace


def online_end_quality(ctx: Context, trace: DACRTrace) -> np.ndarray:
    """Calibrated quality plus DACR's per-(model, domain) corrections at the end of the stream."""
    return np.clip(ctx.q_cal + trace.bias[:, ctx.domain].T, 0.0, 1.0)


def run_policies(
    predictions_path: str | Path,
    out_path: str | Path,
    *,
    lam: float | None,
    decision_info: str,
    tau_seconds: float,
    lambda_lat: float,
    cascade_threshold: float,
    routellm_threshold: float,
    dacr: dict,
    seed: int,
    trace_path: str | Path | None = None,
    calib_path: str | Path | None = None,
) -> pd.DataFrame:
    """Rule entry point: replay the policies of one job over the test stream.

    ``lam=None`` runs the lambda-free policies; a number runs mixllm, llmrec, knn and DACR
    with that cost weight (and writes DACR's trace and end-of-stream calibration).
    """
    if lam is not None and lam < 0:
        raise ValueError(f"lambda_cost={lam} must be >= 0")
    pred = load_npz(predictions_path)
    ctx, outcomes = context_and_outcomes(pred, decision_info, tau_seconds)
    frames = []
    if lam is None:
        params = {"cascade_threshold": cascade_threshold, "routellm_threshold": routellm_threshold}
        for name, policy, _ in lambda_free_policies(pred, outcomes, params, seed):
            frames.append(
                per_query_frame(
                    name, None, replay(policy, ctx, outcomes), pred, ctx, outcomes, ctx.q_cal
                )
            )
    else:
        frames, trace = lambda_policy_frames(pred, ctx, outcomes, lam, lambda_lat, dacr, seed)
        if trace_path is not None:
            write_parquet(dacr_trace_frame(lam, trace, frames[-1]), trace_path)
        if calib_path is not None:
            rows = calibration_table(
                {"online_end": online_end_quality(ctx, trace)},
                outcomes.quality,
                pred["domains"],
                list(pred["models"]),
            )
            write_with(
                lambda tmp: pd.DataFrame(rows).assign(lambda_cost=lam).to_csv(tmp, index=False),
                calib_path,
            )
    per_query = pd.concat(frames, ignore_index=True)
    write_parquet(per_query, out_path)
    return per_query


def dacr_trace_frame(lam: float, trace, per_query: pd.DataFrame) -> pd.DataFrame:
    """t, lambda, mu_c, mu_l, running mean cost and running violation rate of a DACR replay."""
    t = np.arange(1, len(trace.choice) + 1)
    viol = per_query["slo_violation"].to_numpy(float)
    return pd.DataFrame(
        {
            "t": t - 1,
            "lambda_cost": float(lam),
            "mu_c": trace.mu_c,
            "mu_l": trace.mu_l,
            "running_mean_cost": np.cumsum(per_query["cost"].to_numpy(float)) / t,
            "running_violation_rate": np.cumsum(np.nan_to_num(viol)) / t
            if not np.isnan(viol).all()
            else np.nan,
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
    per_query = pd.concat([pd.read_parquet(p) for p in per_query_paths], ignore_index=True)
    per_query = per_query.sort_values(
        ["policy", "lambda_cost", "t"], kind="stable", ignore_index=True
    )
    with np.load(predictions_path, allow_pickle=False) as pred:
        dataset = str(pred["dataset"])
    metrics = summarize(per_query, ["policy", "lambda_cost"])
    metrics = metrics.assign(
        decision_info=decision_info,
        dataset=dataset,
        upper_bound=metrics["policy"].eq("oracle"),
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
        [pd.read_csv(offline_calib_path)] + [pd.read_csv(p) for p in online_calib_paths],
        ignore_index=True,
    )
    traces = pd.concat([pd.read_parquet(p) for p in trace_paths], ignore_index=True)
    write_with(lambda tmp: metrics.to_csv(tmp, index=False), metrics_path)
    write_with(lambda tmp: by_domain.to_csv(tmp, index=False), by_domain_path)
    write_with(lambda tmp: calib.to_csv(tmp, index=False), calibration_path)
    write_parquet(
        per_query, per_query_path, metadata={"dataset": dataset, "decision_info": decision_info}
    )
    write_parquet(traces, trace_path)
    log.info("metrics (%s, %s data):\n%s", decision_info, dataset, metrics.to_string(index=False))
    return metrics
