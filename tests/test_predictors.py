from __future__ import annotations

import numpy as np
import pytest

from dacr.calibration_scores import ece
from dacr.features import build_features, domain_onehot, prompt_statistics
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


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    p0 = 1 / (1 + np.exp(-2 * X[:, 0]))
    p1 = 1 / (1 + np.exp(2 * X[:, 0]))
    Q = np.column_stack([rng.uniform(size=n) < p0, rng.uniform(size=n) < p1]).astype(float)
    return X, Q


@pytest.mark.parametrize("kind", ["logistic", "hgb"])
def test_quality_predictor_learns_the_signal(kind):
    X, Q = _data()
    pred = QualityPredictor(kind=kind).fit(X[:400], Q[:400]).predict(X[400:])
    assert pred.shape == (200, 2)
    assert np.corrcoef(pred[:, 0], X[400:, 0])[0, 1] > 0.7
    assert np.corrcoef(pred[:, 1], X[400:, 0])[0, 1] < -0.7


def test_fractional_targets_are_learned_as_expectations():
    X = np.zeros((200, 1), dtype=np.float32)
    Q = np.full((200, 1), 0.25)
    Q[::2] = 0.75  # mean 0.5 but no row is 0 or 1
    pred = QualityPredictor().fit(X, Q).predict(X[:1])
    assert pred[0, 0] == pytest.approx(0.5, abs=0.01)


def test_constant_model_is_predicted_as_its_constant():
    X, Q = _data(100)
    Q[:, 1] = 1.0
    assert (QualityPredictor().fit(X, Q).predict(X)[:, 1] == 1.0).all()


def test_out_of_fold_predictions_never_come_from_a_model_that_saw_the_row():
    # Memorising target: each row's label is unique noise; in-sample 1-NN would be perfect.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 10))
    Q = rng.uniform(size=(300, 1))
    oof = cross_fit_predict(KNNQuality(k=1), X, Q, n_splits=5, seed=0)
    in_sample = KNNQuality(k=1).fit(X, Q).predict(X)
    assert np.allclose(in_sample, Q)
    assert not np.isclose(oof, Q).any()


def test_grouped_folds_hold_out_whole_domains():
    X = np.arange(12, dtype=float).reshape(-1, 1)
    Q = np.zeros((12, 1))
    groups = np.repeat(["a", "b", "c"], 4)
    Q[groups == "a"] = 1.0
    # Memorising 1-NN: a row of domain a predicted by a model without domain a gets 0.
    oof = cross_fit_predict(KNNQuality(k=1), X, Q, groups=groups, n_splits=5, seed=0)
    assert (oof[groups == "a"] == 0).all()


def test_log_target_regressor_mean_and_tail_probability():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5000, 1))
    Y = np.exp(1.0 + 0.5 * X + rng.normal(0, 0.3, size=(5000, 1)))
    model = LogTargetRegressor(alpha=1e-6).fit(X, Y)
    x0 = np.zeros((1, 1))
    assert model.predict(x0)[0, 0] == pytest.approx(np.exp(1.0 + 0.045), rel=0.03)
    assert model.prob_above(x0, np.exp(1.0))[0, 0] == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match="negative targets"):
        LogTargetRegressor().fit(X, -Y)


def _latency_data(n=3000, seed=5, n_domains=4):
    """Domains with their own latency level (drawn N(0, 0.5)), one-hot in the features (a
    model that has seen a domain learns its level, one that has not cannot), and a load
    multiplier per query: latency = exp(0.5 x + level + noise) * load."""
    rng = np.random.default_rng(seed)
    levels = rng.normal(0, 0.5, n_domains)
    domains = rng.integers(0, n_domains, n)
    X = np.column_stack([rng.normal(size=n), np.eye(n_domains)[domains]])
    load = np.where(rng.random(n) < 0.3, rng.uniform(1, 3, n), 1.0)
    noise = rng.normal(0, 0.2, n)
    latency = (np.exp(0.5 * X[:, 0] + levels[domains] + noise) * load)[:, None]
    return X, latency, load, domains


