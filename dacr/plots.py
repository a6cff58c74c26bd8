"""Figures of an experiment: one function per figure, PNG with deterministic bytes.

Every function takes tables and an output path, draws on a :class:`~matplotlib.figure.Figure`
of fixed size and dpi rendered by the Agg canvas (no pyplot, so no global figure state and no
interactive backend), under a fixed style, and saves without the version metadata that would
change the bytes between installs. The same inputs give the same file. Titles name the figure,
the experiment, the dataset (``synthetic`` or ``RouterBench``) and the decision mode
(``predicted`` or ``oracle``); axes carry units; colour bars stand in for legends on heatmaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from dacr.io import write_with
from dacr.metrics import SINGLE_PREFIX, ndch

log = logging.getLogger(__name__)

DPI = 100
DATASET_LABELS = {"synthetic": "synthetic", "routerbench": "RouterBench"}
DECISION_MODES = ("predicted", "oracle")
#: Policies in a fixed order, so each keeps its colour and marker across figures.
POLICY_ORDER = (
    "random",
    "cheapest",
    "always_strong",
    "oracle",
    "cascade",
    "routellm",
    "mixllm",
    "llmrec",
    "knn",
    "dacr",
)
_MARKERS = {
    "random": "X",
    "cheapest": "v",
    "always_strong": "^",
    "oracle": "*",
    "cascade": "s",
    "routellm": "D",
    "mixllm": "o",
    "llmrec": "P",
    "knn": "h",
    "dacr": "o",
}
_STAGE_ORDER = ("raw", "calibrated", "online_end")
_SINGLE_COLOR = "0.6"
_RC = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.85),
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "axes.unicode_minus": True,
    "legend.frameon": False,
}
_SIZES = {
    "quality_cost": (10.0, 6.0),
    "violation_cost": (10.0, 6.0),
    "latency_cdf": (10.0, 6.0),
    "reliability": (14.0, 10.0),
    "dacr_trace": (12.0, 8.0),
    "domain_heatmap": (14.0, 8.0),
    "lodo_heatmap": (10.0, 6.0),
}


@dataclass(frozen=True)
class TitleInfo:
    """What every title names: experiment, dataset and decision mode.

    Parameters
    ----------
    experiment
        Experiment name from the config.
    dataset
        ``synthetic`` or ``routerbench`` (any case; shown as ``RouterBench``).
    decision_info
        ``predicted`` or ``oracle``: what the routers' cost and latency terms were.
    """

    experiment: str
    dataset: str
    decision_info: str

    def __post_init__(self) -> None:
        if str(self.dataset).lower() not in DATASET_LABELS:
            raise ValueError(
                f"dataset={self.dataset!r} is not valid; choose one of {list(DATASET_LABELS)}"
            )
        if self.decision_info not in DECISION_MODES:
            raise ValueError(
                f"decision_info={self.decision_info!r} is not valid; choose one of "
                f"{list(DECISION_MODES)}"
            )

    @classmethod
    def from_metrics(cls, metrics: pd.DataFrame, experiment: str) -> TitleInfo:
        """Read dataset and decision mode from a ``metrics.csv`` table (one value each)."""
        values = {}
        for col in ("dataset", "decision_info"):
            if col not in metrics.columns:
                raise KeyError(f"metrics: no column {col!r}; it has {list(metrics.columns)}")
            found = sorted(metrics[col].dropna().astype(str).unique())
            if len(found) != 1:
                raise ValueError(f"metrics: column {col!r} holds {found}; expected one value")
            values[col] = found[0]
        return cls(experiment, values["dataset"], values["decision_info"])

    def title(self, what: str) -> str:
        """``what`` over a line naming experiment, dataset and decision mode."""
        label = DATASET_LABELS[str(self.dataset).lower()]
        return (
            f"{what}\nexperiment {self.experiment} · {label} data · {self.decision_info} decisions"
        )


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _figure(kind: str, nrows: int = 1, ncols: int = 1, **kw) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=_SIZES[kind], dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _save(fig: Figure, path: str | Path) -> Path:
    """Write the PNG atomically; no Software/version metadata, so bytes depend on pixels only."""

    def writer(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})

    out = write_with(writer, path)
    log.info("wrote %s", out)
    return out


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: missing columns {missing}; it has {list(df.columns)}")


def _palette(policies: Sequence[str]) -> dict[str, tuple]:
    """Fixed colours: known policies by :data:`POLICY_ORDER`, others after them, sorted."""
    known = list(POLICY_ORDER)
    extra = sorted(p for p in set(policies) if p not in known and not p.startswith(SINGLE_PREFIX))
    colors = sns.color_palette("tab10", 10) + sns.color_palette("Dark2", 8)
    names = known + extra
    out = {name: colors[i % len(colors)] for i, name in enumerate(names)}
    out["oracle"] = (0.0, 0.0, 0.0)
    return out


def _base(policy: str) -> str:
    return policy.split(":")[0]


def _lambda_policies(df: pd.DataFrame) -> list[str]:
    """Policies with a λ sweep, in :data:`POLICY_ORDER`, then sorted."""
    names = set(df.loc[df["lambda_cost"].notna(), "policy"].astype(str))
    return _ordered(names)


def _ordered(names) -> list[str]:
    rank = {p: i for i, p in enumerate(POLICY_ORDER)}
    return sorted(names, key=lambda p: (rank.get(_base(p), len(rank)), p))


def _check_positive(values: pd.Series, column: str, what: str) -> None:
    bad = values.loc[values.notna() & (values <= 0)]
    if len(bad):
        raise ValueError(
            f"{what}: column {column!r} has {len(bad)} values <= 0 (e.g. {bad.iloc[0]}); "
            "the axis is log-scaled, so values must be > 0"
        )


def _log_x(ax: Axes, plain: bool = False) -> None:
    """Log x axis, minor ticks unlabelled; ``plain``: labels at 1, 2, 5 x 10^k as plain numbers
    (for ranges of about a decade, like latencies), else at decades as 10^k."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    if plain:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    # hide this panel's ticks only: set_xticks would empty every axis shared with it
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)


