"""Rule plot_budget_curve: the budget sweep's figure (quality and violations at each budget)."""

from dacr.compliance import run_budget_plot
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_budget_plot(smk.input.curve, smk.output.plot, experiment=smk.wildcards.experiment)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
