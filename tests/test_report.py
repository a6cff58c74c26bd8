from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from dacr.logs import HEADLINE, setup_logging
from dacr.provenance import report_mismatches
from dacr.report import figure_lambda, headline_text, share_thresholds


def test_share_thresholds_send_the_asked_shares_to_the_strong_model():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=200)
    shares = np.linspace(0, 1, 21)
    thresholds = share_thresholds(scores, shares)
    sent = [(scores >= t).mean() for t in thresholds]
    np.testing.assert_allclose(sent, shares)
    assert np.all(np.diff(thresholds) <= 0)  # more strong calls, lower thresholds


def test_share_thresholds_with_ties_never_send_fewer_than_asked():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    sent = [(scores >= t).sum() for t in share_thresholds(scores, [0.0, 0.2, 0.4, 1.0])]
    assert sent == [0, 1, 4, 5]  # 0.4 asks for 2: the tie at 0.5 brings 4


def test_share_thresholds_name_a_bad_share():
    with pytest.raises(ValueError, match=r"shares must lie in \[0, 1\], got \[1.5\]"):
        share_thresholds(np.ones(3), [1.5])


def _metrics():
    rows = [
        ("dacr", 1.0, 0.58, 0.0007, 0.065, False),
        ("dacr", 10.0, 0.60, 0.0006, 0.049, False),
        ("mixllm", 1.0, 0.66, 0.0070, 0.690, False),  # better, but far over both budgets
        ("llmrec", 1.0, 0.59, 0.0010, 0.090, False),
        ("oracle", np.nan, 0.78, 0.0009, 0.270, True),
        ("single:gpt-4", np.nan, 0.67, 0.0072, 0.700, False),
    ]
    cols = ["policy", "lambda_cost", "mean_quality", "mean_cost", "slo_violation_rate"]
    df = pd.DataFrame([r[:5] for r in rows], columns=cols)
    return df.assign(upper_bound=[r[5] for r in rows], dataset="synthetic")


def test_headline_names_dacr_and_the_best_baseline_within_the_budgets():
    compliance = pd.DataFrame(
        {
            "policy": ["dacr", "dacr", "constrained_oracle"],
            "budget_cost": 0.002,
            "budget_viol": 0.1,
            "meets_budget": [True, False, True],
        }
    )
    text = headline_text("ood", _metrics(), compliance, "results/ood/summary.md")
    assert text.startswith("ood (synthetic): dacr λ=1 q 0.580 $0.0007 viol 0.065, dacr λ=10")
    assert "best baseline within B=0.002, δ=0.1: llmrec λ=1 q 0.590" in text
    assert "dacr keeps its budgets at 1/2 λ" in text
    assert text.endswith("-> results/ood/summary.md")
    assert "\n" not in text


def test_figure_lambda_is_the_lower_median_of_dacrs_grid():
    pq = pd.DataFrame({"policy": ["dacr"] * 4 + ["mixllm"], "lambda_cost": [1, 5, 10, 20, 3]})
    assert figure_lambda(pq) == 5.0
    with pytest.raises(ValueError, match="no dacr rows"):
        figure_lambda(pq.loc[pq["policy"] == "mixllm"])


def test_terminal_gets_headlines_and_warnings_the_log_file_everything(tmp_path, capsys):
    log_file = tmp_path / "job.log"
    setup_logging(log_file)
    logging.getLogger("dacr.evaluate").info("a long table")
    logging.getLogger("dacr.evaluate").warning("a warning")
    logging.getLogger(HEADLINE).info("exp: the headline")
    for handler in logging.getLogger().handlers:
        handler.flush()
    err = capsys.readouterr().err
    assert "a long table" not in err
    assert "a warning" in err and "exp: the headline\n" in err
    text = log_file.read_text()
    assert "a long table" in text and "a warning" in text and "the headline" in text
    logging.getLogger().handlers.clear()


def test_report_refuses_results_built_from_another_config(tmp_path):
    built = tmp_path / "a.json"
    built.write_text(json.dumps({"config_sha256": "a" * 64}))
    assert report_mismatches({"a": (built, "a" * 64), "b": (tmp_path / "none.json", "c")}) == []
    problems = report_mismatches({"a": (built, "b" * 64)})
    assert problems == [
        f"a: {built} was built from config slice aaaaaaaaaaaa, this config gives bbbbbbbbbbbb"
    ]
    assert report_mismatches({"b": (tmp_path / "none.json", "c")}) == [
        "no experiment of this config (b) has results yet"
    ]
