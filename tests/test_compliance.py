from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dacr.compliance import COMPLIANCE_COLUMNS, budget_compliance, budget_lines, regret_curve
from dacr.evaluate import summarize


def per_query_rows(policy, lam, quality, cost, viol, domains):
    n = len(quality)
    return pd.DataFrame(
        {
            "policy": policy,
            "lambda_cost": lam,
            "t": np.arange(n),
            "qid": [f"q{i}" for i in range(n)],
            "domain": domains,
            "chosen_model": "m",
            "quality": quality,
            "cost": cost,
            "latency_s": 1.0,
            "slo_violation": viol,
        }
    )


@pytest.fixture
def tables():
    n = 200
    rng = np.random.default_rng(0)
    domains = np.where(np.arange(n) % 2, "a", "b")
    oracle_q = np.ones(n)
    rows = [
        per_query_rows(
            "constrained_oracle", np.nan, oracle_q, np.full(n, 0.001), np.zeros(n), domains
        ),
        # keeps both: mean cost 0.9 B, violations 0.05
        per_query_rows(
            "dacr",
            1.0,
            np.full(n, 0.8),
            np.full(n, 0.0009),
            (np.arange(n) % 20 == 0) * 1.0,
            domains,
        ),
        # misses the cost budget by 20 %
        per_query_rows("dacr", 5.0, np.full(n, 0.9), np.full(n, 0.0012), np.zeros(n), domains),
        # misses the violation budget: 0.15
        per_query_rows(
            "mixllm_budget",
            np.nan,
            rng.uniform(0.5, 0.7, n),
            np.full(n, 0.0005),
            (np.arange(n) % 20 < 3) * 1.0,
            domains,
        ),
    ]
    per_query = pd.concat(rows, ignore_index=True)
    metrics = summarize(per_query, ["policy", "lambda_cost"])
    info = {
        "constrained_oracle": {
            "feasible": True,
            "quality": 0.99,
            "budget_cost": 0.001,
            "budget_viol": 0.1,
        },
        "mixllm_budget": {"lambda_cost": 12.5, "lambda_lat": 3.0},
    }
    return per_query, metrics, info


def test_compliance_by_hand(tables):
    per_query, metrics, info = tables
    table = budget_compliance(per_query, metrics, info, n_resamples=200, seed=1)
    assert list(table.columns) == list(COMPLIANCE_COLUMNS)
    row = table.set_index(["policy", "lambda_cost"])
    keep, over = row.loc[("dacr", 1.0)], row.loc[("dacr", 5.0)]
    assert keep["cost_ratio"] == pytest.approx(0.9) and keep["meets_budget"]
    assert keep["slo_violation_rate"] == pytest.approx(0.05)
    assert keep["viol_excess"] == pytest.approx(-0.05)
    assert over["cost_ratio"] == pytest.approx(1.2) and not over["meets_budget"]
    # regret against the LP value (0.99), not the rounded oracle's per-query mean (1.0)
    assert keep["regret"] == pytest.approx(0.19)
    # every query differs by exactly 0.2 from the rounded oracle: the interval is a point
    assert keep["regret_ci_low"] == pytest.approx(0.19) == keep["regret_ci_high"]
    budget = row.loc[("mixllm_budget", 12.5)]  # the weight chosen on training predictions
    assert budget["lambda_lat"] == 3.0 and not budget["meets_budget"]
    assert budget["regret_ci_low"] < budget["regret"] < budget["regret_ci_high"]
    assert table["feasible"].all()


def test_summary_lines_say_plainly_who_misses_which_budget(tables):
    text = "\n".join(budget_lines(budget_compliance(*tables, n_resamples=0, seed=1)))
    assert (
        "dacr λ=1: cost 0.900 × B, violations 0.050, quality 0.800, regret 0.190: keeps both"
        in text
    )
    assert "dacr λ=5" in text and "**misses its cost budget by 20.0 %**" in text
    assert "mixllm_budget λ=12.5" in text and "violation budget by 0.050" in text


def test_an_infeasible_budget_is_said_and_has_no_regret(tables):
    per_query, metrics, info = tables
    info["constrained_oracle"] = {
        "feasible": False,
        "quality": None,
        "budget_cost": 0.001,
        "budget_viol": 0.1,
    }
    per_query = per_query.loc[per_query["policy"] != "constrained_oracle"]
    metrics = metrics.loc[metrics["policy"] != "constrained_oracle"]
    table = budget_compliance(per_query, metrics, info, n_resamples=100, seed=1)
    assert not table["feasible"].any() and table["regret"].isna().all()
    assert "**Infeasible**" in "\n".join(budget_lines(table))


def test_regret_curve_by_hand():
    domains = np.array(["a"] * 4)
    rows = pd.concat(
        [
            per_query_rows(
                "oracle", np.nan, np.array([1.0, 1.0, 0.5, 1.0]), np.ones(4), np.zeros(4), domains
            ),
            per_query_rows(
                "dacr", 2.0, np.array([1.0, 0.0, 0.5, 0.5]), np.ones(4), np.zeros(4), domains
            ),
            per_query_rows("single:m", np.nan, np.zeros(4), np.ones(4), np.zeros(4), domains),
        ],
        ignore_index=True,
    )
    curve = regret_curve(rows)
    assert set(curve["policy"]) == {"dacr"}  # no single models, no oracle
    assert curve["cumulative_regret"].tolist() == [0.0, 1.0, 1.0, 1.5]
    assert curve["mean_regret"].tolist() == pytest.approx([0.0, 0.5, 1 / 3, 0.375])
