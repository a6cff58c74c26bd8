"""Rule make_synthetic_routerbench: the embedded synthetic RouterBench in a real file format."""

from dacr.logs import setup_logging
from dacr.synth import write_synthetic


def main(smk) -> None:
    setup_logging(smk.log[0])
    write_synthetic(
        smk.output.pkl,
        n_prompts=smk.params.n_prompts,
        seed=smk.params.seed,
        fmt=smk.params.fmt,
        families=smk.params.families,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
