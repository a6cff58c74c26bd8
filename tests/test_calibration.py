from __future__ import annotations

import numpy as np
import pytest

from dacr.calibration import (
    DomainCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    TemperatureCalibrator,
    make_calibrator,
)
from dacr.calibration_scores import brier, calibration_table, ece


def test_ece_by_hand():
    # Bin [0.2, 0.267): p 0.2, 0.2 with y 0, 1 -> |0.5 - 0.2| * 2/4; bin of 0.9: p 0.9, 0.9,
    # y 1, 1 -> |1 - 0.9| * 2/4. ECE = 0.15 + 0.05 = 0.2.
    p = np.array([0.2, 0.2, 0.9, 0.9])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    assert ece(p, y) == pytest.approx(0.2)
    assert brier(p, y) == pytest.approx((0.04 + 0.64 + 0.01 + 0.01) / 4)
    assert ece(np.array([1.0]), np.array([1.0])) == 0.0


def _overconfident(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < true_p).astype(float)
    p_raw = np.clip(0.5 + 1.8 * (true_p - 0.5), 0.001, 0.999)  # overconfident predictions
    return p_raw, y


@pytest.mark.parametrize("cls", [PlattCalibrator, IsotonicCalibrator, TemperatureCalibrator])
def test_calibrators_reduce_ece_of_overconfident_predictions(cls):
    p_raw, y = _overconfident()
    fitted = cls().fit(p_raw[:2000], y[:2000])
    before = ece(p_raw[2000:], y[2000:])
    after = ece(fitted.predict(p_raw[2000:]), y[2000:])
    assert before > 0.1
    assert after < before / 2


def test_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 20000)
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-z / 2.0))).astype(float)
    fitted = TemperatureCalibrator().fit(1 / (1 + np.exp(-z)), y)
    assert fitted.temperature_ == pytest.approx(2.0, rel=0.08)


def test_platt_handles_fractional_targets_and_one_outcome():
    p = np.linspace(0.1, 0.9, 50)
    fitted = PlattCalibrator().fit(p, np.full(50, 0.25))
    assert np.allclose(fitted.predict(p), 0.25)
    mixed = PlattCalibrator().fit(p, np.where(p > 0.5, 0.75, 0.25))
    assert mixed.predict(np.array([0.9]))[0] > mixed.predict(np.array([0.1]))[0]


def test_domain_calibrator_shrinks_toward_global_and_uses_global_for_unseen():
    rng = np.random.default_rng(2)
    n = 600
    domains = np.array(["a"] * 300 + ["b"] * 300)
    P = rng.uniform(0.2, 0.8, (n, 1))
    # Domain a is right; domain b is always wrong.
    Q = np.where(domains[:, None] == "a", (rng.uniform(size=(n, 1)) < P).astype(float), 0.0)
    cal = DomainCalibrator(method="platt", shrinkage=100.0).fit(P, Q, domains)
    assert cal.domain_weight_["b"] == pytest.approx(300 / 400)
    probe = np.full((3, 1), 0.6)
    out = cal.predict(probe, np.array(["a", "b", "zzz"]))
    global_only = DomainCalibrator(method="platt", per_domain=False).fit(P, Q, domains)
    assert out[2, 0] == pytest.approx(global_only.predict(probe[:1], np.array(["zzz"]))[0, 0])
    assert out[1, 0] < out[2, 0] < out[0, 0]


def test_domain_calibrator_refuses_nan_predictions():
    with pytest.raises(ValueError, match="NaN"):
        DomainCalibrator().fit(np.array([[np.nan]]), np.array([[1.0]]), np.array(["a"]))


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="calibration.method='beta' is not valid"):
        make_calibrator("beta")


def test_calibration_table_has_all_and_per_domain_rows():
    P = np.array([[0.2, 0.9], [0.8, 0.1], [0.5, 0.5]])
    Q = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    rows = calibration_table({"raw": P}, Q, np.array(["x", "x", "y"]), ["m0", "m1"])
    assert len(rows) == 2 * 3  # 2 models x (all, x, y)
    assert {r["target"] for r in rows} == {"quality"}
    viol = calibration_table({"raw": P}, Q, np.array(["x"] * 3), ["a", "b"], target="violation")
    assert {r["target"] for r in viol} == {"violation"}
    row = next(r for r in rows if r["model"] == "m0" and r["domain"] == "y")
    assert (
        row["n"] == 1 and row["ece"] == pytest.approx(0.5) and row["brier"] == pytest.approx(0.25)
    )
