"""DACR over the stream against its budgets, and quality at budget over a sweep."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns

from dacr.plots.style import (
    RC,
    TitleInfo,
    log_x,
    markers,
    new_figure,
    note,
    ordered,
    outside_legend,
    palette,
    require_columns,
    save_png,
)

TRACE_COLUMNS = (
    "t",
    "lambda_cost",
    "load",
    "mu_c",
    "mu_l",
    "running_cost_ratio",
    "running_violation_rate",
    "budget_cost",
    "budget_viol",
)


def load_windows(t: np.ndarray, load: np.ndarray) -> list[tuple[float, float]]:
    """(first, last) request index of each run of requests that arrived above capacity
    (observable load multiplier > 1)."""
    over = np.asarray(load, dtype=float) > 1.0
    edges = np.flatnonzero(np.diff(np.r_[0, over.astype(int), 0]))
    t = np.asarray(t, dtype=float)
    return [(t[a], t[b - 1]) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def plot_dacr_trace(trace: pd.DataFrame, path: str | Path, title_info: TitleInfo) -> Path:
    """DACR's dual prices, running cost ratio (against 1) and running SLO violation rate
    (against delta) over the stream, per λ; requests that arrived above capacity are shaded,
    and a λ that ends over a budget is named on its panel.

    Parameters
    ----------
    trace
        ``dacr_trace.parquet`` rows (:data:`TRACE_COLUMNS`).
    path, title_info
        Output PNG and title parts.

    Returns
    -------
    pathlib.Path
        The written file (1200 x 800 px), four panels sharing the stream axis.
    """
    require_columns(trace, TRACE_COLUMNS, "trace")
    if trace.empty:
        raise ValueError("trace is empty; nothing to plot")
    lams = np.sort(trace["lambda_cost"].unique())
    colors = dict(zip(lams, sns.color_palette("viridis", len(lams)), strict=True))
    budget_viol = float(trace["budget_viol"].iloc[0])
    panels = [
        ("mu_c", "cost dual μ_c (quality per budget unit)", None, None),
        ("mu_l", "violation dual μ_ℓ (quality per budget unit)", None, None),
        ("running_cost_ratio", "running mean cost / budget B", 1.0, "budget (ratio 1)"),
        ("running_violation_rate", "running SLO violation rate", budget_viol, "δ"),
    ]
    first = trace.loc[trace["lambda_cost"] == lams[0]].sort_values("t")
    windows = load_windows(first["t"].to_numpy(), first["load"].to_numpy())
    with mpl.rc_context(RC):
        fig, axes = new_figure("dacr_trace", 2, 2, sharex=True)
        for ax, (col, label, budget, budget_name) in zip(axes.ravel(), panels, strict=True):
            ax.set_ylabel(label)
            if trace[col].isna().all():
                note(ax, f"no {col} (latency off)")
                continue
            for k, (a, b) in enumerate(windows):
                ax.axvspan(
                    a,
                    b,
                    color="0.85",
                    zorder=0,
                    label="arrivals above capacity" if k == 0 else None,
                )
            missed = []
            for lam in lams:
                g = trace.loc[trace["lambda_cost"] == lam].sort_values("t")
                ax.plot(g["t"], g[col], color=colors[lam], linewidth=1.2, label=f"λ = {lam:g}")
                if budget is not None and g[col].iloc[-1] > budget:
                    missed.append(f"{lam:g}")
            if budget is not None:
                ax.axhline(budget, color="crimson", linestyle=":", linewidth=1.5, label=budget_name)
                text = (
                    f"ends over budget: λ = {', '.join(missed)}" if missed else "all λ end within"
                )
                ax.text(
                    0.99,
                    0.97,
                    text,
                    transform=ax.transAxes,
                    ha="right",
                    va="top",
                    fontsize="small",
                    color="crimson" if missed else "0.3",
                )
            ax.legend(fontsize="x-small", loc="best")
        for ax in axes[1]:
            ax.set_xlabel("request index t (stream order)")
        budget_cost = float(trace["budget_cost"].iloc[0])
        fig.suptitle(
            title_info.title(
                f"DACR against its budgets (B = {budget_cost:g} USD, δ = {budget_viol:g})"
            )
        )
        return save_png(fig, path)


def plot_budget_curve(curve: pd.DataFrame, path: str | Path, title_info: TitleInfo) -> Path:
    """Over a budget sweep: quality against realised mean cost (left) and the SLO violation
    rate against the cost budget (right), for DACR, mixllm_budget and the constrained oracle,
    one point per budget B (dotted: the budgets; dashed: delta).

    Parameters
    ----------
    curve
        ``budget_curve.parquet`` rows: ``policy, budget_cost, budget_viol, mean_cost,
        mean_quality, slo_violation_rate``.
    path, title_info
        Output PNG and title parts.
    """
    cols = ["policy", "budget_cost", "budget_viol", "mean_cost", "mean_quality"]
    require_columns(curve, [*cols, "slo_violation_rate"], "curve")
    if curve.empty:
        raise ValueError("budget curve is empty; nothing to plot")
    colors = palette(curve["policy"].astype(str))
    marks = markers(curve["policy"].astype(str))
    budgets = np.sort(curve["budget_cost"].unique())
    with mpl.rc_context(RC):
        fig, axes = new_figure("budget_curve", 1, 2)
        left, right = axes[0]
        for b in budgets:
            left.axvline(b, color="0.8", linestyle=":", linewidth=1.0, zorder=0)
        for name in ordered(set(curve["policy"].astype(str))):
            g = curve.loc[curve["policy"] == name].sort_values("budget_cost")
            style = dict(
                color=colors[name],
                marker=marks.get(name, "o"),
                linewidth=2.2 if name == "dacr" else 1.4,
                label=f"{name} (upper bound)" if name == "constrained_oracle" else name,
            )
            left.plot(g["mean_cost"], g["mean_quality"], **style)
            right.plot(g["budget_cost"], g["slo_violation_rate"], **style)
        right.axhline(
            float(curve["budget_viol"].iloc[0]), color="crimson", linestyle="--", label="δ"
        )
        for ax in (left, right):
            log_x(ax)
        left.set_xlabel("realised mean cost (USD per query; dotted: budgets B)")
        left.set_ylabel("mean quality (0–1)")
        right.set_xlabel("cost budget B (USD per query)")
        right.set_ylabel("SLO violation rate")
        right.legend(fontsize="small", loc="best")
        fig.suptitle(title_info.title("Quality and violations over a budget sweep"))
        return save_png(fig, path)


def plot_regret(curve: pd.DataFrame, path: str | Path, title_info: TitleInfo) -> Path:
    """Cumulative regret against the oracle over the stream: DACR and LinUCB at each λ, and
    every other non-baseline router (custom ones) at the middle λ of its grid or λ-free.

    Parameters
    ----------
    curve
        ``regret_curve.parquet`` rows: ``policy, lambda_cost, t, cumulative_regret``.
    path, title_info
        Output PNG and title parts.
    """
    require_columns(curve, ["policy", "lambda_cost", "t", "cumulative_regret"], "curve")
    if curve.empty:
        raise ValueError("regret curve is empty; nothing to plot")
    colors = palette(curve["policy"].astype(str))
    marks = markers(curve["policy"].astype(str))
    builtin = {"random", "cheapest", "always_strong", "cascade", "routellm", "knn", "llmrec"}
    with mpl.rc_context(RC):
        fig, axes = new_figure("regret")
        ax = axes[0, 0]
        for name in ordered(set(curve["policy"].astype(str)) - builtin):
            g = curve.loc[curve["policy"] == name]
            lams = np.sort(g["lambda_cost"].dropna().unique())
            shown = lams if name in ("dacr", "linucb") else lams[(len(lams) - 1) // 2 :][:1]
            for k, lam in enumerate(shown if len(lams) else [np.nan]):
                line = g if np.isnan(lam) else g.loc[g["lambda_cost"] == lam]
                label = name if np.isnan(lam) else f"{name} λ = {lam:g}"
                ax.plot(
                    line["t"],
                    line["cumulative_regret"],
                    color=colors[name],
                    linewidth=2.0 if name == "dacr" else 1.3,
                    linestyle=("-", "--", ":", "-.")[k % 4],
                    marker=marks.get(name, "o"),
                    markevery=max(1, len(line) // 8),
                    markersize=5,
                    label=label,
                )
        ax.set_xlabel("request index t (stream order)")
        ax.set_ylabel("cumulative regret vs the oracle (sum of quality gaps)")
        outside_legend(fig, ax)
        fig.suptitle(title_info.title("Cumulative regret against the oracle"))
        return save_png(fig, path)
