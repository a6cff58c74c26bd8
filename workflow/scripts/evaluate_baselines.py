"""Rule evaluate_baselines: every policy without a cost weight, and the budget policies."""

from pathlib import Path

from dacr.evaluate import run_baselines
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_baselines(
        smk.input.predictions,
        smk.output.per_query,
        smk.output.info,
        features_path=smk.input.features,
        long_path=smk.input.long or None,
        import_root=str(Path(smk.scriptdir).parents[1]),
        **smk.params.policy,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
