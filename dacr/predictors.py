"""Quality, cost and latency predictors over (queries x models) matrices.

All follow scikit-learn's contract: ``__init__`` stores parameters, ``fit`` sets learned state
ending in ``_`` and returns ``self``, ``predict*`` checks that the estimator is fitted. Quality
targets are fractional in [0, 1] (RouterBench has 0.25-grid and 0.1-step scores); classifiers
learn them by weighting each row as a positive with weight q and a negative with weight 1 - q,
which is the Bernoulli log-loss of the fractional target.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.special import expit, ndtr
from sklearn import config_context
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold, KFold
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted

log = logging.getLogger(__name__)

PREDICTOR_KINDS = ("logistic", "hgb")


def _check_matrix(X: np.ndarray, Y: np.ndarray | None = None, name: str = "Q") -> None:
    if X.ndim != 2:
        raise ValueError(f"features must be a 2-D matrix, got shape {X.shape}")
    if Y is not None:
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"{name} has {Y.shape[0]} rows but the features have {X.shape[0]}")
        if not np.isfinite(Y).all():
            raise ValueError(
                f"{name} has missing or infinite values; every (query, model) needs one"
            )


def _fractional_rows(X: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (X, 1, weight q) and (X, 0, weight 1 - q), dropping zero weights."""
    y = np.concatenate([np.ones(len(q)), np.zeros(len(q))])
    w = np.concatenate([q, 1.0 - q])
    keep = w > 0
    return np.vstack([X, X])[keep], y[keep], w[keep]


def fit_logistic_batch(
    X: np.ndarray, Y: np.ndarray, C: float = 1.0, max_iter: int = 50, tol: float = 1e-8
) -> np.ndarray:
    """L2 logistic regressions of every column of fractional targets ``Y`` on one ``X``.

    Minimises, per column m, ``C * sum_i logloss(y_im, sigmoid(x_i.w_m + b_m)) + ||w_m||^2 / 2``
    (scikit-learn's ``LogisticRegression(C=C)`` objective, intercept unpenalised) by Newton's
    method, all columns together: one BLAS product per model and step instead of a quasi-Newton
    run per model. Returns coefficients of shape (d + 1, M), intercept last.
    """
    n, d = X.shape
    Xb = np.hstack([X.astype(np.float64), np.ones((n, 1))])
    ridge = np.full(d + 1, 1.0 / C)
    ridge[-1] = 0.0
    W = np.zeros((d + 1, Y.shape[1]))
    for _ in range(max_iter):
        P = expit(Xb @ W)
        G = Xb.T @ (P - Y) + ridge[:, None] * W
        S = P * (1.0 - P)
        step = np.empty_like(W)
        for m in range(W.shape[1]):
            H = (Xb * S[:, m : m + 1]).T @ Xb
            H[np.diag_indices_from(H)] += ridge + 1e-10
            step[:, m] = np.linalg.solve(H, G[:, m])
        W -= step
        if np.abs(step).max() < tol:
            break
    return W


