"""Rule compile_replay: compile DACR's replay once, before the policy jobs that run it."""

from pathlib import Path

from dacr.logs import setup_logging
from dacr.route.dacr import warm_up


def main(smk) -> None:
    setup_logging(smk.log[0])
    warm_up()
    Path(smk.output.marker).write_text("compiled\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
