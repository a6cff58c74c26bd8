"""Curves, field metrics with uncertainty, plots and the one-screen summary of an experiment.

Rule entry points: :func:`run_curves` (dense λ and threshold sweeps reusing the shared
predictions), :func:`run_summary` (``router_summary.csv``, ``comparisons.csv``,
``summary.md``), :func:`run_plots` (PNG figures) and :func:`run_lodo` (the leave-one-domain-out
matrix).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dacr.compliance import budget_compliance, budget_lines, regret_curve
from dacr.evaluate import (
    context_and_outcomes,
    dacr_frames,
    lambda_policy_frames,
    lambda_setup,
    online_end_quality,
    per_query_frame,
    summarize,
)
from dacr.io import load_npz, read_csv, read_json, read_parquet, write_table, write_with
from dacr.logs import headline
from dacr.metrics import (
    apgr,
    bootstrap_aiq,
    cpt,
    frontier_distance,
    ndch,
    paired_bootstrap,
    pareto_frontier,
    reliability_table,
)
from dacr.route import CascadePolicy, RouteLLMPolicy, replay

log = logging.getLogger(__name__)

BINARY_ROUTERS = ("routellm", "cascade")
DATASET_NAMES = {"synthetic": "Synthetic", "routerbench": "RouterBench", "custom": "Custom"}


def default_curve_lambdas(n: int = 30) -> list[float]:
    """0, then ``n - 1`` log-spaced values from 1e-1 to 1e5 (RouterBench's willingness to pay
    spans many decades; RouterBench costs are 1e-5 to 1e-2 USD per query)."""
    return [0.0, *np.logspace(-1, 5, n - 1).tolist()]


def run_curves(
    predictions_path: str | Path,
    out_path: str | Path,
    *,
    curve_lambdas: Sequence[float],
    thresholds: Sequence[float],
    decision_info: str,
    tau_seconds: float,
    lambda_lat: float,
    dacr: dict,
    seed: int,
    linucb: dict | None = None,
    custom: dict | None = None,
    features_path: str | Path | None = None,
    long_path: str | Path | None = None,
    import_root: str | None = None,
    routellm_curve: str = "quantile",
) -> pd.DataFrame:
    """Per-query rows of the λ policies (built-in and custom) over a dense λ sweep and of the
    binary routers over a threshold sweep (column ``threshold``), from the predictions every
    policy job shares. ``routellm_curve="quantile"`` turns ``thresholds`` into strong-model
    shares for routellm (:func:`share_thresholds`), as RouteLLM's evaluation does."""
    job = lambda_setup(
        predictions_path,
        decision_info=decision_info,
        tau_seconds=tau_seconds,
        features_path=features_path,
        long_path=long_path,
        custom=custom,
        linucb=linucb,
        dacr=dacr,
        seed=seed,
        import_root=import_root,
    )
    pred, ctx, outcomes = job.pred, job.ctx, job.outcomes
    frames = []
    for lam in curve_lambdas:
        frames += lambda_policy_frames(
            pred,
            ctx,
            outcomes,
            lam,
            lambda_lat,
            dacr,
            seed,
            linucb=linucb,
            linucb_start=job.linucb_start,
            custom_choices_at=job.custom.choices(outcomes, lam),
        )[0]
    strong, weak = int(pred["strong"]), int(pred["weak"])
    if routellm_curve not in ("quantile", "threshold"):
        raise ValueError(
            f"routellm_curve={routellm_curve!r} is not valid; choose 'quantile' or 'threshold'"
        )
    rl_thresholds = (
        share_thresholds(ctx.p_win, thresholds) if routellm_curve == "quantile" else thresholds
    )
    sweeps = [("routellm", RouteLLMPolicy(strong, weak, t), t) for t in rl_thresholds]
    sweeps += [("cascade", CascadePolicy(pred["cost_order"], t), t) for t in thresholds]
    for name, policy, thr in sweeps:
        choice = replay(policy, ctx, outcomes)
        rows = per_query_frame(name, None, choice, pred, ctx, outcomes, ctx.q_cal)
        frames.append(rows.assign(threshold=float(thr)))
    curves = pd.concat(frames, ignore_index=True)
    write_table(curves, out_path, dataset=str(pred["dataset"]))
    return curves


def share_thresholds(scores: np.ndarray, shares: Sequence[float]) -> np.ndarray:
    """Thresholds on ``scores`` that send the given shares of queries to the strong model
    (``score >= threshold``): the k-th largest score for a share k/n (ties can add more), just
    above the largest for share 0."""
    s = np.sort(np.asarray(scores, dtype=float).ravel())[::-1]
    if s.size == 0:
        raise ValueError("share_thresholds: no scores")
    shares = np.asarray(shares, dtype=float)
    if ((shares < 0) | (shares > 1)).any():
        raise ValueError(f"share_thresholds: shares must lie in [0, 1], got {shares.tolist()}")
    k = np.rint(shares * s.size).astype(int)
    return np.where(k == 0, np.nextafter(s[0], np.inf), s[np.clip(k - 1, 0, s.size - 1)])


