"""Figures of an experiment: one function per figure, PNG with deterministic bytes.

Every function takes tables and an output path, draws on a :class:`~matplotlib.figure.Figure`
of fixed size and dpi rendered by the Agg canvas (no pyplot, so no global figure state and no
interactive backend), under a fixed style, and saves without the version metadata that would
change the bytes between installs. The same inputs give the same file. Titles name the figure,
the experiment, the dataset (``synthetic`` or ``RouterBench``) and the decision mode
(``predicted`` or ``oracle``); axes carry units; colour bars stand in for legends on heatmaps.
"""

from __future__ import annotations

from dacr.plots.budgets import plot_budget_curve, plot_dacr_trace, plot_regret
from dacr.plots.calibration import plot_reliability
from dacr.plots.heatmaps import plot_domain_heatmap, plot_lodo_heatmap
from dacr.plots.routers import plot_latency_cdf, plot_quality_cost, plot_violation_cost
from dacr.plots.style import POLICY_ORDER, TitleInfo

__all__ = [
    "POLICY_ORDER",
    "TitleInfo",
    "plot_budget_curve",
    "plot_dacr_trace",
    "plot_domain_heatmap",
    "plot_latency_cdf",
    "plot_lodo_heatmap",
    "plot_quality_cost",
    "plot_regret",
    "plot_reliability",
    "plot_violation_cost",
]
