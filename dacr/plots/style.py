"""Shared style of the figures: sizes, colours and markers per policy, titles, saving."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from dacr.io import write_with
from dacr.metrics import SINGLE_PREFIX

log = logging.getLogger(__name__)

DPI = 100
DATASET_LABELS = {"synthetic": "synthetic", "routerbench": "RouterBench", "custom": "custom"}
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
    "linucb",
    "constrained_oracle",
    "mixllm_budget",
    "llmrec_budget",
)
# One colour and one marker per router, the same in every figure. tab20's dark shades for the
# main routers, the light shade of the same hue for a budgeted variant; no router is grey
# (grey is for single models), black is the oracle.
_TAB20 = sns.color_palette("tab20", 20)
COLORS = {
    "random": _TAB20[10],
    "cheapest": _TAB20[2],
    "always_strong": _TAB20[4],
    "oracle": (0.0, 0.0, 0.0),
    "cascade": _TAB20[8],
    "routellm": _TAB20[0],
    "mixllm": _TAB20[12],
    "llmrec": _TAB20[16],
    "knn": _TAB20[18],
    "dacr": _TAB20[6],
    "linucb": _TAB20[5],
    "constrained_oracle": _TAB20[9],
    "mixllm_budget": _TAB20[13],
    "llmrec_budget": _TAB20[17],
}
MARKERS = {
    "random": "X",
    "cheapest": "v",
    "always_strong": "^",
    "oracle": "*",
    "cascade": "s",
    "routellm": "D",
    "mixllm": "<",
    "llmrec": "P",
    "knn": "h",
    "dacr": "o",
    "linucb": "8",
    "constrained_oracle": ">",
    "mixllm_budget": "p",
    "llmrec_budget": "d",
}
# Routers of one's own (custom policies) take these in name order, then cycle.
_EXTRA_COLORS = [_TAB20[i] for i in (3, 19, 7, 1, 11)] + sns.color_palette("Dark2", 7)
# (sides, style, angle): 1 = a star of that many points, 0 = a regular polygon.
_EXTRA_MARKERS = ("H", (4, 1, 0), (6, 1, 0), (7, 0, 0), (8, 1, 0), (3, 1, 0), (5, 1, 36))
STAGE_ORDER = ("raw", "calibrated", "online_end")
SINGLE_COLOR = "0.6"
RC = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("notebook", font_scale=0.85),
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs everywhere
    "axes.unicode_minus": True,
    "legend.frameon": False,
}
SIZES = {
    "quality_cost": (10.0, 6.0),
    "violation_cost": (10.0, 6.0),
    "latency_cdf": (13.0, 6.0),
    "reliability": (14.0, 10.0),
    "dacr_trace": (12.0, 8.0),
    "budget_curve": (13.0, 5.5),
    "regret": (11.0, 6.0),
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
        ``synthetic``, ``routerbench`` (any case; shown as ``RouterBench``) or ``custom`` (a
        generic table of one's own).
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


def new_figure(
    kind: str, nrows: int = 1, ncols: int = 1, size: tuple[float, float] | None = None, **kw
) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=size or SIZES[kind], dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write the PNG atomically; no Software/version metadata, so bytes depend on pixels only."""

    def writer(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})

    out = write_with(writer, path)
    log.info("wrote %s", out)
    return out


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: missing columns {missing}; it has {list(df.columns)}")


def _extras(policies: Sequence[str]) -> list[str]:
    return sorted(
        {base_policy(p) for p in policies}
        - set(COLORS)
        - {p for p in policies if p.startswith(SINGLE_PREFIX)}
    )


def palette(policies: Sequence[str]) -> dict[str, tuple]:
    """Fixed colours: known policies by :data:`COLORS`, others (sorted) after them."""
    extra = _extras(policies)
    return {
        **COLORS,
        **{p: _EXTRA_COLORS[i % len(_EXTRA_COLORS)] for i, p in enumerate(extra)},
    }


def markers(policies: Sequence[str]) -> dict[str, str | tuple]:
    """Fixed markers: known policies by :data:`MARKERS`, others (sorted) after them."""
    extra = _extras(policies)
    return {
        **MARKERS,
        **{p: _EXTRA_MARKERS[i % len(_EXTRA_MARKERS)] for i, p in enumerate(extra)},
    }


def base_policy(policy: str) -> str:
    return policy.split(":")[0]


def lambda_policies(df: pd.DataFrame) -> list[str]:
    """Policies with a λ sweep, in :data:`POLICY_ORDER`, then sorted."""
    names = set(df.loc[df["lambda_cost"].notna(), "policy"].astype(str))
    return ordered(names)


def ordered(names) -> list[str]:
    rank = {p: i for i, p in enumerate(POLICY_ORDER)}
    return sorted(names, key=lambda p: (rank.get(base_policy(p), len(rank)), p))


def check_positive(values: pd.Series, column: str, what: str) -> None:
    bad = values.loc[values.notna() & (values <= 0)]
    if len(bad):
        raise ValueError(
            f"{what}: column {column!r} has {len(bad)} values <= 0 (e.g. {bad.iloc[0]}); "
            "the axis is log-scaled, so values must be > 0"
        )


