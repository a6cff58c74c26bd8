"""The README's figure is what the demo draws today."""

from __future__ import annotations

import pytest

from tests.workflow.conftest import ROOT, run_snakemake

pytestmark = pytest.mark.workflow
FIGURE = "results/ood_gsm_mbpp/plots/quality_cost.png"


def test_readme_figure_is_the_demo_figure(tmp_path):
    demo = str(ROOT / "config" / "demo.yaml")
    run_snakemake(tmp_path, "--configfile", demo, "--", FIGURE)
    drawn = (tmp_path / FIGURE).read_bytes()
    committed = (ROOT / "docs" / "quality_cost.png").read_bytes()
    assert drawn == committed, (
        "docs/quality_cost.png is stale; regenerate it with "
        "snakemake --cores 2 --configfile config/demo.yaml -- docs/quality_cost.png"
    )