def binary_router_table(
    curves: pd.DataFrame, per_query: pd.DataFrame, strong: str, weak: str
) -> pd.DataFrame:
    """APGR and CPT(20/50/80 %) of each binary router over its threshold sweep.

    PGR = (q - q_weak) / (q_strong - q_weak) with q_weak, q_strong the mean quality of the weak
    (cheapest) and strong (best on train) models alone on the same queries; the x axis is the
    share of calls that go to the strong model.
    """
    singles = per_query.loc[per_query["policy"].str.startswith("single:")]
    q_single = singles.groupby("chosen_model")["quality"].mean()
    q_weak, q_strong = float(q_single[weak]), float(q_single[strong])
    rows = []
    for name in BINARY_ROUTERS:
        sweep = curves.loc[curves["policy"] == name]
        if sweep.empty:
            continue
        g = sweep.groupby("threshold")
        share = g["chosen_model"].apply(lambda s: float((s == strong).mean())).to_numpy()
        quality = g["quality"].mean().to_numpy()
        row = {
            "router": name,
            "q_weak": q_weak,
            "q_strong": q_strong,
            "strong": strong,
            "weak": weak,
        }
        if q_strong == q_weak:
            row.update(apgr=np.nan, cpt20=np.nan, cpt50=np.nan, cpt80=np.nan)
        else:
            row["apgr"] = apgr(share, quality, q_weak, q_strong)
            for x in (0.2, 0.5, 0.8):
                row[f"cpt{round(x * 100)}"] = cpt(share, quality, q_weak, q_strong, x)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per policy: whether a point is on the Pareto frontier, and its smallest quality gap."""
    points = metrics.loc[~metrics["policy"].eq("oracle")].reset_index(drop=True)
    on = pareto_frontier(points)
    dist = frontier_distance(points, "mean_cost", "mean_quality")
    table = points[["policy"]].assign(on_frontier=on, pareto_distance=dist)
    return table.groupby("policy", sort=False).agg(
        on_frontier=("on_frontier", "any"), pareto_distance=("pareto_distance", "min")
    )


def run_summary(
    per_query_path: str | Path,
    curves_path: str | Path,
    metrics_path: str | Path,
    predictions_path: str | Path,
    budget_info_path: str | Path,
    *,
    router_summary_path: str | Path,
    comparisons_path: str | Path,
    compliance_path: str | Path,
    summary_path: str | Path,
    regret_path: str | Path,
    experiment: str,
    n_resamples: int,
    seed: int,
) -> pd.DataFrame:
    """Rule entry point: AIQ (both normalisations, with CIs), APGR/CPT, Pareto distances,
    paired DACR-vs-baseline comparisons (Holm-adjusted), budget compliance and regret against
    the constrained oracle, and ``summary.md``."""
    per_query = read_parquet(per_query_path)
    curves = read_parquet(curves_path)
    metrics = read_csv(metrics_path)
    pred = load_npz(predictions_path)
    models = [str(m) for m in pred["models"]]
    strong, weak = models[int(pred["strong"])], models[int(pred["weak"])]
    singles = per_query.loc[per_query["policy"].str.startswith("single:")]
    sweep = pd.concat([curves.loc[curves["lambda_cost"].notna()], singles])
    aiq = bootstrap_aiq(sweep, rng=np.random.default_rng([seed, 7]), n_resamples=n_resamples)
    binary = binary_router_table(curves, per_query, strong, weak)
    pareto = pareto_table(metrics).reset_index().rename(columns={"policy": "router"})
    summary = aiq.merge(binary, on="router", how="outer").merge(pareto, on="router", how="outer")
    dataset = str(metrics["dataset"].iloc[0])
    write_table(summary, router_summary_path, dataset=dataset)

    baselines = sorted(
        p for p in per_query["policy"].unique() if p != "dacr" and not p.startswith("single:")
    )
    comparisons = paired_bootstrap(
        per_query,
        target="dacr",
        baselines=baselines,
        metric=["quality", "cost"],
        rng=np.random.default_rng([seed, 8]),
        n_resamples=n_resamples,
    )
    write_table(comparisons, comparisons_path, dataset=dataset)
    compliance = budget_compliance(
        per_query, metrics, read_json(budget_info_path), n_resamples=n_resamples, seed=seed
    )
    write_table(compliance, compliance_path, dataset=dataset)
    write_table(regret_curve(per_query), regret_path, dataset=dataset)
    text = summary_markdown(experiment, metrics, summary) + "\n".join(budget_lines(compliance))
    text = text.rstrip("\n") + "\n"
    write_with(lambda tmp: tmp.write_text(text), summary_path)
    log.info("router summary of %s:\n%s", experiment, summary.to_string(index=False))
    headline("%s", headline_text(experiment, metrics, compliance, summary_path))
    return summary


def headline_text(
    experiment: str, metrics: pd.DataFrame, compliance: pd.DataFrame, summary_path: str | Path
) -> str:
    """One terminal line per experiment: DACR at each λ, the best non-oracle baseline, and
    whether DACR kept its budgets."""
    ok = metrics.loc[~metrics["upper_bound"].astype(bool)]

    def show(row: pd.Series) -> str:
        lam = "" if pd.isna(row["lambda_cost"]) else f" λ={row['lambda_cost']:g}"
        viol = row["slo_violation_rate"]
        viol_text = "" if pd.isna(viol) else f" viol {viol:.3f}"
        quality, cost = row["mean_quality"], row["mean_cost"]
        return f"{row['policy']}{lam} q {quality:.3f} ${cost:.2g}{viol_text}"

    dacr = ok.loc[ok["policy"] == "dacr"]
    others = ok.loc[(ok["policy"] != "dacr") & ~ok["policy"].str.startswith("single:")]
    parts = [", ".join(show(r) for _, r in dacr.iterrows()) or "no dacr rows"]
    if len(compliance):
        budget_cost, budget_viol = compliance.iloc[0][["budget_cost", "budget_viol"]]
        viol = others["slo_violation_rate"].fillna(0.0)
        others = others.loc[(others["mean_cost"] <= budget_cost) & (viol <= budget_viol)]
        label = f"best baseline within B={budget_cost:g}, δ={budget_viol:g}: "
    else:
        label = "best baseline: "
    best = show(others.loc[others["mean_quality"].idxmax()]) if len(others) else "none"
    parts.append(label + best)
    kept = compliance.loc[compliance["policy"] == "dacr", "meets_budget"]
    if len(kept):
        parts.append(f"dacr keeps its budgets at {int(kept.sum())}/{len(kept)} λ")
    dataset = str(metrics["dataset"].iloc[0])
    return f"{experiment} ({dataset}): " + " | ".join(parts) + f" -> {summary_path}"


def _pm(value: float, low: float, high: float, digits: int) -> str:
    if not np.isfinite(value):
        return "–"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def summary_markdown(experiment: str, metrics: pd.DataFrame, routers: pd.DataFrame) -> str:
    """The one-screen headline table of an experiment."""
    dataset = str(metrics["dataset"].iloc[0])
    mode = str(metrics["decision_info"].iloc[0])
    aiq = routers.set_index("router")["aiq_code"] if "aiq_code" in routers else pd.Series()
    keep = ~metrics["policy"].str.startswith("single:")
    lines = [
        f"# {experiment}",
        "",
        f"{DATASET_NAMES.get(dataset, dataset)} data, {mode} decisions, "
        f"{int(metrics['n'].iloc[0])} test queries. Quality and cost: mean [95 % bootstrap CI].",
        "",
        "| policy | λ | quality | cost (USD) | p95 latency (s) | SLO violations | AIQ |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in metrics.loc[keep].itertuples(index=False):
        lam = "" if pd.isna(row.lambda_cost) else f"{row.lambda_cost:g}"
        quality = _pm(
            row.mean_quality,
            getattr(row, "mean_quality_ci_low", np.nan),
            getattr(row, "mean_quality_ci_high", np.nan),
            3,
        )
        cost = _pm(
            row.mean_cost,
            getattr(row, "mean_cost_ci_low", np.nan),
            getattr(row, "mean_cost_ci_high", np.nan),
            5,
        )
        p95 = "–" if pd.isna(row.p95_latency_s) else f"{row.p95_latency_s:.2f}"
        viol = "–" if pd.isna(row.slo_violation_rate) else f"{row.slo_violation_rate:.3f}"
        router_aiq = aiq.get(row.policy, np.nan)
        aiq_text = "" if pd.isna(router_aiq) else f"{router_aiq:.4f}"
        lines.append(f"| {row.policy} | {lam} | {quality} | {cost} | {p95} | {viol} | {aiq_text} |")
    if "zero_router" in aiq.index:
        lines += ["", f"Zero router (hull of the single models) AIQ: {aiq['zero_router']:.4f}."]
    return "\n".join(lines) + "\n"


def run_plots(
    per_query_path: str | Path,
    curves_path: str | Path,
    metrics_path: str | Path,
    by_domain_path: str | Path,
    trace_path: str | Path,
    predictions_path: str | Path,
    regret_path: str | Path,
    out_dir: str | Path,
    *,
    experiment: str,
    tau_seconds: float,
    dacr: dict,
    decision_info: str,
    seed: int,
) -> list[Path]:
    """Rule entry point: every figure of an experiment, as PNG files in ``out_dir``."""
    from dacr.plots import (  # matplotlib and seaborn: only the figure jobs import them
        TitleInfo,
        plot_dacr_trace,
        plot_domain_heatmap,
        plot_latency_cdf,
        plot_quality_cost,
        plot_regret,
        plot_reliability,
        plot_violation_cost,
    )

    out_dir = Path(out_dir)
    per_query = read_parquet(per_query_path)
    curves = read_parquet(curves_path)
    metrics = read_csv(metrics_path)
    info = TitleInfo.from_metrics(metrics, experiment)
    curve_metrics = summarize(curves.loc[curves["lambda_cost"].notna()], ["policy", "lambda_cost"])
    free = metrics.loc[metrics["lambda_cost"].isna(), list(curve_metrics.columns)]
    plotted = pd.concat([free, curve_metrics], ignore_index=True)
    singles = metrics.loc[metrics["policy"].str.startswith("single:")]
    hull = ndch(singles["mean_cost"].to_numpy(), singles["mean_quality"].to_numpy())
    ci = metrics if "mean_quality_ci_low" in metrics else None
    lam = figure_lambda(per_query)
    paths = [
        plot_quality_cost(plotted, out_dir / "quality_cost.png", info, ci=ci, hull=hull),
        plot_violation_cost(
            plotted, out_dir / "violation_cost.png", info, delta=dacr.get("budget_viol")
        ),
        plot_latency_cdf(per_query, tau_seconds, out_dir / "latency_cdf.png", info, lam=lam),
    ]
    pred = load_npz(predictions_path)
    ctx, outcomes = context_and_outcomes(pred, decision_info, tau_seconds)
    _, trace = dacr_frames(pred, ctx, outcomes, lam, dacr, seed)
    stages = {
        "raw": pred["q_raw"],
        "calibrated": pred["q_cal"],
        "online_end": online_end_quality(ctx, trace),
    }
    table = reliability_table(stages, pred["quality"], [str(m) for m in pred["models"]])
    paths.append(plot_reliability(table, out_dir / "reliability.png", info, online_lambda=lam))
    paths.append(plot_dacr_trace(read_parquet(trace_path), out_dir / "dacr_trace.png", info))
    by_domain = read_csv(by_domain_path)
    paths.append(plot_domain_heatmap(by_domain, out_dir / "domain_heatmap.png", info, lam=lam))
    paths.append(plot_regret(read_parquet(regret_path), out_dir / "regret.png", info))
    return paths


def figure_lambda(per_query: pd.DataFrame) -> float:
    """The one cost weight every single-λ figure shows: the middle of DACR's grid (the lower
    median, as :func:`dacr.plots.style.pick_lambda`)."""
    lams = np.sort(per_query.loc[per_query["policy"] == "dacr", "lambda_cost"].dropna().unique())
    if lams.size == 0:
        raise ValueError("per_query: no dacr rows with a lambda_cost; nothing to plot at one λ")
    return float(lams[(lams.size - 1) // 2])


def lodo_matrix(metrics_paths: Sequence[str | Path], families: Sequence[str]) -> pd.DataFrame:
    """Rows: held-out family; columns: policy (λ policies at their smallest λ); mean quality."""
    rows = {}
    for family, path in zip(families, metrics_paths, strict=True):
        metrics = read_csv(path)
        metrics = metrics.loc[~metrics["policy"].str.startswith("single:")]
        first = metrics.groupby("policy", sort=False)["lambda_cost"].transform(
            lambda s: s.min() if s.notna().any() else np.nan
        )
        pick = metrics["lambda_cost"].isna() | (metrics["lambda_cost"] == first)
        rows[family] = metrics.loc[pick].set_index("policy")["mean_quality"]
    matrix = pd.DataFrame(rows).T
    matrix.index.name = "heldout_family"
    return matrix


def run_lodo(
    metrics_paths: Sequence[str | Path],
    families: Sequence[str],
    out_csv: str | Path,
    out_png: str | Path,
    *,
    experiment: str,
) -> pd.DataFrame:
    """Rule entry point: the leave-one-domain-out matrix and its heatmap."""
    from dacr.plots import TitleInfo, plot_lodo_heatmap

    matrix = lodo_matrix(metrics_paths, families)
    first = read_csv(metrics_paths[0])
    write_table(matrix, out_csv, dataset=str(first["dataset"].iloc[0]), index=True)
    info = TitleInfo.from_metrics(first, experiment)
    plot_lodo_heatmap(matrix, out_png, info)
    return matrix
