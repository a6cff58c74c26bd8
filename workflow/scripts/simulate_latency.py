"""Rule simulate_latency: latency_eff.jsonl (with lat_mult) and latency_base.jsonl (without)."""

from dacr.latency import run_simulate_latency
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_simulate_latency(
        smk.input.long,
        smk.input.stream,
        smk.input.split,
        smk.output.eff,
        smk.output.base,
        config_file=smk.input.config_file,
        **smk.params.sim,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
