"""Rule aggregate_lodo: the leave-one-domain-out matrix and heatmap."""

from dacr.logs import setup_logging
from dacr.report import run_lodo


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_lodo(
        list(smk.input.metrics),
        smk.params.families,
        smk.output.matrix,
        smk.output.heatmap,
        experiment=smk.wildcards.experiment,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
