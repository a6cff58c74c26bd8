from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dacr.latency import (
    estimate_tokens,
    fallback_params,
    latency_matrix,
    load_latency_config,
    lognormal_noise,
    model_params,
    simulate_latency,
)
from tests.conftest import DATA

ROOT = DATA.parents[1]


def test_token_estimates_by_method():
    texts = pd.Series(["", "one two three", "x" * 40])
    assert estimate_tokens(texts, "chars", 4.0).tolist() == [1, 4, 10]
    assert estimate_tokens(texts, "words").tolist() == [1, 3, 1]
    assert estimate_tokens(texts, "max", 4.0).tolist() == [1, 4, 10]
    with pytest.raises(ValueError, match="token_method='bytes' is not valid"):
        estimate_tokens(texts, "bytes")


def test_noise_has_mean_one_the_requested_cv_and_is_never_negative():
    noise = lognormal_noise(200_000, 0.5, np.random.default_rng(0))
    assert noise.min() > 0
    assert noise.mean() == pytest.approx(1.0, abs=0.01)
    assert noise.std() / noise.mean() == pytest.approx(0.5, rel=0.03)
    assert (lognormal_noise(3, 0.0, np.random.default_rng(0)) == 1.0).all()


def test_latency_is_t_init_plus_tokens_over_speed_without_noise():
    pairs = pd.DataFrame({"qid": ["a", "a"], "model": ["m1", "m2"], "response": ["x" * 40, "y"]})
    out = simulate_latency(
        pairs,
        {"m1": (0.5, 10.0), "m2": (1.0, 2.0)},
        token_method="chars",
        noise_cv=0.0,
        rng=np.random.default_rng(0),
    )
    assert out["latency_s"].tolist() == pytest.approx([0.5 + 10 / 10.0, 1.0 + 1 / 2.0])
    assert out["out_tokens"].tolist() == [10, 1]


def test_shipped_latency_config_lists_every_routerbench_model():
    from dacr.profile import model_ids

    cfg = load_latency_config(ROOT / "config" / "latency.yaml")
    assert set(cfg["models"]) == set(model_ids())


def test_unlisted_models_get_cost_derived_parameters(tmp_path):
    path = tmp_path / "lat.yaml"
    path.write_text("models:\n  cheap: {t_init_s: 0.2, speed_tps: 50}\n")
    cfg = load_latency_config(path)
    mean_cost = pd.Series({"cheap": 1e-5, "dear": 1e-3, "mid": 1e-4})
    params = model_params(["cheap", "dear", "mid"], cfg, mean_cost)
    assert params["cheap"] == (0.2, 50.0)
    derived = fallback_params(mean_cost, cfg["fallback"])
    assert params["dear"] == derived["dear"]
    assert params["dear"][1] < params["mid"][1]  # dearer -> slower
    assert params["mid"] == pytest.approx((0.35, 60.0))  # the median model gets the defaults


def test_bad_latency_config_names_the_key(tmp_path):
    path = tmp_path / "lat.yaml"
    path.write_text("models:\n  m: {t_init_s: -1, speed_tps: 5}\n")
    with pytest.raises(ValueError, match=r"models\.m\.t_init_s=-1 must be a number > 0"):
        load_latency_config(path)


def test_missing_latency_pairs_are_an_error_unless_imputed():
    log = pd.DataFrame(
        {
            "qid": ["a", "a", "b", "b"],
            "model": ["m1", "m2", "m1", "m2"],
            "latency_s": [1.0, 3.0, 2.0, 9.0],
            "ok": [True, True, True, False],
        }
    )
    with pytest.raises(ValueError, match=r"missing for 1 of 4 .* \[\('b', 'm2'\)\]"):
        latency_matrix(["a", "b"], ["m1", "m2"], log)
    mat = latency_matrix(["a", "b"], ["m1", "m2"], log, impute="model_median")
    assert mat.tolist() == [[1.0, 3.0], [2.0, 3.0]]