def _points(
    ax: Axes,
    metrics: pd.DataFrame,
    y: str,
    colors: dict[str, tuple],
    ci: pd.DataFrame | None = None,
    label_singles: bool = True,
) -> None:
    """Single models (grey), λ-free policies (markers), the oracle (star), λ curves (lines)."""
    policy = metrics["policy"].astype(str)
    single = metrics.loc[policy.str.startswith(SINGLE_PREFIX)].sort_values("policy")
    if len(single):
        ax.scatter(
            single["mean_cost"],
            single[y],
            color=_SINGLE_COLOR,
            marker="o",
            s=30,
            zorder=2,
            label="single models",
        )
        if label_singles:
            for cost, value, name in zip(
                single["mean_cost"], single[y], single["policy"], strict=True
            ):
                ax.annotate(
                    str(name)[len(SINGLE_PREFIX) :],
                    (cost, value),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=6,
                    color="0.4",
                )
    lam_free = metrics.loc[metrics["lambda_cost"].isna() & ~policy.str.startswith(SINGLE_PREFIX)]
    for name in _ordered(set(lam_free["policy"].astype(str))):
        row = lam_free.loc[lam_free["policy"] == name]
        is_oracle = name == "oracle"
        ax.scatter(
            row["mean_cost"],
            row[y],
            color=colors[name],
            marker=_MARKERS.get(name, "o"),
            s=160 if is_oracle else 60,
            zorder=4,
            edgecolor="white",
            linewidth=0.5,
            label="oracle (upper bound)" if is_oracle else name,
        )
    for name in _lambda_policies(metrics):
        curve = metrics.loc[(policy == name) & metrics["lambda_cost"].notna()]
        curve = curve.sort_values("lambda_cost")
        ax.plot(
            curve["mean_cost"],
            curve[y],
            color=colors[name],
            marker=_MARKERS.get(name, "o"),
            markersize=5,
            linewidth=2.4 if name == "dacr" else 1.4,
            zorder=5 if name == "dacr" else 3,
            label=f"{name} (λ sweep)",
        )
    if ci is not None:
        _error_bars(ax, metrics, ci, y, colors)


