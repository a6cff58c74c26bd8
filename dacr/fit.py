"""Fitting stage entry point: every predictor of an experiment.

Predictors are fit once per experiment on the training split only (the features come from
:func:`dacr.features.run_features`); calibrators are fit on out-of-fold predictions.
:func:`run_predictors` writes ``predictions.npz``, the one file every policy job reads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.calibration import DomainCalibrator
from dacr.calibration_scores import calibration_table
from dacr.io import load_npz, read_parquet_metadata, write_npz, write_table
from dacr.latency import latency_matrix, read_latency_log
from dacr.predictors import (
    JointRanker,
    KNNQuality,
    LatencyForecaster,
    LogTargetRegressor,
    QualityPredictor,
    WinPredictor,
    cross_fit_predict,
)
from dacr.route import LatencyForecast
from dacr.splits import SplitMatrices, load_splits, strong_and_weak
from dacr.stream import read_stream

log = logging.getLogger(__name__)

OOF_RANKER_QUERIES = 2000


def fit_quality(
    X_train: np.ndarray,
    X_test: np.ndarray,
    train: SplitMatrices,
    test: SplitMatrices,
    *,
    groups: np.ndarray | None,
    predictor: dict,
    calibration: dict,
    seed: int,
) -> dict[str, np.ndarray]:
    """Raw and calibrated test quality, and calibrated out-of-fold quality of train.

    The calibrator is fit on out-of-fold predictions (folds grouped by domain for OOD
    experiments), never on in-sample ones.
    """
    qp = QualityPredictor(
        kind=predictor.get("kind", "logistic"), C=predictor.get("C", 1.0), random_state=seed
    )
    oof = cross_fit_predict(
        qp, X_train, train.quality, groups=groups, n_splits=predictor.get("cv_folds", 5), seed=seed
    )
    calibrator = DomainCalibrator(
        method=calibration.get("method", "platt"),
        per_domain=calibration.get("per_domain", True),
        shrinkage=calibration.get("shrinkage", 50.0),
        min_domain_samples=calibration.get("min_domain_samples", 20),
    ).fit(oof, train.quality, train.domains)
    q_raw = qp.fit(X_train, train.quality).predict(X_test)
    return {
        "q_raw": q_raw,
        "q_cal": calibrator.predict(q_raw, test.domains),
        "train_q_cal": calibrator.predict(oof, train.domains),
    }


def fit_cost(
    X_train: np.ndarray, X_test: np.ndarray, cost: np.ndarray, *, groups, n_splits: int, seed: int
) -> dict[str, np.ndarray]:
    """Predicted test cost (USD), and out-of-fold predicted cost of train."""
    model = LogTargetRegressor()
    oof = cross_fit_predict(model, X_train, cost, groups=groups, n_splits=n_splits, seed=seed)
    return {"c_hat": model.fit(X_train, cost).predict(X_test), "train_c_hat": oof}


def fit_latency(
    X_train: np.ndarray,
    X_test: np.ndarray,
    latency_train: np.ndarray,
    *,
    load_train: np.ndarray,
    load_test: np.ndarray,
    tau_seconds: float,
    groups: np.ndarray | None,
    n_splits: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Load-aware latency forecasts and P(latency > tau): calibrated (out-of-fold residuals)
    and raw (in-sample) for the test stream, calibrated out-of-fold for train."""
    model = LatencyForecaster(n_splits=n_splits, random_state=seed).fit(
        X_train, latency_train, load_train, groups=groups
    )
    loc = model.loc(X_test, load_test)
    raw = LatencyForecast(model.loc_raw(X_test, load_test), model.model_.sigma_, tau_seconds)
    return {
        "lat_loc": loc,
        "lat_scale": model.scale_,
        "v_hat": LatencyForecast(loc, model.scale_, tau_seconds).p_violation(),
        "v_raw": raw.p_violation(),
        "train_v_hat": LatencyForecast(model.oof_loc_, model.scale_, tau_seconds).p_violation(),
    }


