"""Router comparison figures: quality and violations against cost, latency CDFs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from dacr.metrics import SINGLE_PREFIX, ndch
from dacr.plots.style import (
    RC,
    SINGLE_COLOR,
    TitleInfo,
    check_positive,
    draw_points,
    label_singles,
    log,
    log_x,
    markers,
    new_figure,
    note,
    ordered,
    outside_legend,
    palette,
    pick_lambda,
    require_columns,
    save_png,
)


def plot_quality_cost(
    metrics: pd.DataFrame,
    path: str | Path,
    title_info: TitleInfo,
    *,
    ci: pd.DataFrame | None = None,
    hull: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Path:
    """Mean quality against mean cost: λ curves, λ-free points, single models, the zero router.

    Parameters
    ----------
    metrics
        ``metrics.csv`` rows: ``policy, lambda_cost, mean_cost, mean_quality``.
    path
        Output PNG.
    title_info
        Experiment, dataset and decision mode for the title.
    ci
        Optional :func:`dacr.metrics.bootstrap_ci` output; draws cost and quality error bars.
    hull
        Zero-router points ``(cost, quality)``; default the single models of ``metrics``. Drawn
        as their NDCH (dashed), flat up to the largest cost shown, as AIQ integrates it.

    Returns
    -------
    pathlib.Path
        The written file (1000 x 600 px).
    """
    require_columns(metrics, ["policy", "lambda_cost", "mean_cost", "mean_quality"], "metrics")
    check_positive(metrics["mean_cost"], "mean_cost", "plot_quality_cost")
    colors = palette(metrics["policy"].astype(str))
    with mpl.rc_context(RC):
        fig, axes = new_figure("quality_cost")
        ax = axes[0, 0]
        if hull is None:
            single = metrics.loc[metrics["policy"].astype(str).str.startswith(SINGLE_PREFIX)]
            if len(single):
                hull = (single["mean_cost"], single["mean_quality"])
        if hull is not None:
            ch, qh = ndch(*hull, name="zero router")
            c_end = max(float(metrics["mean_cost"].max()), float(ch[-1]))
            ax.plot(
                np.r_[ch, c_end],
                np.r_[qh, qh[-1]],
                linestyle="--",
                color="0.35",
                linewidth=1.2,
                zorder=1,
                label="zero router (NDCH of single models)",
            )
        draw_points(ax, metrics, "mean_quality", colors, ci)
        log_x(ax)
        ax.set_xlabel("mean cost per query (USD, log scale)")
        ax.set_ylabel("mean quality (0–1)")
        ax.set_title(title_info.title("Quality vs cost"))
        outside_legend(fig, ax)
        label_singles(ax, metrics, "mean_quality")
        return save_png(fig, path)


def plot_violation_cost(
    metrics: pd.DataFrame,
    path: str | Path,
    title_info: TitleInfo,
    *,
    delta: float | None = None,
) -> Path:
    """SLO violation rate against mean cost, styled as :func:`plot_quality_cost`.

    Parameters
    ----------
    metrics
        ``metrics.csv`` rows: ``policy, lambda_cost, mean_cost, slo_violation_rate``.
    path, title_info
        Output PNG and title parts.
    delta
        Optional violation budget δ, drawn as a horizontal line.

    Returns
    -------
    pathlib.Path
        The written file (1000 x 600 px). When latency is off (the rate is empty) the figure
        says so instead of showing points, and a warning is logged.
    """
    require_columns(
        metrics, ["policy", "lambda_cost", "mean_cost", "slo_violation_rate"], "metrics"
    )
    check_positive(metrics["mean_cost"], "mean_cost", "plot_violation_cost")
    colors = palette(metrics["policy"].astype(str))
    with mpl.rc_context(RC):
        fig, axes = new_figure("violation_cost")
        ax = axes[0, 0]
        ax.set_xlabel("mean cost per query (USD, log scale)")
        ax.set_ylabel("SLO violation rate (fraction of queries over τ)")
        ax.set_title(title_info.title("SLO violation rate vs cost"))
        if metrics["slo_violation_rate"].isna().all():
            log.warning("plot_violation_cost: slo_violation_rate is empty (latency off)")
            note(ax, "no SLO data: latency simulation is off for this experiment")
            return save_png(fig, path)
        present = metrics.loc[metrics["slo_violation_rate"].notna()]
        draw_points(ax, present, "slo_violation_rate", colors)
        if delta is not None:
            ax.axhline(delta, color="crimson", linestyle=":", label=f"budget δ = {delta:g}")
        log_x(ax)
        outside_legend(fig, ax)
        label_singles(ax, present, "slo_violation_rate")
        return save_png(fig, path)


def plot_latency_cdf(
    per_query: pd.DataFrame,
    tau: float,
    path: str | Path,
    title_info: TitleInfo,
    *,
    lam: float | None = None,
) -> Path:
    """Empirical CDF of realised latency per policy, λ policies at one λ, with the SLO τ.

    Parameters
    ----------
    per_query
        ``per_query.parquet`` rows: ``policy, lambda_cost, latency_s``.
    tau
        SLO latency threshold τ (s), drawn as a vertical line.
    path, title_info
        Output PNG and title parts.
    lam
        λ of the λ policies; default the middle of their grid (lower median).

    Returns
    -------
    pathlib.Path
        The written file (1300 x 600 px): CDFs (left), median to p95 per router (right).
        With latency off the figure says so.
    """
    require_columns(per_query, ["policy", "lambda_cost", "latency_s"], "per_query")
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau={tau}: the SLO threshold must be a positive number of seconds")
    check_positive(per_query["latency_s"], "latency_s", "plot_latency_cdf")
    lam = pick_lambda(per_query, lam, "plot_latency_cdf")
    colors = palette(per_query["policy"].astype(str))
    with mpl.rc_context(RC):
        fig, axes = new_figure("latency_cdf", 1, 2, width_ratios=(3, 2))
        ax = axes[0, 0]
        ax.set_xlabel("latency (s, log scale)")
        ax.set_ylabel("fraction of queries with latency ≤ x")
        lam_text = "" if lam is None else f" (λ policies at λ = {lam:g})"
        fig.suptitle(title_info.title(f"Realised latency{lam_text}"))
        if per_query["latency_s"].isna().all():
            log.warning("plot_latency_cdf: latency_s is empty (latency off)")
            note(ax, "no latency data: latency simulation is off for this experiment")
            axes[0, 1].set_axis_off()
            return save_png(fig, path)
        lat_mask = per_query["lambda_cost"].isna()
        if lam is not None:
            lat_mask |= np.isclose(per_query["lambda_cost"], lam, rtol=1e-12, atol=0)
        latencies = _latencies(per_query.loc[lat_mask])
        _cdf_panel(ax, latencies, colors, markers(list(latencies)))
        ax.axvline(tau, color="crimson", linestyle=":", linewidth=1.5, label=f"SLO τ = {tau:g} s")
        log_x(ax, plain=True)
        ax.set_ylim(0, 1.01)
        _quantile_panel(axes[0, 1], latencies, tau, colors, markers(list(latencies)))
        outside_legend(fig, ax)
        return save_png(fig, path)


def _latencies(chosen: pd.DataFrame) -> dict[str, np.ndarray]:
    """Sorted finite latencies per policy (NaNs left out with a warning), in policy order."""
    out = {}
    for name in ordered(set(chosen["policy"].astype(str))):
        v = chosen.loc[chosen["policy"] == name, "latency_s"].to_numpy(float)
        if np.isnan(v).any():
            log.warning(
                "plot_latency_cdf: %s has %d NaN latencies, left out", name, np.isnan(v).sum()
            )
            v = v[~np.isnan(v)]
        if v.size:
            out[name] = np.sort(v)
    return out


def _cdf_panel(ax, latencies: dict, colors: dict, marks: dict) -> None:
    """Router CDFs (a marker every tenth of the queries), single models as a grey band from
    the fastest to the slowest single model's CDF."""
    singles = {k: v for k, v in latencies.items() if k.startswith(SINGLE_PREFIX)}
    if singles:
        lo = min(v[0] for v in singles.values())
        hi = max(v[-1] for v in singles.values())
        grid = np.geomspace(lo, hi, 400)
        cdfs = np.array([np.searchsorted(v, grid, side="right") / v.size for v in singles.values()])
        ax.fill_between(
            grid,
            cdfs.min(axis=0),
            cdfs.max(axis=0),
            step="post",
            color=SINGLE_COLOR,
            alpha=0.25,
            linewidth=0,
            label=f"single models (range of {len(singles)})",
        )
    for name, x in latencies.items():
        if name.startswith(SINGLE_PREFIX):
            continue
        y = np.arange(1, x.size + 1) / x.size
        ax.step(
            x,
            y,
            where="post",
            color=colors[name],
            linewidth=2.2 if name == "dacr" else 1.2,
            marker=marks.get(name, "o"),
            markevery=max(1, x.size // 10),
            markersize=5,
            label="oracle (upper bound)" if name == "oracle" else name,
        )


def _quantile_panel(ax, latencies: dict, tau: float, colors: dict, marks: dict) -> None:
    """Per router, median to p95 latency as a bar (sorted by p95) and the share over τ."""
    routers = {k: v for k, v in latencies.items() if not k.startswith(SINGLE_PREFIX)}
    stats = sorted(
        (
            (np.quantile(v, 0.5), np.quantile(v, 0.95), float(np.mean(v > tau)), k)
            for k, v in routers.items()
        ),
        key=lambda r: r[1],
    )
    for i, (p50, p95, over, name) in enumerate(stats):
        ax.plot([p50, p95], [i, i], color=colors[name], linewidth=2.5, solid_capstyle="butt")
        ax.scatter([p50], [i], color=colors[name], marker=marks.get(name, "o"), s=45, zorder=3)
        ax.plot([p95], [i], marker="|", color=colors[name], markersize=10)
        ax.annotate(
            f"{100 * over:.0f} % > τ",
            (p95, i),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.axvline(tau, color="crimson", linestyle=":", linewidth=1.5)
    ax.set_yticks(range(len(stats)), [r[3] for r in stats], fontsize=7)
    log_x(ax, plain=True)
    if stats:  # room for the "% > τ" notes right of the longest bar
        ax.set_xlim(min(r[0] for r in stats) / 1.3, max(max(r[1] for r in stats), tau) * 1.8)
    ax.set_xlabel("latency (s): median (marker) to p95 (bar end)")
    ax.grid(axis="y", visible=False)
