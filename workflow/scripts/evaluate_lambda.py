"""Rule evaluate_lambda: mixllm, llmrec, knn and DACR at one cost weight lambda."""

from dacr.evaluate import run_lambda
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_lambda(
        smk.input.predictions,
        smk.output.per_query,
        smk.output.trace,
        smk.output.calibration,
        lam=float(smk.wildcards.lam),
        **smk.params.policy,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