def fit_routers(
    X_train: np.ndarray,
    X_test: np.ndarray,
    train: SplitMatrices,
    *,
    groups: np.ndarray | None,
    n_splits: int,
    knn_k: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The baselines' own models: RouteLLM-style win probability, LLMRec-style joint ranker
    (also out of fold on train, for its budget variant) and KNN quality."""
    strong, weak, cost_order = strong_and_weak(train)
    wins = train.quality[:, strong] > train.quality[:, weak]
    # the out-of-fold ranker only picks llmrec_budget's weights: it learns from at most
    # OOF_RANKER_QUERIES queries per fold, with half the boosting rounds, over 3 folds (full
    # size: 17 s at 5 folds of 10,000; demo: 3.6 s at 5 folds of 2,000, 2.0 s now)
    oof_ranker = JointRanker(max_iter=50, max_train_queries=OOF_RANKER_QUERIES, random_state=seed)
    return {
        "p_win": WinPredictor().fit(X_train, wins).predict_proba(X_test),
        "q_llmrec": JointRanker(random_state=seed).fit(X_train, train.quality).predict(X_test),
        "train_q_llmrec": cross_fit_predict(
            oof_ranker, X_train, train.quality, groups=groups, n_splits=min(3, n_splits), seed=seed
        ),
        "q_knn": KNNQuality(k=knn_k).fit(X_train, train.quality).predict(X_test),
        "strong": np.int64(strong),
        "weak": np.int64(weak),
        "cost_order": cost_order,
    }


def stream_loads(stream_path: str | Path, qids: np.ndarray) -> np.ndarray:
    """The load multiplier each query arrived under (1 for queries that were not streamed)."""
    events = read_stream(stream_path)
    load = events.groupby("qid", sort=False)["lat_mult"].max()
    return load.reindex(pd.Index(qids.astype(str))).fillna(1.0).to_numpy(float)


def latency_matrices(
    latency_path: str | Path, train: SplitMatrices, test: SplitMatrices, models, impute: str
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test latency matrices from a latency log (missing pairs are an error)."""
    lat_log = read_latency_log(latency_path)
    return tuple(
        latency_matrix(list(s.qids), models, lat_log, impute=impute, source=str(latency_path))
        for s in (train, test)
    )


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

    Writes ``predictions.npz``: test matrices (stream order), every prediction the policies
    use, and the out-of-fold train predictions the budget baselines tune on.
    """
    train, test, events, models = load_splits(
        long_path, split_path, stream_path, experiment, domain_labels
    )
    feats = load_npz(features_path)
    if not np.array_equal(feats["test_qids"], test.qids.astype(str)):
        raise ValueError(f"{features_path} was built for another stream; rerun build_features")
    X_train, X_test = feats["X_train"], feats["X_test"]
    groups = train.domains if holdout else None
    folds = dict(groups=groups, n_splits=predictor.get("cv_folds", 5), seed=seed)
    arrays = fit_quality(
        X_train,
        X_test,
        train,
        test,
        predictor=predictor,
        calibration=calibration,
        groups=groups,
        seed=seed,
    )
    arrays |= fit_cost(X_train, X_test, train.cost, **folds)
    load_test = events["lat_mult"].to_numpy(float)
    arrays |= _latency_arrays(
        latency_path,
        stream_path,
        (X_train, X_test),
        (train, test),
        models,
        folds,
        impute=latency_impute,
        load_test=load_test,
        tau_seconds=tau_seconds,
    )
    arrays |= fit_routers(X_train, X_test, train, knn_k=knn_k, **folds)
    arrays |= {
        "models": np.asarray(models),
        "qids": test.qids.astype(str),
        "domains": test.domains.astype(str),
        "train_domains": np.unique(train.domains).astype(str),
        "ts": events["offset_s" if "offset_s" in events else "ts"].to_numpy(float),
        "load": load_test,
        "tau_seconds": np.float64(tau_seconds),
        "quality": test.quality,
        "cost": test.cost,
        "train_quality": train.quality,
        "train_cost": train.cost,
        "dataset": np.asarray(read_parquet_metadata(long_path).get("dataset", "routerbench")),
    }
    write_npz(arrays, out_path)
    table = offline_calibration(arrays, tau_seconds)
    write_table(table, calib_path, dataset=str(arrays["dataset"]))
    ece = table.loc[table["domain"] == "all"].groupby(["target", "stage"])["ece"].mean()
    strong, weak = models[int(arrays["strong"])], models[int(arrays["weak"])]
    log.info(
        "predictors for %s: %d train / %d test queries, %d models; strong=%s weak=%s; "
        "test ECE (mean over models):\n%s",
        experiment,
        len(train.qids),
        len(test.qids),
        len(models),
        strong,
        weak,
        ece,
    )


def _latency_arrays(
    latency_path, stream_path, X, splits, models, folds, *, impute, load_test, tau_seconds
) -> dict[str, np.ndarray]:
    """Realised latencies (train and test) and the latency forecast's out-of-fold and test
    predictions; without latency (``latency_path`` None), NaN latencies and zero P(violation)."""
    train, test = splits
    if latency_path is None:
        return {
            "latency": np.full(test.quality.shape, np.nan),
            "v_hat": np.zeros(test.quality.shape),
            "v_raw": np.zeros(test.quality.shape),
            "train_v_hat": np.zeros(train.quality.shape),
            "train_latency": np.full(train.quality.shape, np.nan),
        }
    L_train, L_test = latency_matrices(latency_path, train, test, models, impute)
    arrays = {"latency": L_test, "train_latency": L_train}
    return arrays | fit_latency(
        *X,
        L_train,
        load_train=stream_loads(stream_path, train.qids),
        load_test=load_test,
        tau_seconds=tau_seconds,
        **folds,
    )


def offline_calibration(pred: dict[str, np.ndarray], tau_seconds: float) -> pd.DataFrame:
    """Test ECE, Brier and n of the raw and calibrated predictions, per model and domain:
    quality, and P(latency > tau) against the realised violations (when latency is on)."""
    models = [str(m) for m in pred["models"]]
    rows = calibration_table(
        {"raw": pred["q_raw"], "calibrated": pred["q_cal"]},
        pred["quality"],
        pred["domains"],
        models,
        target="quality",
    )
    if not np.isnan(pred["latency"]).all():
        rows += calibration_table(
            {"raw": pred["v_raw"], "calibrated": pred["v_hat"]},
            (pred["latency"] > tau_seconds).astype(float),
            pred["domains"],
            models,
            target="violation",
        )
    return pd.DataFrame(rows)
