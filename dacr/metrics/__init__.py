"""Router metrics: NDCH and AIQ, RouteLLM's APGR and CPT, the Pareto frontier, reliability
curves, and query-level bootstrap intervals and paired tests.

AIQ conventions
---------------
A router's λ sweep gives points (mean cost, mean quality). Its non-decreasing convex hull
(NDCH, :func:`ndch`) is the upper concave hull of the points, cut where it starts to fall. The
curve ``R(c)`` used for areas is

* 0 below the router's cheapest NDCH point (a router cannot run cheaper than its cheapest
  configuration, and RouterBench's code starts its trapezoid there),
* the NDCH, linearly interpolated, between its first and last point,
* flat at the NDCH's last (highest) quality above its last point.

``aiq_code`` is RouterBench's code (``calc_AIQ``): ``∫_0^{c_max} R(c) dc / c_max``, with
``c_max`` the largest NDCH cost over the compared set. ``aiq_paper`` is the paper's formula:
``∫_{c_min}^{c_max} R(c) dc / (c_max - c_min)``, with ``c_min`` the smallest NDCH cost over the
compared set. With the default range every router starts at or above ``c_min``, so both are the
same area and differ only in the normaliser: ``aiq_paper = aiq_code * c_max / (c_max - c_min)``.

Bootstrap
---------
Queries are resampled with replacement within each stratum (domain), keeping stratum sizes;
one resample draws one set of queries for every policy and λ at once, so intervals of different
policies are comparable and paired. A resample is stored as a count matrix (resamples x
queries), so means are one matrix product; quantiles use cumulative counts over the sorted
values. Resamples are drawn in chunks to bound memory; each stratum draws from its own child
generator, so the resamples do not depend on the chunk size.

Modules: ``aiq`` (NDCH, AIQ, router curves), ``routellm`` (PGR, APGR, CPT), ``frontier``
(Pareto frontier), ``reliability`` (reliability curves), ``bootstrap`` (resamples, CIs),
``bootstrap_aiq`` (AIQ per resample), ``paired`` (paired tests, Holm).
"""

from __future__ import annotations

from dacr.metrics.aiq import (
    SINGLE_PREFIX,
    ZERO_ROUTER,
    aiq_code,
    aiq_paper,
    aiq_table,
    ndch,
    router_curves,
)
from dacr.metrics.bootstrap import (
    CHUNK_CELLS,
    DEFAULT_STATISTICS,
    Mean,
    Quantile,
    Statistic,
    bootstrap_ci,
    resample_counts,
)
from dacr.metrics.bootstrap_aiq import bootstrap_aiq
from dacr.metrics.frontier import frontier_distance, pareto_frontier
from dacr.metrics.paired import holm, paired_bootstrap
from dacr.metrics.reliability import reliability_curve, reliability_table
from dacr.metrics.routellm import apgr, cpt, pgr

__all__ = [
    "CHUNK_CELLS",
    "DEFAULT_STATISTICS",
    "Mean",
    "Quantile",
    "SINGLE_PREFIX",
    "Statistic",
    "ZERO_ROUTER",
    "aiq_code",
    "aiq_paper",
    "aiq_table",
    "apgr",
    "bootstrap_aiq",
    "bootstrap_ci",
    "cpt",
    "frontier_distance",
    "holm",
    "ndch",
    "paired_bootstrap",
    "pareto_frontier",
    "pgr",
    "reliability_curve",
    "reliability_table",
    "resample_counts",
    "router_curves",
]
