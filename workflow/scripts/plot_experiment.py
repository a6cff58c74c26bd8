"""Rule plot_experiment: every figure of an experiment as PNG."""

from pathlib import Path

from dacr.logs import setup_logging
from dacr.report import run_plots


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_plots(
        smk.input.per_query,
        smk.input.curves,
        smk.input.metrics,
        smk.input.by_domain,
        smk.input.trace,
        smk.input.predictions,
        smk.input.regret,
        Path(smk.output.quality_cost).parent,
        experiment=smk.wildcards.experiment,
        **smk.params.plots,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