def _error_bars(
    ax: Axes, metrics: pd.DataFrame, ci: pd.DataFrame, y: str, colors: dict[str, tuple]
) -> None:
    cols = ["mean_cost_ci_low", "mean_cost_ci_high", f"{y}_ci_low", f"{y}_ci_high"]
    _require(ci, ["policy", "lambda_cost", *cols], "ci")
    merged = metrics.merge(ci[["policy", "lambda_cost", *cols]], on=["policy", "lambda_cost"])
    if merged.empty:
        raise ValueError("ci: no row matches a (policy, lambda_cost) of metrics")
    for name, g in merged.groupby("policy", sort=True):
        color = _SINGLE_COLOR if str(name).startswith(SINGLE_PREFIX) else colors[str(name)]
        ax.errorbar(
            g["mean_cost"],
            g[y],
            xerr=[g["mean_cost"] - g["mean_cost_ci_low"], g["mean_cost_ci_high"] - g["mean_cost"]],
            yerr=[g[y] - g[f"{y}_ci_low"], g[f"{y}_ci_high"] - g[y]],
            fmt="none",
            ecolor=color,
            elinewidth=0.8,
            capsize=2,
            alpha=0.7,
            zorder=1,
        )


def _legend(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


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
    _require(metrics, ["policy", "lambda_cost", "mean_cost", "mean_quality"], "metrics")
    _check_positive(metrics["mean_cost"], "mean_cost", "plot_quality_cost")
    colors = _palette(metrics["policy"].astype(str))
    with mpl.rc_context(_RC):
        fig, axes = _figure("quality_cost")
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
        _points(ax, metrics, "mean_quality", colors, ci)
        _log_x(ax)
        ax.set_xlabel("mean cost per query (USD, log scale)")
        ax.set_ylabel("mean quality (0–1)")
        ax.set_title(title_info.title("Quality vs cost"))
        _legend(fig, ax)
        return _save(fig, path)


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
    _require(metrics, ["policy", "lambda_cost", "mean_cost", "slo_violation_rate"], "metrics")
    _check_positive(metrics["mean_cost"], "mean_cost", "plot_violation_cost")
    colors = _palette(metrics["policy"].astype(str))
    with mpl.rc_context(_RC):
        fig, axes = _figure("violation_cost")
        ax = axes[0, 0]
        ax.set_xlabel("mean cost per query (USD, log scale)")
        ax.set_ylabel("SLO violation rate (fraction of queries over τ)")
        ax.set_title(title_info.title("SLO violation rate vs cost"))
        if metrics["slo_violation_rate"].isna().all():
            log.warning("plot_violation_cost: slo_violation_rate is empty (latency off)")
            _note(ax, "no SLO data: latency simulation is off for this experiment")
            return _save(fig, path)
        present = metrics.loc[metrics["slo_violation_rate"].notna()]
        _points(ax, present, "slo_violation_rate", colors)
        if delta is not None:
            ax.axhline(delta, color="crimson", linestyle=":", label=f"budget δ = {delta:g}")
        _log_x(ax)
        _legend(fig, ax)
        return _save(fig, path)


def _pick_lambda(df: pd.DataFrame, lam: float | None, what: str) -> float | None:
    grid = np.sort(df["lambda_cost"].dropna().unique())
    if grid.size == 0:
        return None
    if lam is None:
        return float(grid[(grid.size - 1) // 2])  # the middle of the grid (lower median)
    if not np.isclose(grid, lam, rtol=1e-12, atol=0).any():
        raise ValueError(f"{what}: lambda_cost={lam} is not in the grid {grid.tolist()}")
    return float(grid[np.isclose(grid, lam, rtol=1e-12, atol=0)][0])


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
        The written file (1000 x 600 px). With latency off the figure says so.
    """
    _require(per_query, ["policy", "lambda_cost", "latency_s"], "per_query")
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau={tau}: the SLO threshold must be a positive number of seconds")
    _check_positive(per_query["latency_s"], "latency_s", "plot_latency_cdf")
    lam = _pick_lambda(per_query, lam, "plot_latency_cdf")
    colors = _palette(per_query["policy"].astype(str))
    with mpl.rc_context(_RC):
        fig, axes = _figure("latency_cdf")
        ax = axes[0, 0]
        ax.set_xlabel("latency (s, log scale)")
        ax.set_ylabel("fraction of queries with latency ≤ x")
        lam_text = "" if lam is None else f" (λ policies at λ = {lam:g})"
        ax.set_title(title_info.title(f"Latency CDF{lam_text}"))
        if per_query["latency_s"].isna().all():
            log.warning("plot_latency_cdf: latency_s is empty (latency off)")
            _note(ax, "no latency data: latency simulation is off for this experiment")
            return _save(fig, path)
        lat_mask = per_query["lambda_cost"].isna()
        if lam is not None:
            lat_mask |= np.isclose(per_query["lambda_cost"], lam, rtol=1e-12, atol=0)
        chosen = per_query.loc[lat_mask]
        single_label = "single models"
        for name in _ordered(set(chosen["policy"].astype(str))):
            v = chosen.loc[chosen["policy"] == name, "latency_s"].to_numpy(float)
            if np.isnan(v).any():
                log.warning(
                    "plot_latency_cdf: %s has %d NaN latencies, left out", name, np.isnan(v).sum()
                )
                v = v[~np.isnan(v)]
            if v.size == 0:
                continue
            x = np.sort(v)
            y = np.arange(1, x.size + 1) / x.size
            if name.startswith(SINGLE_PREFIX):
                ax.step(x, y, where="post", color=_SINGLE_COLOR, linewidth=0.8, label=single_label)
                single_label = "_nolegend_"
            else:
                ax.step(
                    x,
                    y,
                    where="post",
                    color=colors[name],
                    linewidth=2.2 if name == "dacr" else 1.3,
                    label="oracle (upper bound)" if name == "oracle" else name,
                )
        ax.axvline(tau, color="crimson", linestyle=":", linewidth=1.5, label=f"SLO τ = {tau:g} s")
        _log_x(ax, plain=True)
        ax.set_ylim(0, 1.01)
        _legend(fig, ax)
        return _save(fig, path)


def plot_reliability(calib_curves: pd.DataFrame, path: str | Path, title_info: TitleInfo) -> Path:
    """Reliability diagrams, one facet per model, one line per stage.

    Parameters
    ----------
    calib_curves
        ``model, stage, p_mean, y_mean, n`` (e.g. :func:`dacr.metrics.reliability_table`), at
        most one curve per (model, stage); stages ``raw``, ``calibrated``, ``online_end`` and
        any others. Empty bins (``n = 0``) are skipped.
    path, title_info
        Output PNG and title parts.

    Returns
    -------
    pathlib.Path
        The written file (1400 x 1000 px); up to four facets per row.
    """
    _require(calib_curves, ["model", "stage", "p_mean", "y_mean", "n"], "calib_curves")
    if "bin" in calib_curves.columns:
        dup = calib_curves.duplicated(["model", "stage", "bin"])
        if dup.any():
            row = calib_curves.loc[dup].iloc[0]
            raise ValueError(
                f"calib_curves: model {row['model']!r} stage {row['stage']!r} has several curves "
                "(one per lambda?); keep one curve per (model, stage)"
            )
    models = sorted(calib_curves["model"].astype(str).unique())
    if not models:
        raise ValueError("calib_curves is empty")
    stages = list(calib_curves["stage"].astype(str).unique())
    stages = [s for s in _STAGE_ORDER if s in stages] + sorted(set(stages) - set(_STAGE_ORDER))
    stage_colors = dict(zip(stages, sns.color_palette("colorblind", len(stages)), strict=True))
    ncols = min(4, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    with mpl.rc_context(_RC):
        fig, axes = _figure("reliability", nrows, ncols, sharex=True, sharey=True)
        filled = calib_curves.loc[calib_curves["n"] > 0]
        for i, ax in enumerate(axes.ravel()):
            if i >= len(models):
                ax.set_axis_off()
                continue
            model = models[i]
            ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="perfect")
            for stage in stages:
                curve = filled.loc[(filled["model"] == model) & (filled["stage"] == stage)]
                curve = curve.sort_values("p_mean")
                ax.plot(
                    curve["p_mean"],
                    curve["y_mean"],
                    marker="o",
                    markersize=3,
                    color=stage_colors[stage],
                    label=stage,
                )
            ax.set_title(model, fontsize="small")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            if i // ncols == nrows - 1 or i + ncols >= len(models):
                ax.set_xlabel("predicted quality (bin mean, 0–1)")
            if i % ncols == 0:
                ax.set_ylabel("observed quality (bin mean, 0–1)")
        fig.suptitle(title_info.title("Reliability of predicted quality per model"))
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
        return _save(fig, path)


def plot_dacr_trace(
    trace: pd.DataFrame,
    budget_cost: float | None,
    budget_viol: float | None,
    path: str | Path,
    title_info: TitleInfo,
) -> Path:
    """DACR's dual prices and running cost and violation rate over the stream, per λ.

    Parameters
    ----------
    trace
        ``dacr_trace.parquet`` rows: ``t, lambda_cost, mu_c, mu_l, running_mean_cost,
        running_violation_rate``.
    budget_cost
        Cost budget B (USD per query), drawn on the running-cost panel; None for no line.
    budget_viol
        Violation budget δ, drawn on the running-violation panel; None for no line.
    path, title_info
        Output PNG and title parts.

    Returns
    -------
    pathlib.Path
        The written file (1200 x 800 px), four panels sharing the stream axis.
    """
    cols = ["t", "lambda_cost", "mu_c", "mu_l", "running_mean_cost", "running_violation_rate"]
    _require(trace, cols, "trace")
    if trace.empty:
        raise ValueError("trace is empty; nothing to plot")
    lams = np.sort(trace["lambda_cost"].unique())
    colors = dict(zip(lams, sns.color_palette("viridis", len(lams)), strict=True))
    panels = [
        ("mu_c", "cost multiplier μ_c (quality per USD)", None, None),
        ("mu_l", "latency multiplier μ_ℓ (quality per violation)", None, None),
        ("running_mean_cost", "running mean cost (USD per query)", budget_cost, "budget B"),
        ("running_violation_rate", "running SLO violation rate (fraction)", budget_viol, "δ"),
    ]
    with mpl.rc_context(_RC):
        fig, axes = _figure("dacr_trace", 2, 2, sharex=True)
        for ax, (col, label, budget, budget_name) in zip(axes.ravel(), panels, strict=True):
            ax.set_ylabel(label)
            if trace[col].isna().all():
                _note(ax, f"no {col} (latency off)")
                continue
            for lam in lams:
                g = trace.loc[trace["lambda_cost"] == lam].sort_values("t")
                ax.plot(g["t"], g[col], color=colors[lam], linewidth=1.2, label=f"λ = {lam:g}")
            if budget is not None:
                ax.axhline(
                    budget,
                    color="crimson",
                    linestyle=":",
                    linewidth=1.5,
                    label=f"{budget_name} = {budget:g}",
                )
            ax.legend(fontsize="x-small", loc="best")
        for ax in axes[1]:
            ax.set_xlabel("request index t (stream order)")
        fig.suptitle(title_info.title("DACR dual prices and budgets over the stream"))
        return _save(fig, path)


def _heatmap(
    ax: Axes, table: pd.DataFrame, label: str, vmin: float | None, vmax: float | None
) -> None:
    annot = table.size <= 400  # numbers stay legible up to ~20 x 20 cells
    sns.heatmap(
        table,
        ax=ax,
        cmap="viridis",
        vmin=vmin,
        vmax=vmax,
        annot=annot,
        fmt=".2f",
        annot_kws={"fontsize": 7},
        linewidths=0.3,
        cbar_kws={"label": label},
    )
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.tick_params(axis="y", labelrotation=0, labelsize=7)


def plot_domain_heatmap(
    metrics_by_domain: pd.DataFrame,
    path: str | Path,
    title_info: TitleInfo,
    *,
    lam: float | None = None,
    value: str = "mean_quality",
) -> Path:
    """Mean quality (or another metric) by policy x domain; λ policies at one λ.

    Parameters
    ----------
    metrics_by_domain
        ``metrics_by_domain.csv`` rows: ``policy, lambda_cost, domain`` and ``value``.
    path, title_info
        Output PNG and title parts.
    lam
        λ of the λ policies; default the middle of their grid (lower median).
    value
        Column to show; the colour scale is fixed to [0, 1] for qualities and rates.

    Returns
    -------
    pathlib.Path
        The written file (1400 x 800 px). The colour bar is the legend.
    """
    _require(metrics_by_domain, ["policy", "lambda_cost", "domain", value], "metrics_by_domain")
    lam = _pick_lambda(metrics_by_domain, lam, "plot_domain_heatmap")
    df = metrics_by_domain
    keep = df["lambda_cost"].isna()
    if lam is not None:
        keep |= np.isclose(df["lambda_cost"], lam, rtol=1e-12, atol=0)
    df = df.loc[keep]
    if df.duplicated(["policy", "domain"]).any():
        raise ValueError("metrics_by_domain: several rows per (policy, domain) at the chosen λ")
    order = _ordered(set(df["policy"].astype(str)))
    order = [p for p in order if not p.startswith(SINGLE_PREFIX)] + [
        p for p in order if p.startswith(SINGLE_PREFIX)
    ]
    table = df.pivot(index="policy", columns="domain", values=value).reindex(order)
    table = table.reindex(columns=sorted(table.columns, key=str))
    lam_policies = set(_lambda_policies(df))
    table.index = [f"{p} (λ = {lam:g})" if p in lam_policies else p for p in table.index]
    bounded = value.startswith("mean_quality") or value.endswith("_rate")
    with mpl.rc_context(_RC):
        fig, axes = _figure("domain_heatmap")
        ax = axes[0, 0]
        _heatmap(
            ax, table, value.replace("_", " "), 0.0 if bounded else None, 1.0 if bounded else None
        )
        ax.set_xlabel("domain")
        ax.set_ylabel("policy")
        ax.set_title(
            title_info.title(f"{value.replace('_', ' ').capitalize()} by policy and domain")
        )
        return _save(fig, path)


def plot_lodo_heatmap(matrix: pd.DataFrame, path: str | Path, title_info: TitleInfo) -> Path:
    """Leave-one-domain-out results: mean quality on each held-out family, per policy.

    Parameters
    ----------
    matrix
        Rows: held-out domain family (index), columns: policy, values: mean quality (0–1).
    path, title_info
        Output PNG and title parts.

    Returns
    -------
    pathlib.Path
        The written file (1000 x 600 px). The colour bar is the legend.
    """
    if matrix.empty:
        raise ValueError("matrix is empty; expected held-out families x policies")
    values = matrix.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(
            f"matrix holds values in [{finite.min()}, {finite.max()}]; expected mean quality "
            "in [0, 1]"
        )
    table = matrix.reindex(columns=_ordered([str(c) for c in matrix.columns]))
    with mpl.rc_context(_RC):
        fig, axes = _figure("lodo_heatmap")
        ax = axes[0, 0]
        _heatmap(ax, table, "mean quality on held-out family (0–1)", 0.0, 1.0)
        ax.set_xlabel("policy")
        ax.set_ylabel("held-out domain family")
        ax.set_title(title_info.title("Leave-one-domain-out: mean quality"))
        return _save(fig, path)