class BatchLogistic(BaseEstimator):
    """Per-model logistic regression on fractional targets, all models in one Newton solve."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: np.ndarray, Q: np.ndarray) -> BatchLogistic:
        Q = np.asarray(Q, dtype=np.float64)
        # A model with one outcome only is predicted as that constant (its optimum is at
        # infinity, which Newton steps would chase).
        self.constant_ = np.where(Q.min(axis=0) == Q.max(axis=0), Q[0], np.nan)
        varying = np.isnan(self.constant_)
        self.coef_ = np.zeros((X.shape[1] + 1, Q.shape[1]))
        if varying.any():
            self.coef_[:, varying] = fit_logistic_batch(X, Q[:, varying], C=self.C)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "coef_")
        out = expit(X.astype(np.float64) @ self.coef_[:-1] + self.coef_[-1])
        fixed = ~np.isnan(self.constant_)
        out[:, fixed] = self.constant_[fixed]
        return out


def make_classifier(kind: str, random_state: int = 0, C: float = 1.0) -> BaseEstimator:
    """The per-model correctness classifier of a :class:`QualityPredictor` (``hgb``)."""
    if kind == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.08, max_leaf_nodes=31, random_state=random_state
        )
    raise ValueError(f"predictor.kind={kind!r} is not valid; choose one of {list(PREDICTOR_KINDS)}")


class QualityPredictor(BaseEstimator):
    """Per-model expected quality: one classifier per model on fractional targets.

    Parameters
    ----------
    kind
        ``logistic`` (default) or ``hgb`` (HistGradientBoosting).
    C
        Inverse regularisation of the logistic regression.
    random_state
        Seed of the gradient boosting.
    """

    def __init__(self, kind: str = "logistic", C: float = 1.0, random_state: int = 0) -> None:
        self.kind = kind
        self.C = C
        self.random_state = random_state

    def fit(self, X: np.ndarray, Q: np.ndarray) -> QualityPredictor:
        X = np.asarray(X, dtype=np.float32)
        Q = np.asarray(Q, dtype=np.float64)
        _check_matrix(X, Q)
        if self.kind == "logistic":
            self.models_ = BatchLogistic(C=self.C).fit(X, Q)
            self.n_models_ = Q.shape[1]
            return self
        base = make_classifier(self.kind, self.random_state, self.C)
        self.models_ = []
        for j in range(Q.shape[1]):
            q = Q[:, j]
            if q.min() == q.max():  # one outcome only: predict it (a classifier needs two)
                self.models_.append(float(q[0]))
                continue
            Xr, yr, wr = _fractional_rows(X, q)
            self.models_.append(clone(base).fit(Xr, yr, sample_weight=wr))
        self.n_models_ = Q.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted expected quality, (n_queries, n_models) in [0, 1]."""
        check_is_fitted(self, "models_")
        X = np.asarray(X, dtype=np.float32)
        _check_matrix(X)
        if isinstance(self.models_, BatchLogistic):
            return self.models_.predict(X)
        out = np.empty((X.shape[0], self.n_models_), dtype=np.float64)
        for j, model in enumerate(self.models_):
            out[:, j] = model if isinstance(model, float) else model.predict_proba(X)[:, 1]
        return out


def cv_splitter(groups: np.ndarray | None, n_splits: int, seed: int):
    """GroupKFold over domains when ``groups`` is given (OOD), else a seeded KFold (IID).

    With groups, each fold's held-out domains are unseen by its model, so out-of-fold
    predictions carry the domain shift the calibrator must correct at test time.
    """
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups >= 2:
            return GroupKFold(n_splits=min(n_splits, n_groups)), groups
        log.warning("only one training domain: cross-fitting with KFold instead of GroupKFold")
    return KFold(n_splits=n_splits, shuffle=True, random_state=seed), None


def cross_fit_predict(
    estimator: BaseEstimator,
    X: np.ndarray,
    Q: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    n_splits: int = 5,
    seed: int = 0,
    method: str = "predict",
) -> np.ndarray:
    """Out-of-fold predictions: each training row predicted by a model that never saw it.

    ``method`` names the prediction method of the fitted estimator (``predict_log`` for the
    log-scale regressors).
    """
    splitter, groups = cv_splitter(groups, n_splits, seed)
    oof = np.full(Q.shape, np.nan)
    for fit_idx, pred_idx in splitter.split(X, groups=groups):
        fitted = clone(estimator).fit(X[fit_idx], Q[fit_idx])
        oof[pred_idx] = getattr(fitted, method)(X[pred_idx])
    return oof


