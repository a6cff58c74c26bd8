"""Calibration of predicted quality, and calibration metrics.

A :class:`DomainCalibrator` maps raw predicted quality (n x M) to calibrated quality, per model,
with one global calibrator and per-domain calibrators shrunk toward it:
``p_d = w_d * cal_d(p) + (1 - w_d) * cal_global(p)`` with ``w_d = n_d / (n_d + shrinkage)``.
A domain unseen in fitting uses the global calibrator (DACR then adapts online). Fit it on
out-of-fold predictions only (:func:`dacr.predictors.cross_fit_predict`), never on in-sample ones.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

CALIBRATION_METHODS = ("platt", "isotonic", "temperature", "none")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, _EPS, 1 - _EPS))


def fit_platt(z: np.ndarray, y: np.ndarray, n_iter: int = 50, ridge: float = 1e-6) -> np.ndarray:
    """(a, b) of ``sigmoid(a*z + b)`` minimising the log-loss of fractional targets ``y``.

    Newton's method on two parameters (with a tiny ridge for separable data): a few
    microseconds per fit, so per-(model, domain) calibrators stay cheap.
    """
    theta = np.zeros(2)
    Z = np.column_stack([z, np.ones_like(z)])
    for _ in range(n_iter):
        p = expit(Z @ theta)
        grad = Z.T @ (p - y) + ridge * theta
        w = p * (1 - p)
        hess = (Z * w[:, None]).T @ Z + ridge * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta


class PlattCalibrator(BaseEstimator):
    """Logistic regression on the logit of the prediction, fractional targets as weights."""

    def fit(self, p: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        y = np.asarray(y, dtype=float)
        self.coef_ = fit_platt(_logit(np.asarray(p, dtype=float)), y)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "coef_")
        a, b = self.coef_
        return expit(a * _logit(np.asarray(p, dtype=float)) + b)


class IsotonicCalibrator(BaseEstimator):
    """Monotone step function fit by isotonic regression (fractional targets are native)."""

    def fit(self, p: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.model_.fit(np.asarray(p, dtype=float), np.asarray(y, dtype=float))
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict(np.asarray(p, dtype=float))


class TemperatureCalibrator(BaseEstimator):
    """One temperature T: ``sigmoid(logit(p) / T)``, T minimising the log-loss."""

    def fit(self, p: np.ndarray, y: np.ndarray) -> TemperatureCalibrator:
        z = _logit(np.asarray(p, dtype=float))
        y = np.asarray(y, dtype=float)

        def loss(log_t: float) -> float:
            q = np.clip(expit(z / np.exp(log_t)), _EPS, 1 - _EPS)
            return float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean())

        self.temperature_ = float(np.exp(minimize_scalar(loss, bounds=(-4, 4), method="bounded").x))
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "temperature_")
        return expit(_logit(np.asarray(p, dtype=float)) / self.temperature_)


class IdentityCalibrator(BaseEstimator):
    """No calibration (``method: none``)."""

    def fit(self, p: np.ndarray, y: np.ndarray) -> IdentityCalibrator:
        self.fitted_ = True
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=float)


def make_calibrator(method: str) -> BaseEstimator:
    """A fresh one-model calibrator for ``method``."""
    table = {
        "platt": PlattCalibrator,
        "isotonic": IsotonicCalibrator,
        "temperature": TemperatureCalibrator,
        "none": IdentityCalibrator,
    }
    if method not in table:
        raise ValueError(
            f"calibration.method={method!r} is not valid; choose one of {list(CALIBRATION_METHODS)}"
        )
    return table[method]()


class DomainCalibrator(BaseEstimator):
    """Per-model global + per-domain calibration with shrinkage toward global.

    Parameters
    ----------
    method
        ``platt`` (default), ``isotonic``, ``temperature`` or ``none``.
    per_domain
        Also fit a calibrator per training domain.
    shrinkage
        Pseudo-count k of ``w_d = n_d / (n_d + k)``.
    min_domain_samples
        Domains with fewer samples use the global calibrator only.
    """

    def __init__(
        self,
        method: str = "platt",
        per_domain: bool = True,
        shrinkage: float = 50.0,
        min_domain_samples: int = 20,
    ) -> None:
        self.method = method
        self.per_domain = per_domain
        self.shrinkage = shrinkage
        self.min_domain_samples = min_domain_samples

    def fit(self, P: np.ndarray, Q: np.ndarray, domains: np.ndarray) -> DomainCalibrator:
        P = np.asarray(P, dtype=float)
        Q = np.asarray(Q, dtype=float)
        domains = np.asarray(domains).astype(str)
        if P.shape != Q.shape or len(domains) != P.shape[0]:
            raise ValueError(f"shapes disagree: P {P.shape}, Q {Q.shape}, domains {len(domains)}")
        if np.isnan(P).any():
            raise ValueError("predictions to calibrate contain NaN (incomplete cross-fitting?)")
        base = make_calibrator(self.method)
        self.global_ = [clone(base).fit(P[:, j], Q[:, j]) for j in range(P.shape[1])]
        self.domain_ = {}
        self.domain_weight_ = {}
        if self.per_domain and self.method != "none":
            names, counts = np.unique(domains, return_counts=True)
            for d, n_d in zip(names, counts, strict=True):
                if n_d < self.min_domain_samples:
                    continue
                rows = domains == d
                self.domain_[d] = [
                    clone(base).fit(P[rows, j], Q[rows, j]) for j in range(P.shape[1])
                ]
                self.domain_weight_[d] = float(n_d / (n_d + self.shrinkage))
        return self

    def predict(self, P: np.ndarray, domains: np.ndarray) -> np.ndarray:
        """Calibrated quality (n x M); unseen domains get the global calibrators."""
        check_is_fitted(self, "global_")
        P = np.asarray(P, dtype=float)
        domains = np.asarray(domains).astype(str)
        out = np.column_stack([cal.predict(P[:, j]) for j, cal in enumerate(self.global_)])
        for d in np.intersect1d(np.unique(domains), list(self.domain_)):
            rows = domains == d
            w = self.domain_weight_[d]
            local = np.column_stack([c.predict(P[rows, j]) for j, c in enumerate(self.domain_[d])])
            out[rows] = w * local + (1 - w) * out[rows]
        return np.clip(out, 0.0, 1.0)
