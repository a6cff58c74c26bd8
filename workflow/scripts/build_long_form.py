"""Rule build_long_form: RouterBench file -> results/data/routerbench_long.parquet."""

import json

from dacr.logs import setup_logging
from dacr.routerbench import run_long_form


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_long_form(
        smk.input.dataset,
        smk.output.long,
        domain_level=smk.params.domain_level,
        trust_pickle=smk.params.trust_pickle,
        dataset=smk.params.dataset,
        source=json.loads(smk.params.provenance),
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
