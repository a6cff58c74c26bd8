"""Rule evaluate_baselines: every lambda-free policy over the test stream."""

from dacr.evaluate import run_policies
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_policies(
        smk.input.predictions,
        smk.output.per_query,
        lam=None,
        lambda_lat=0.0,
        dacr={},
        **smk.params.policy,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