def test_latency_forecaster_learns_the_load_offset_and_out_of_fold_spread():
    X, latency, load, domains = _latency_data()
    model = LatencyForecaster(alpha=1e-3).fit(X, latency, load, groups=domains)
    # in sample the ridge knows every domain's level: only the noise (0.2) is left; out of
    # fold, each domain is new to its model, so the levels' spread adds to the residuals
    assert model.model_.sigma_[0] == pytest.approx(0.2, rel=0.1)
    assert model.scale_[0] > 2 * model.model_.sigma_[0]
    x0 = np.zeros((2, X.shape[1]))
    loc = model.loc(x0, np.array([1.0, 3.0]))
    assert loc[1, 0] - loc[0, 0] == pytest.approx(np.log(3.0))  # load enters as log(load)


def test_violation_probabilities_are_calibrated_out_of_fold_across_unseen_domains():
    X, latency, load, domains = _latency_data(20000, n_domains=30)
    train, test = domains < 20, domains >= 20  # ten domains no model has seen
    model = LatencyForecaster(alpha=1e-3).fit(
        X[train], latency[train], load[train], groups=domains[train]
    )
    tau = float(np.quantile(latency, 0.7))
    violated = (latency[test, 0] > tau).astype(float)
    calibrated = LatencyForecast(model.loc(X[test], load[test]), model.scale_, tau)
    raw = LatencyForecast(model.loc_raw(X[test], load[test]), model.model_.sigma_, tau)
    cal_ece = ece(calibrated.p_violation()[:, 0], violated)
    raw_ece = ece(raw.p_violation()[:, 0], violated)
    assert cal_ece < 0.05
    assert cal_ece < 0.7 * raw_ece


def test_latency_forecaster_refuses_bad_loads():
    X, latency, load, _ = _latency_data(100)
    with pytest.raises(ValueError, match="load multipliers must be finite and > 0"):
        LatencyForecaster().fit(X, latency, np.zeros(100))
    with pytest.raises(ValueError, match="one value per query"):
        LatencyForecaster().fit(X, latency, load[:10])


def test_joint_ranker_knn_and_win_predictor_shapes():
    X, Q = _data()
    assert JointRanker(max_iter=30).fit(X, Q).predict(X[:5]).shape == (5, 2)
    knn = KNNQuality(k=3).fit(X, Q).predict(X[:5])
    assert ((knn >= 0) & (knn <= 1)).all()
    wins = Q[:, 1] > Q[:, 0]
    assert WinPredictor().fit(X, wins).predict_proba(X[:5]).shape == (5,)
    assert (WinPredictor().fit(X, np.zeros(len(X))).predict_proba(X[:3]) == 0).all()


def test_missing_quality_is_refused():
    X, Q = _data(50)
    Q[3, 1] = np.nan
    with pytest.raises(ValueError, match="missing or infinite"):
        QualityPredictor().fit(X, Q)


def test_features_fit_on_train_only_and_unseen_domains_are_zero():
    train = ["solve the integral of x", "write a python function", "what is the capital"] * 10
    test = ["a brand new question about zebras"]
    X_train, X_test = build_features(
        train,
        test,
        train_domains=["math", "code", "qa"] * 10,
        test_domains=["zoology"],
        svd_dim=4,
        domain_onehot_features=True,
    )
    assert X_train.shape[1] == X_test.shape[1]
    assert (X_test[0, -3:] == 0).all()
    assert domain_onehot(["b", "a"], ["a", "b"]).tolist() == [[0, 1], [1, 0]]
    stats = prompt_statistics(["A) x\nB) y?", ""])
    assert stats[0, -1] == 2 and stats[0, -2] == 1 and stats[1, 0] == 0
