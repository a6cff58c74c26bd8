"""Budgets: which policies keep them, the regret against the constrained oracle, and sweeps.

:func:`budget_compliance` is ``budget_compliance.csv``: one row per constrained policy (DACR at
each λ, mixllm_budget, llmrec_budget, the constrained oracle) with its realised cost in budget
units and violation rate against delta, with bootstrap intervals, and its regret: the
constrained oracle's (fractional LP) quality minus its own. :func:`run_budget_sweep` solves
the budget policies over a list of cost budgets (``budget_curve.parquet``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.evaluate import context_and_outcomes, dacr_frames, per_query_frame
from dacr.io import load_npz, read_parquet, read_parquet_metadata, write_table
from dacr.metrics import paired_bootstrap
from dacr.route import ScalarisedPolicy, replay
from dacr.route.budget import budget_grid, choose_from_grid
from dacr.route.oracle import solve_constrained_oracle

log = logging.getLogger(__name__)

CONSTRAINED = ("dacr", "mixllm_budget", "llmrec_budget", "constrained_oracle")
COMPLIANCE_COLUMNS = (
    "policy",
    "lambda_cost",
    "lambda_lat",
    "budget_cost",
    "budget_viol",
    "mean_cost",
    "cost_ratio",
    "cost_ratio_ci_low",
    "cost_ratio_ci_high",
    "slo_violation_rate",
    "slo_violation_rate_ci_low",
    "slo_violation_rate_ci_high",
    "viol_excess",
    "mean_quality",
    "constrained_oracle_quality",
    "regret",
    "regret_ci_low",
    "regret_ci_high",
    "feasible",
    "meets_budget",
)


def _regret_ci(
    per_query: pd.DataFrame, rows: pd.DataFrame, offset: float, n_resamples: int, seed: int
) -> pd.DataFrame:
    """Paired bootstrap of (rounded constrained oracle - policy) quality on the same queries,
    shifted by ``offset`` (LP optimum minus its rounding), per (policy, λ)."""
    baselines = sorted(set(rows["policy"]) - {"constrained_oracle"})
    if n_resamples == 0 or not baselines:
        return pd.DataFrame(columns=["policy", "lambda_cost", "regret_ci_low", "regret_ci_high"])
    pairs = paired_bootstrap(
        per_query,
        target="constrained_oracle",
        baselines=baselines,
        metric="quality",
        rng=np.random.default_rng([seed, 10]),
        n_resamples=n_resamples,
    )
    return pd.DataFrame(
        {
            "policy": pairs["baseline"],
            "lambda_cost": pairs["baseline_lambda"],
            "regret_ci_low": pairs["ci_low"] + offset,
            "regret_ci_high": pairs["ci_high"] + offset,
        }
    )


def budget_compliance(
    per_query: pd.DataFrame,
    metrics: pd.DataFrame,
    info: dict,
    *,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """The budget table (:data:`COMPLIANCE_COLUMNS`) from ``metrics.csv``, the per-query rows
    and ``budget_info.json`` (the LP solution and the budget baselines' weights)."""
    oracle = info["constrained_oracle"]
    budget_cost, budget_viol = float(oracle["budget_cost"]), float(oracle["budget_viol"])
    rows = metrics.loc[metrics["policy"].isin(CONSTRAINED)].copy()
    rows["_lam"] = rows["lambda_cost"]  # the key of per_query (NaN for λ-free policies)
    chosen = {k: v for k, v in info.items() if isinstance(v, dict) and k != "constrained_oracle"}
    for name, choice in chosen.items():
        at = rows["policy"] == name
        rows.loc[at, "lambda_cost"] = choice["lambda_cost"]
        rows.loc[at, "lambda_lat"] = choice["lambda_lat"]
    if "lambda_lat" not in rows:
        rows["lambda_lat"] = np.nan
    out = rows.assign(budget_cost=budget_cost, budget_viol=budget_viol)
    out["cost_ratio"] = out["mean_cost"] / budget_cost
    for side in ("low", "high"):
        col = f"mean_cost_ci_{side}"
        out[f"cost_ratio_ci_{side}"] = out[col] / budget_cost if col in out else np.nan
        col = f"slo_violation_rate_ci_{side}"
        if col not in out:
            out[col] = np.nan
    out["viol_excess"] = out["slo_violation_rate"] - budget_viol
    lp_quality = float(oracle["quality"]) if oracle["feasible"] else np.nan
    out["constrained_oracle_quality"] = lp_quality
    out["regret"] = lp_quality - out["mean_quality"]
    out["feasible"] = bool(oracle["feasible"])
    viol_ok = out["slo_violation_rate"].isna() | (out["slo_violation_rate"] <= budget_viol)
    out["meets_budget"] = (out["mean_cost"] <= budget_cost) & viol_ok
    if oracle["feasible"]:
        rounded = per_query.loc[per_query["policy"] == "constrained_oracle", "quality"].mean()
        ci = _regret_ci(per_query, rows, lp_quality - rounded, n_resamples, seed)
        ci = ci.rename(columns={"lambda_cost": "_lam"})
        out = out.merge(ci, on=["policy", "_lam"], how="left")
    else:
        out["regret_ci_low"] = out["regret_ci_high"] = np.nan
    return out[list(COMPLIANCE_COLUMNS)].reset_index(drop=True)


def regret_curve(per_query: pd.DataFrame) -> pd.DataFrame:
    """Cumulative regret against the oracle over the stream, per (policy, λ): at request t,
    the sum over requests up to t of the oracle's realised quality minus the policy's.

    Rows ``policy, lambda_cost, t, cumulative_regret, mean_regret`` (mean: divided by t + 1)
    for every policy but the single models and the oracles.
    """
    oracle = per_query.loc[per_query["policy"] == "oracle"].set_index("t")["quality"]
    if oracle.empty:
        raise ValueError("per_query has no oracle rows; the regret needs the oracle's choices")
    keep = ~per_query["policy"].isin(("oracle", "constrained_oracle")) & ~per_query[
        "policy"
    ].str.startswith("single:")
    rows = per_query.loc[keep, ["policy", "lambda_cost", "t", "quality"]].sort_values(
        ["policy", "lambda_cost", "t"], kind="stable"
    )
    gap = oracle.reindex(rows["t"]).to_numpy() - rows["quality"].to_numpy()
    rows = rows.assign(gap=gap)
    cum = rows.groupby(["policy", "lambda_cost"], dropna=False, sort=False)["gap"].cumsum()
    return pd.DataFrame(
        {
            "policy": rows["policy"].to_numpy(),
            "lambda_cost": rows["lambda_cost"].to_numpy(),
            "t": rows["t"].to_numpy(),
            "cumulative_regret": cum.to_numpy(),
            "mean_regret": cum.to_numpy() / (rows["t"].to_numpy() + 1),
        }
    )


def budget_lines(table: pd.DataFrame) -> list[str]:
    """Markdown lines of ``summary.md`` that say plainly which policy misses which budget."""
    if table.empty:
        return []
    first = table.iloc[0]
    lines = [
        "",
        f"## Budgets: B = {first['budget_cost']:g} USD per query, δ = {first['budget_viol']:g}",
        "",
    ]
    if not bool(first["feasible"]):
        lines.append(
            "**Infeasible**: no routing of this stream, even in hindsight, keeps both budgets; "
            "the constrained oracle and regret are not defined."
        )
    for row in table.itertuples(index=False):
        lam = "" if pd.isna(row.lambda_cost) else f" λ={row.lambda_cost:g}"
        misses = []
        if row.cost_ratio > 1:
            misses.append(f"cost budget by {100 * (row.cost_ratio - 1):.1f} %")
        if pd.notna(row.viol_excess) and row.viol_excess > 0:
            misses.append(f"violation budget by {row.viol_excess:.3f}")
        verdict = "**misses its " + " and its ".join(misses) + "**" if misses else "keeps both"
        viol = "–" if pd.isna(row.slo_violation_rate) else f"{row.slo_violation_rate:.3f}"
        regret = "" if pd.isna(row.regret) else f", regret {row.regret:.3f}"
        lines.append(
            f"- {row.policy}{lam}: cost {row.cost_ratio:.3f} × B, violations {viol}, "
            f"quality {row.mean_quality:.3f}{regret}: {verdict}."
        )
    return lines


def run_budget_sweep(
    predictions_path: str | Path,
    out_path: str | Path,
    *,
    budgets: Sequence[float],
    decision_info: str,
    tau_seconds: float,
    dacr: dict,
    seed: int,
) -> pd.DataFrame:
    """Rule entry point: the constrained oracle, DACR (λ = 0: budgets only) and
    mixllm_budget at each cost budget of ``budgets`` (at the experiment's delta)."""
    pred = load_npz(predictions_path)
    ctx, outcomes = context_and_outcomes(pred, decision_info, tau_seconds)
    budget_viol = float(dacr.get("budget_viol", 0.10))
    # mixllm_budget's weights for every budget come from one grid over the train predictions
    grid = budget_grid(pred["train_q_cal"], pred["train_c_hat"], pred["train_v_hat"])
    rows = []
    for budget in sorted(float(b) for b in budgets):
        oracle = solve_constrained_oracle(
            outcomes.quality, outcomes.cost, outcomes.violation, budget, budget_viol
        )
        frames = []
        if oracle.feasible:
            frames.append(
                per_query_frame(
                    "constrained_oracle", None, oracle.choice, pred, ctx, outcomes, ctx.q_cal
                )
            )
        chosen = choose_from_grid(grid, budget, budget_viol)
        policy = ScalarisedPolicy(
            "mixllm_budget", "calibrated", chosen.lambda_cost, chosen.lambda_lat
        )
        choice = replay(policy, ctx, outcomes)
        frames.append(
            per_query_frame("mixllm_budget", None, choice, pred, ctx, outcomes, ctx.q_cal)
        )
        frames.append(
            dacr_frames(pred, ctx, outcomes, 0.0, {**dacr, "budget_cost": budget}, seed)[0]
        )
        for frame in frames:
            rows.append(_sweep_row(frame, budget, budget_viol, oracle))
        if not oracle.feasible:
            rows.append(_sweep_row(None, budget, budget_viol, oracle))
    curve = pd.DataFrame(rows)
    write_table(
        curve, out_path, dataset=str(pred["dataset"]), metadata={"decision_info": decision_info}
    )
    log.info("budget sweep:\n%s", curve.to_string(index=False))
    return curve


def run_budget_plot(curve_path: str | Path, plot_path: str | Path, *, experiment: str) -> Path:
    """Rule entry point: ``plots/budget_curve.png`` from ``budget_curve.parquet``."""
    from dacr.plots import TitleInfo, plot_budget_curve  # only the figure jobs import them

    curve = read_parquet(curve_path)
    meta = read_parquet_metadata(curve_path)
    info = TitleInfo(experiment, str(meta["dataset"]), str(meta["decision_info"]))
    return plot_budget_curve(curve.drop(columns="dataset"), plot_path, info)


def _sweep_row(frame: pd.DataFrame | None, budget: float, budget_viol: float, oracle) -> dict:
    if frame is None:
        name, quality, cost, viol = "constrained_oracle", np.nan, np.nan, np.nan
    else:
        name = str(frame["policy"].iloc[0])
        quality, cost = frame["quality"].mean(), frame["cost"].mean()
        viol = frame["slo_violation"].mean()
        if name == "constrained_oracle":
            quality, cost, viol = oracle.quality, oracle.mean_cost, oracle.violation_rate
    return {
        "policy": name,
        "budget_cost": budget,
        "budget_viol": budget_viol,
        "feasible": bool(oracle.feasible),
        "mean_quality": float(quality),
        "mean_cost": float(cost),
        "cost_ratio": float(cost) / budget,
        "slo_violation_rate": float(viol),
    }
