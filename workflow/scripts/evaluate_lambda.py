"""Rule evaluate_lambda: mixllm, llmrec, knn, DACR, LinUCB and custom routers at one lambda."""

from pathlib import Path

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
        features_path=smk.input.features,
        long_path=smk.input.long or None,
        import_root=str(Path(smk.scriptdir).parents[1]),
        **smk.params.policy,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
