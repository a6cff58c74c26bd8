"""Heatmaps: quality by held-out domain, leave-one-domain-out matrices."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from dacr.metrics import SINGLE_PREFIX
from dacr.plots.style import (
    RC,
    TitleInfo,
    lambda_policies,
    new_figure,
    ordered,
    pick_lambda,
    require_columns,
    save_png,
)


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
        xticklabels=True,  # every column and row named, however many
        yticklabels=True,
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
        The written file (at least 1400 x 800 px, more for many domains; with over 30
        domains they are rows). The colour bar is the legend.
    """
    require_columns(
        metrics_by_domain, ["policy", "lambda_cost", "domain", value], "metrics_by_domain"
    )
    lam = pick_lambda(metrics_by_domain, lam, "plot_domain_heatmap")
    df = metrics_by_domain
    keep = df["lambda_cost"].isna()
    if lam is not None:
        keep |= np.isclose(df["lambda_cost"], lam, rtol=1e-12, atol=0)
    df = df.loc[keep]
    if df.duplicated(["policy", "domain"]).any():
        raise ValueError("metrics_by_domain: several rows per (policy, domain) at the chosen λ")
    order = ordered(set(df["policy"].astype(str)))
    order = [p for p in order if not p.startswith(SINGLE_PREFIX)] + [
        p for p in order if p.startswith(SINGLE_PREFIX)
    ]
    table = df.pivot(index="policy", columns="domain", values=value).reindex(order)
    table = table.reindex(columns=sorted(table.columns, key=str))
    lam_policies = set(lambda_policies(df))
    table.index = [f"{p} (λ = {lam:g})" if p in lam_policies else p for p in table.index]
    if "n" in df.columns:  # every policy routes the same test queries: one n per domain
        n = df.groupby("domain", observed=True)["n"].max()
        table.columns = [f"{d} (n={int(n[d])})" for d in table.columns]
    bounded = value.startswith("mean_quality") or value.endswith("_rate")
    many = table.shape[1] > 30  # many domains: one row each, the figure grows downwards
    if many:
        table = table.T
    with mpl.rc_context(RC):
        fig, axes = new_figure("domain_heatmap", size=_heatmap_size(table))
        ax = axes[0, 0]
        _heatmap(
            ax, table, value.replace("_", " "), 0.0 if bounded else None, 1.0 if bounded else None
        )
        ax.set_xlabel("policy" if many else "domain (test queries)")
        ax.set_ylabel("domain (test queries)" if many else "policy")
        ax.set_title(
            title_info.title(f"{value.replace('_', ' ').capitalize()} by policy and domain")
        )
        return save_png(fig, path)


def _heatmap_size(table: pd.DataFrame) -> tuple[float, float]:
    """Inches: at least the default, and room for every row and column label."""
    rows, cols = table.shape
    return (max(14.0, 3.5 + 0.28 * cols), max(8.0, 2.5 + 0.22 * rows))


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
    table = matrix.reindex(columns=ordered([str(c) for c in matrix.columns]))
    with mpl.rc_context(RC):
        fig, axes = new_figure("lodo_heatmap")
        ax = axes[0, 0]
        _heatmap(ax, table, "mean quality on held-out family (0–1)", 0.0, 1.0)
        ax.set_xlabel("policy")
        ax.set_ylabel("held-out domain family")
        ax.set_title(title_info.title("Leave-one-domain-out: mean quality"))
        return save_png(fig, path)
