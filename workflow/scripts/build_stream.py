"""Rule build_stream: long form -> results/{experiment}/stream.jsonl and split.parquet."""

from dacr.logs import setup_logging
from dacr.stream import run_stream


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_stream(
        smk.input.long,
        smk.output.stream,
        smk.output.split,
        experiment=smk.wildcards.experiment,
        stream=smk.params.stream,
        **smk.params.split,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
