"""Rule write_manifest: provenance of an experiment's results (manifest.json)."""

from dacr.logs import setup_logging
from dacr.provenance import run_manifest


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_manifest(
        smk.output.manifest,
        experiment=smk.wildcards.experiment,
        config_slice=smk.params.config,
        long_path=smk.input.long,
        first_output=smk.input.stream,
        last_output=smk.input.metrics,
        git_commit=smk.params.git_commit,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
