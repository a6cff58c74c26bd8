"""Rule collect_latency: measured latency of the stream against OpenAI-compatible endpoints.

Calls are appended to ``<output>.partial`` as they finish; a rerun after a crash resumes from
it. Only a finished collection is moved to the declared output.
"""

import os
from pathlib import Path

from dacr.logs import setup_logging
from dacr.telemetry import run_collect


def main(smk) -> None:
    setup_logging(smk.log[0])
    out = Path(smk.output.log)
    partial = out.with_name(out.name + ".partial")
    params = dict(smk.params.telemetry)
    run_collect(
        smk.input.stream,
        smk.input.models_file,
        partial,
        time_warp=smk.params.time_warp,
        **params,
    )
    os.replace(partial, out)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
