"""Rule compile_replay: compile DACR's and LinUCB's replays once, before the policy jobs."""

from pathlib import Path

from dacr.logs import setup_logging
from dacr.route import dacr, linucb


def main(smk) -> None:
    setup_logging(smk.log[0])
    dacr.warm_up()
    linucb.warm_up()
    Path(smk.output.marker).write_text("compiled\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
