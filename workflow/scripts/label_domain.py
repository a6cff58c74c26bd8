"""Rule label_domain: coarse LLM domain labels for the stream (stream_labeled.jsonl)."""

from dacr.labels import run_label
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_label(
        smk.input.stream,
        smk.output.stream,
        smk.params.cache,
        seed=smk.params.seed,
        **smk.params.labels,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
