"""Rule build_features: query features of the experiment, fit on its training prompts."""

from dacr.features import run_features
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_features(
        smk.input.long,
        smk.input.split,
        smk.input.stream,
        smk.output.features,
        experiment=smk.wildcards.experiment,
        # Hashing processes: stateless, so the result does not depend on their number. The
        # rule keeps one thread, so BLAS (SVD, scaling) runs the same on every machine.
        n_jobs=2,
        embeddings_path=str(smk.input.embeddings) if smk.input.get("embeddings") else None,
        **smk.params.features,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
