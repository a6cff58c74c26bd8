"""Rule embed_prompts: all-MiniLM-L6-v2 embeddings of every prompt, once per dataset."""

from dacr.embed import run_embeddings
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_embeddings(
        smk.input.long, smk.output.embeddings, threads=smk.threads, **smk.params.embedder
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
