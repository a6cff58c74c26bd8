"""LinUCB: a contextual bandit that learns each model's quality from its own feedback only.

Per model m, a ridge regression of quality on the request's features ``x`` (plus an
intercept), ``A_m = ridge * I + sum x x'`` and ``b_m = sum y x`` over the requests routed to m
whose quality label arrived; the optimistic estimate is ``theta_m . x + alpha * sqrt(x' A_m^-1
x)`` (Li, Chu, Langford & Schapire 2010). It is the family PILOT (arXiv 2508.21141) uses for
budget-constrained LLM routing; like PILOT it may start from offline data: with ``fit(train)``
every model's statistics start from the training split (where every model's quality is
known), and online it learns from its own feedback only. The score subtracts cost and
violation with DACR's scale-free budget duals (``dual: normalized``)::

    ucb - lambda_cost * c_hat - lambda_lat * v_hat - mu_c * c_hat / B - mu_l * v_hat / delta

the duals stepped on the chosen model's predicted consumption at once and corrected to the
realised one when its outcome arrives.
"""

from __future__ import annotations

import math

import numpy as np

from dacr.route.base import Policy
from dacr.route.online import QUALITY, Feedback, Request


class LinUCBPolicy(Policy):
    """LinUCB over the shared query features, with budget duals (module docstring).

    Parameters
    ----------
    lambda_cost, lambda_lat
        Weights of the predicted cost (USD) and P(violation) in the score.
    alpha
        Width of the confidence bonus.
    ridge
        Prior precision of each model's coefficients.
    budget_cost, budget_viol
        Budgets B and delta of the duals.
    mu_lr
        Dual step per budget unit; None: ``1 / sqrt(T)``.
    warm_start
        Start from the training split's statistics when :meth:`fit` is called (else from the
        prior alone).
    """

    name = "linucb"

    def __init__(
        self,
        lambda_cost: float,
        lambda_lat: float = 1.0,
        alpha: float = 0.5,
        ridge: float = 1.0,
        budget_cost: float = 0.0055,
        budget_viol: float = 0.10,
        mu_lr: float | None = None,
        warm_start: bool = True,
    ) -> None:
        if lambda_cost < 0 or lambda_lat < 0 or alpha < 0:
            raise ValueError(
                f"linucb: lambda_cost={lambda_cost}, lambda_lat={lambda_lat} and alpha={alpha} "
                "must be >= 0"
            )
        if ridge <= 0 or budget_cost <= 0 or budget_viol <= 0:
            raise ValueError(
                f"linucb: ridge={ridge}, budget_cost={budget_cost} and budget_viol={budget_viol} "
                "must be > 0"
            )
        super().__init__(
            lambda_cost=lambda_cost,
            lambda_lat=lambda_lat,
            alpha=alpha,
            ridge=ridge,
            budget_cost=budget_cost,
            budget_viol=budget_viol,
            mu_lr=mu_lr,
            warm_start=warm_start,
        )

    def reset(self) -> None:
        self.mu_c = 0.0
        self.mu_l = 0.0
        self._a_inv: np.ndarray | None = None
        self._prior: tuple[np.ndarray, np.ndarray] | None = None

    def fit(self, train) -> LinUCBPolicy:
        """Offline start: ``A = ridge I + X'X`` and ``b_m = X' q_m`` over the training split
        (``train.features``, ``train.quality``), when ``warm_start``."""
        if self.warm_start:
            X = np.hstack([np.asarray(train.features, float), np.ones((len(train.features), 1))])
            a_inv = np.linalg.inv(self.ridge * np.eye(X.shape[1]) + X.T @ X)
            self._prior = (a_inv, (X.T @ np.asarray(train.quality, float)).T)
        return self

    def _prepare(self, request: Request) -> None:
        if request.features is None:
            raise ValueError("linucb needs the query features in each request")
        d = len(request.features) + 1
        m = len(request.q_cal)
        if self._prior is not None:
            a_inv, b = self._prior
            if a_inv.shape[0] != d or b.shape[0] != m:
                raise ValueError(
                    f"linucb: fit on {a_inv.shape[0] - 1} features and {b.shape[0]} models, but "
                    f"the requests have {d - 1} and {m}"
                )
            self._a_inv, self._b = np.tile(a_inv, (m, 1, 1)), b.copy()
        else:
            self._a_inv = np.tile(np.eye(d) / self.ridge, (m, 1, 1))
            self._b = np.zeros((m, d))
        self._theta = np.einsum("mij,mj->mi", self._a_inv, self._b)
        self._eta = float(self.mu_lr) if self.mu_lr is not None else 1 / math.sqrt(request.n)
        self._seen: dict[int, tuple[np.ndarray, float, float]] = {}

    def select_one(self, request: Request) -> int:
        if self._a_inv is None:
            self._prepare(request)
        x = np.append(np.asarray(request.features, dtype=float), 1.0)
        width = np.sqrt(np.maximum((self._a_inv @ x) @ x, 0.0))
        ucb = self._theta @ x + self.alpha * width
        cost = np.asarray(request.cost, dtype=float)
        viol = np.asarray(request.viol, dtype=float)
        score = (
            ucb
            - self.lambda_cost * cost
            - self.lambda_lat * viol
            - self.mu_c / self.budget_cost * cost
            - self.mu_l / self.budget_viol * viol
        )
        m = int(np.argmax(score))
        self.mu_c = max(0.0, self.mu_c + self._eta * (cost[m] / self.budget_cost - 1.0))
        self.mu_l = max(0.0, self.mu_l + self._eta * (viol[m] / self.budget_viol - 1.0))
        self._seen[request.t] = (x, float(cost[m]), float(viol[m]))
        return m

    def update_one(self, feedback: Feedback) -> None:
        x, c_used, v_used = self._seen[feedback.t]
        m = feedback.model
        if feedback.kind == QUALITY:
            a_inv = self._a_inv[m]
            ax = a_inv @ x  # Sherman-Morrison: (A + x x')^-1
            self._a_inv[m] = a_inv - np.outer(ax, ax) / (1.0 + x @ ax)
            self._b[m] += feedback.quality * x
            self._theta[m] = self._a_inv[m] @ self._b[m]
            return
        self.mu_c = max(0.0, self.mu_c + self._eta * (feedback.cost - c_used) / self.budget_cost)
        self.mu_l = max(
            0.0, self.mu_l + self._eta * (feedback.violation - v_used) / self.budget_viol
        )
