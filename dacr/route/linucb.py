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

from dacr.route.base import Context, Outcomes, Policy
from dacr.route.feedback import feedback_available_at, feedback_lost
from dacr.route.linucb_kernel import learn, linucb_kernel, ucb_select, width_cap, width_caps
from dacr.route.online import QUALITY, Feedback, FeedbackSchedule, Request, check_clock


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

    def _start(self, n_features: int, n_models: int, n: int) -> None:
        """Every model's ``A^-1`` and ``theta`` at request 0, from the prior or the fit."""
        d = n_features + 1
        if self._prior is not None:
            a_inv, b = self._prior
            if a_inv.shape[0] != d or b.shape[0] != n_models:
                raise ValueError(
                    f"linucb: fit on {a_inv.shape[0] - 1} features and {b.shape[0]} models, but "
                    f"the requests have {d - 1} and {n_models}"
                )
            self._a0 = np.ascontiguousarray((a_inv + a_inv.T) / 2.0)  # exactly symmetric
            self._theta = np.ascontiguousarray(b @ self._a0)
        else:
            self._a0 = np.eye(d) / self.ridge
            self._theta = np.zeros((n_models, d))
        self._a_inv = np.ascontiguousarray(np.tile(self._a0, (n_models, 1, 1)))
        self._eta = float(self.mu_lr) if self.mu_lr is not None else 1 / math.sqrt(n)
        self._u, self._base = np.empty(d), np.empty(n_models)
        self._seen: dict[int, tuple[np.ndarray, float, float]] = {}

    def select_one(self, request: Request) -> int:
        if request.features is None:
            raise ValueError("linucb needs the query features in each request")
        if self._a_inv is None:
            self._start(len(request.features), len(request.q_cal), request.n)
        x = np.append(np.asarray(request.features, dtype=float), 1.0)
        cost = np.asarray(request.cost, dtype=float)
        viol = np.asarray(request.viol, dtype=float)
        w = np.array(
            [
                self.lambda_cost,
                self.lambda_lat,
                self.mu_c / self.budget_cost,
                self.mu_l / self.budget_viol,
            ]
        )
        cap = width_cap(self._a0, x, self.alpha, self._u)
        m = int(
            ucb_select(
                cap,
                self._a_inv,
                self._theta,
                x,
                cost,
                viol,
                w,
                self.alpha,
                self._u,
                self._base,
            )
        )
        self.mu_c = max(0.0, self.mu_c + self._eta * (cost[m] / self.budget_cost - 1.0))
        self.mu_l = max(0.0, self.mu_l + self._eta * (viol[m] / self.budget_viol - 1.0))
        self._seen[request.t] = (x, float(cost[m]), float(viol[m]))
        return m

    def update_one(self, feedback: Feedback) -> None:
        x, c_used, v_used = self._seen[feedback.t]
        if feedback.kind == QUALITY:
            learn(self._a_inv, self._theta, feedback.model, x, float(feedback.quality), self._u)
            return
        self.mu_c = max(0.0, self.mu_c + self._eta * (feedback.cost - c_used) / self.budget_cost)
        self.mu_l = max(
            0.0, self.mu_l + self._eta * (feedback.violation - v_used) / self.budget_viol
        )

    def replay_online(self, ctx, outcomes, schedule: FeedbackSchedule) -> np.ndarray:
        """The choices ``run_online(self, ctx, outcomes, schedule)`` makes from a fresh start
        (identical), from the compiled loop."""
        if ctx.features is None:
            raise ValueError("linucb needs the query features in each request")
        check_clock(schedule, outcomes, f"policy {self.name!r}")
        self.mu_c = self.mu_l = 0.0
        n, n_models = ctx.cost.shape
        X = np.hstack([np.asarray(ctx.features, dtype=float), np.ones((n, 1))])
        self._start(X.shape[1] - 1, n_models, n)
        f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
        return linucb_kernel(
            X,
            f64(ctx.cost),
            f64(ctx.viol),
            f64(ctx.ts),
            f64(outcomes.cost),
            f64(outcomes.latency),
            f64(outcomes.violation),
            f64(outcomes.quality),
            np.asarray(feedback_lost(n, schedule.p_miss, schedule.seed)),
            feedback_available_at(ctx.ts, schedule.delay, schedule.delay_s).astype(np.int64),
            schedule.clock == "stream",
            schedule.outcomes_at_once,
            width_caps(self._a0, X, self.alpha),
            self._a_inv,
            self._theta,
            np.array(
                [
                    self.lambda_cost,
                    self.lambda_lat,
                    self.alpha,
                    self.budget_cost,
                    self.budget_viol,
                    self._eta,
                ]
            ),
        )


def warm_up() -> None:
    """Compile LinUCB's replay (or load it from numba's cache) through
    :meth:`LinUCBPolicy.replay_online`, so the argument types are the policy jobs' own."""
    ones = np.ones((2, 2))
    ctx = Context(
        0.5 * ones,
        0.001 * ones,
        0.1 * ones,
        np.zeros(2, dtype=np.int64),
        np.arange(2.0),
        features=np.eye(2),
    )
    outcomes = Outcomes(ones, 0.001 * ones, ones, 0.0 * ones)
    LinUCBPolicy(lambda_cost=1.0).replay_online(ctx, outcomes, FeedbackSchedule())
