"""Rule sweep_budget: the budget policies over a list of cost budgets (budget_curve.parquet)."""

from dacr.compliance import run_budget_sweep
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_budget_sweep(
        smk.input.predictions,
        smk.output.curve,
        **smk.params.sweep,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