class JointRanker(BaseEstimator):
    """LLMRec-style joint model: (query features, model one-hot) -> quality.

    One gradient-boosted regressor over all (query, model) pairs, so models share what the
    features say about a query's difficulty. It learns from at most ``max_train_queries``
    training queries (a seeded sample; every model of each), which bounds its cost at
    RouterBench scale.
    """

    def __init__(
        self, max_iter: int = 100, max_train_queries: int = 10000, random_state: int = 0
    ) -> None:
        self.max_iter = max_iter
        self.max_train_queries = max_train_queries
        self.random_state = random_state

    @staticmethod
    def _pairs(X: np.ndarray, n_models: int) -> np.ndarray:
        n = X.shape[0]
        onehot = np.tile(np.eye(n_models, dtype=np.float32), (n, 1))
        return np.hstack([np.repeat(X.astype(np.float32), n_models, axis=0), onehot])

    def fit(self, X: np.ndarray, Q: np.ndarray) -> JointRanker:
        X = np.asarray(X, dtype=np.float32)
        Q = np.asarray(Q, dtype=np.float64)
        _check_matrix(X, Q)
        if len(X) > self.max_train_queries:
            rng = np.random.default_rng([self.random_state, 6])
            rows = np.sort(rng.choice(len(X), self.max_train_queries, replace=False))
            X, Q = X[rows], Q[rows]
        self.n_models_ = Q.shape[1]
        self.model_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=0.15,
            max_leaf_nodes=31,
            categorical_features=None,
            random_state=self.random_state,
        ).fit(self._pairs(X, self.n_models_), Q.reshape(-1))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float32)
        pred = self.model_.predict(self._pairs(X, self.n_models_))
        return np.clip(pred.reshape(X.shape[0], self.n_models_), 0.0, 1.0)