def log_x(ax: Axes, plain: bool = False) -> None:
    """Log x axis, minor ticks unlabelled; ``plain``: labels at 1, 2, 5 x 10^k as plain numbers
    (for ranges of about a decade, like latencies), else at decades as 10^k."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    if plain:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    # hide this panel's ticks only: set_xticks would empty every axis shared with it
    ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
    ax.grid(False)


def label_points(ax: Axes, xs, ys, names) -> None:
    """Small grey labels beside points, moved apart so that none overlaps another or a point
    (adjustText, a fixed number of iterations: the same bytes on every run)."""
    from adjustText import adjust_text

    ax.figure.draw_without_rendering()  # settle the layout first: labels move in pixels
    texts = [
        ax.text(x, y, str(name), fontsize=6, color="0.35", zorder=7)
        for x, y, name in zip(xs, ys, names, strict=True)
    ]
    if texts:
        adjust_text(
            texts,
            x=list(xs),
            y=list(ys),
            ax=ax,
            iter_lim=500,
            time_lim=None,
            expand=(1.2, 1.6),
            force_text=(0.3, 0.5),
            arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5},
        )


def draw_points(
    ax: Axes,
    metrics: pd.DataFrame,
    y: str,
    colors: dict[str, tuple],
    ci: pd.DataFrame | None = None,
) -> None:
    """Single models (hollow grey), λ curves (lines), then the λ-free policies and the oracles
    on top, so that a router at a single model's point (``cheapest``) stays seen. Label the
    single models with :func:`label_singles` once the axes are scaled."""
    policy = metrics["policy"].astype(str)
    marks = markers(policy)
    single = metrics.loc[policy.str.startswith(SINGLE_PREFIX)].sort_values("policy")
    if len(single):
        ax.scatter(
            single["mean_cost"],
            single[y],
            facecolor="none",
            edgecolor=SINGLE_COLOR,
            marker="o",
            s=55,
            linewidth=1.2,
            zorder=2,
            label="single models",
        )
    for name in lambda_policies(metrics):
        curve = metrics.loc[(policy == name) & metrics["lambda_cost"].notna()]
        curve = curve.sort_values("lambda_cost")
        ax.plot(
            curve["mean_cost"],
            curve[y],
            color=colors[name],
            marker=marks.get(name, "o"),
            markersize=5,
            linewidth=2.4 if name == "dacr" else 1.4,
            zorder=5 if name == "dacr" else 3,
            label=f"{name} (λ sweep)",
        )
    lam_free = metrics.loc[metrics["lambda_cost"].isna() & ~policy.str.startswith(SINGLE_PREFIX)]
    for name in ordered(set(lam_free["policy"].astype(str))):
        row = lam_free.loc[lam_free["policy"] == name]
        is_oracle = name in ("oracle", "constrained_oracle")
        ax.scatter(
            row["mean_cost"],
            row[y],
            color=colors[name],
            marker=marks.get(name, "o"),
            s=170 if is_oracle else 75,
            zorder=6,
            edgecolor="white",
            linewidth=0.7,
            label=f"{name} (upper bound)" if is_oracle else name,
        )
    if ci is not None:
        error_bars(ax, metrics, ci, y, colors)


def label_singles(ax: Axes, metrics: pd.DataFrame, y: str) -> None:
    """Name each single model's point (call after the axis scales are set)."""
    single = metrics.loc[metrics["policy"].astype(str).str.startswith(SINGLE_PREFIX)]
    single = single.loc[single[y].notna()].sort_values("policy")
    names = [str(n)[len(SINGLE_PREFIX) :] for n in single["policy"]]
    label_points(ax, single["mean_cost"].to_numpy(), single[y].to_numpy(), names)


def error_bars(
    ax: Axes, metrics: pd.DataFrame, ci: pd.DataFrame, y: str, colors: dict[str, tuple]
) -> None:
    cols = ["mean_cost_ci_low", "mean_cost_ci_high", f"{y}_ci_low", f"{y}_ci_high"]
    require_columns(ci, ["policy", "lambda_cost", *cols], "ci")
    merged = metrics.merge(ci[["policy", "lambda_cost", *cols]], on=["policy", "lambda_cost"])
    if merged.empty:
        raise ValueError("ci: no row matches a (policy, lambda_cost) of metrics")
    for name, g in merged.groupby("policy", sort=True):
        color = SINGLE_COLOR if str(name).startswith(SINGLE_PREFIX) else colors[str(name)]
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


def outside_legend(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")


def pick_lambda(df: pd.DataFrame, lam: float | None, what: str) -> float | None:
    grid = np.sort(df["lambda_cost"].dropna().unique())
    if grid.size == 0:
        return None
    if lam is None:
        return float(grid[(grid.size - 1) // 2])  # the middle of the grid (lower median)
    if not np.isclose(grid, lam, rtol=1e-12, atol=0).any():
        raise ValueError(f"{what}: lambda_cost={lam} is not in the grid {grid.tolist()}")
    return float(grid[np.isclose(grid, lam, rtol=1e-12, atol=0)][0])
