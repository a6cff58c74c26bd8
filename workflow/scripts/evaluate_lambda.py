"""Rule evaluate_lambda: mixllm, llmrec, knn and DACR at one cost weight lambda."""

from dacr.evaluate import run_policies
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_policies(
        smk.input.predictions,
        smk.output.per_query,
        lam=float(smk.wildcards.lam),
        trace_path=smk.output.trace,
        calib_path=smk.output.calibration,
        cascade_threshold=0.0,
        routellm_threshold=0.0,
        **smk.params.policy,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
