"""Rule fit_predictors: quality (out-of-fold calibrated), cost, latency and router models."""

from dacr.fit import run_predictors
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    latency = smk.input.get("latency")
    run_predictors(
        smk.input.long,
        smk.input.split,
        smk.input.stream,
        smk.input.features,
        str(latency) if latency else None,
        smk.output.predictions,
        smk.output.calibration,
        experiment=smk.wildcards.experiment,
        **smk.params.predictors,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
