"""Reliability diagrams of predicted quality."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns

from dacr.plots.style import (
    RC,
    STAGE_ORDER,
    TitleInfo,
    new_figure,
    require_columns,
    save_png,
)


def plot_reliability(
    calib_curves: pd.DataFrame,
    path: str | Path,
    title_info: TitleInfo,
    *,
    online_lambda: float | None = None,
) -> Path:
    """Reliability diagrams, one facet per model, one line per stage; marker area grows with
    the bin's count, and a strip under each facet shows how many test queries each bin holds
    (a bin of two queries is noise, not miscalibration).

    Parameters
    ----------
    calib_curves
        ``model, stage, p_mean, y_mean, n`` (e.g. :func:`dacr.metrics.reliability_table`), at
        most one curve per (model, stage); stages ``raw``, ``calibrated``, ``online_end`` and
        any others. Empty bins (``n = 0``) are skipped.
    path, title_info
        Output PNG and title parts.
    online_lambda
        The cost weight of the DACR run whose end-of-stream correction ``online_end`` shows
        (named in the legend).

    Returns
    -------
    pathlib.Path
        The written file (1400 x 1000 px); up to four facets per row.
    """
    models, stages = _models_and_stages(calib_curves)
    stage_colors = dict(zip(stages, sns.color_palette("colorblind", len(stages)), strict=True))
    ncols = min(4, len(models))
    nrows = int(np.ceil(len(models) / ncols))
    with mpl.rc_context(RC):
        fig, axes = new_figure("reliability", nrows, ncols, sharex=True, sharey=True)
        filled = calib_curves.loc[calib_curves["n"] > 0]
        n_max = float(filled["n"].max()) if len(filled) else 1.0
        for i, ax in enumerate(axes.ravel()):
            if i >= len(models):
                ax.set_axis_off()
                continue
            curves = filled.loc[filled["model"] == models[i]]
            _reliability_facet(ax, curves, stage_colors, n_max, online_lambda)
            ax.set_title(models[i], fontsize="small")
            if i // ncols == nrows - 1 or i + ncols >= len(models):
                ax.set_xlabel("predicted quality (bin mean, 0–1)")
            if i % ncols == 0:
                ax.set_ylabel("observed quality (bin mean, 0–1)")
        fig.suptitle(
            title_info.title(
                "Reliability of predicted quality per model "
                f"(marker area and bottom strip: test queries per bin, up to {n_max:.0f})"
            )
        )
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
        return save_png(fig, path)


def _models_and_stages(calib_curves: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The facets (models, sorted) and lines (stages, in :data:`STAGE_ORDER` first) of a
    reliability figure; an error when a (model, stage) has several curves or none is given."""
    require_columns(calib_curves, ["model", "stage", "p_mean", "y_mean", "n"], "calib_curves")
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
    stages = [s for s in STAGE_ORDER if s in stages] + sorted(set(stages) - set(STAGE_ORDER))
    return models, stages


def _reliability_facet(ax, curves, stage_colors, n_max, online_lambda) -> None:
    """One model's facet: the diagonal, a line and count-sized markers per stage, and the
    bottom strip of bin counts."""
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=1, label="perfect")
    strip = ax.inset_axes((0.0, 0.0, 1.0, 0.14), sharex=ax)
    for stage, color in stage_colors.items():
        curve = curves.loc[curves["stage"] == stage].sort_values("p_mean")
        label = stage
        if stage == "online_end" and online_lambda is not None:
            label = f"online_end (DACR at λ = {online_lambda:g})"
        ax.plot(curve["p_mean"], curve["y_mean"], color=color, linewidth=1.2)
        size = 6 + 60 * np.sqrt(curve["n"] / n_max)
        ax.scatter(curve["p_mean"], curve["y_mean"], s=size, color=color, zorder=3, label=label)
        strip.bar(curve["p_mean"], curve["n"], width=0.02, color=color, alpha=0.6)
    strip.set_yscale("log")
    strip.set_ylim(0.8, n_max * 1.5)
    strip.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