class LogTargetRegressor(BaseEstimator):
    """Multi-output ridge regression of log(target) per model (cost in USD, latency in s).

    ``predict`` returns the mean on the original scale (Duan's smearing: exp(prediction) times
    the mean of exp(residuals) per model); ``prob_above(X, threshold)`` is P(target > threshold)
    under a per-model log-normal residual. Features are clipped to their training range before
    predicting: a linear model in log space extrapolates exponentially, and prompts of an
    unseen domain (a 5-shot math prompt with dozens of question marks) fall far outside it.
    """

    def __init__(self, alpha: float = 1.0, floor: float = 1e-9) -> None:
        self.alpha = alpha
        self.floor = floor

    def fit(self, X: np.ndarray, Y: np.ndarray) -> LogTargetRegressor:
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        _check_matrix(X, Y, "target")
        if (Y < 0).any():
            rows, cols = np.nonzero(Y < 0)
            raise ValueError(
                f"negative targets ({rows.size}, e.g. row {rows[0]} column {cols[0]}: "
                f"{Y[rows[0], cols[0]]}): costs and latencies must be >= 0"
            )
        logy = np.log(np.maximum(Y, self.floor))
        self.x_min_, self.x_max_ = X.min(axis=0), X.max(axis=0)
        self.model_ = Ridge(alpha=self.alpha).fit(X, logy)
        resid = logy - self.model_.predict(X).reshape(logy.shape)
        self.smear_ = np.exp(resid).mean(axis=0)
        self.sigma_ = np.maximum(resid.std(axis=0), 1e-6)
        return self

    def predict_log(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = np.clip(np.asarray(X, dtype=np.float64), self.x_min_, self.x_max_)
        pred = self.model_.predict(X)
        return pred.reshape(len(pred), -1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.exp(self.predict_log(X)) * self.smear_

    def prob_above(self, X: np.ndarray, threshold: float) -> np.ndarray:
        z = (np.log(threshold) - self.predict_log(X)) / self.sigma_
        return 1.0 - ndtr(z)


class LatencyForecaster(BaseEstimator):
    """Per-model log-normal latency forecast from query features and the observable load.

    ``log latency_s = ridge(x) + log(load) + e``: the ridge learns the latency a model would
    have at load 1 (the training target is ``latency_s / load``), the load multiplier
    observable at arrival scales it (the queueing prior of :func:`dacr.stream.load_multiplier`),
    and the residual ``e`` of model m is ``N(offset_[m], scale_[m] ** 2)`` with mean and spread
    of **out-of-fold** residuals (folds grouped by domain for OOD experiments). In-sample
    residuals of a low-capacity ridge are far too narrow for unseen domains; out-of-fold ones
    carry the domain shift a test stream will see.

    Parameters
    ----------
    alpha
        Ridge penalty.
    n_splits
        Cross-fitting folds.
    random_state
        Seed of the (IID) fold assignment.
    """

    def __init__(self, alpha: float = 1.0, n_splits: int = 5, random_state: int = 0) -> None:
        self.alpha = alpha
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(
        self,
        X: np.ndarray,
        latency_s: np.ndarray,
        load: np.ndarray,
        groups: np.ndarray | None = None,
    ) -> LatencyForecaster:
        load = _check_load(load, len(X))
        target = np.asarray(latency_s, dtype=np.float64) / load[:, None]
        base = LogTargetRegressor(alpha=self.alpha)
        self.model_ = clone(base).fit(X, target)
        oof = cross_fit_predict(
            base,
            np.asarray(X, dtype=np.float64),
            target,
            groups=groups,
            n_splits=self.n_splits,
            seed=self.random_state,
            method="predict_log",
        )
        resid = np.log(np.maximum(target, base.floor)) - oof
        self.offset_ = resid.mean(axis=0)
        self.scale_ = np.maximum(resid.std(axis=0), 1e-3)
        self.oof_loc_ = oof + self.offset_ + np.log(load)[:, None]
        return self

    def loc(self, X: np.ndarray, load: np.ndarray) -> np.ndarray:
        """Calibrated log-latency location per (query, model) at the given loads."""
        check_is_fitted(self, "model_")
        load = _check_load(load, len(X))
        return self.model_.predict_log(X) + self.offset_ + np.log(load)[:, None]

    def loc_raw(self, X: np.ndarray, load: np.ndarray) -> np.ndarray:
        """In-sample location (no out-of-fold offset): the uncalibrated forecast."""
        check_is_fitted(self, "model_")
        return self.model_.predict_log(X) + np.log(_check_load(load, len(X)))[:, None]


def _check_load(load: np.ndarray, n: int) -> np.ndarray:
    load = np.asarray(load, dtype=np.float64)
    if load.shape != (n,):
        raise ValueError(f"load has shape {load.shape}; expected one value per query ({n})")
    if not (np.isfinite(load).all() and (load > 0).all()):
        raise ValueError(f"load multipliers must be finite and > 0; min {np.nanmin(load)}")
    return load


class WinPredictor(BaseEstimator):
    """RouteLLM-style binary router: P(strong model beats weak model) from query features."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: np.ndarray, wins: np.ndarray) -> WinPredictor:
        wins = np.asarray(wins, dtype=int)
        if wins.min() == wins.max():
            self.constant_ = float(wins[0])
        else:
            self.constant_ = None
            self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(X, wins)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "constant_")
        if self.constant_ is not None:
            return np.full(len(X), self.constant_)
        return self.model_.predict_proba(X)[:, 1]


class KNNQuality(BaseEstimator):
    """RouterBench KNN router: mean quality of the k nearest training prompts (cosine)."""

    def __init__(self, k: int = 10) -> None:
        self.k = k

    def fit(self, X: np.ndarray, Q: np.ndarray) -> KNNQuality:
        _check_matrix(np.asarray(X), Q)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X)), metric="cosine")
        self.nn_.fit(np.asarray(X, dtype=np.float32))
        self.Q_ = np.asarray(Q, dtype=np.float64)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "nn_")
        # Distances are computed in chunks; a small working memory bounds the job's peak RSS.
        with config_context(working_memory=128):
            idx = self.nn_.kneighbors(np.asarray(X, dtype=np.float32), return_distance=False)
        return self.Q_[idx].mean(axis=1)
