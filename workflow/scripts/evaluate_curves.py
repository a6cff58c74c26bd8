"""Rule evaluate_curves: dense lambda sweep and threshold sweeps from the shared predictions."""

from pathlib import Path

from dacr.logs import setup_logging
from dacr.report import run_curves


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_curves(
        smk.input.predictions,
        smk.output.curves,
        features_path=smk.input.features,
        long_path=smk.input.long or None,
        import_root=str(Path(smk.scriptdir).parents[1]),
        **smk.params.curves,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
