"""Rule collect_latency: measured latency of the stream against OpenAI-compatible endpoints.

Every finished call is appended at once to the ledger (``params.ledger``, not an output, so it
survives a failed job). The declared output is written, atomically, only when every pair is
measured (or the failures are within ``telemetry.max_failed_share``): a failed job leaves
nothing that looks finished, and its rerun sends only the pairs that failed.
"""

from dacr.logs import setup_logging
from dacr.telemetry import run_collect


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_collect(
        smk.input.stream,
        smk.input.models_file,
        smk.output.log,
        long_path=smk.input.long,
        ledger_path=smk.params.ledger,
        **smk.params.telemetry,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
