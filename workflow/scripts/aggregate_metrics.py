"""Rule aggregate_metrics: every policy job -> metrics.csv and the experiment's other tables."""

from dacr.evaluate import run_aggregate
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_aggregate(
        [smk.input.baselines, *smk.input.per_query],
        list(smk.input.traces),
        list(smk.input.online_calibration),
        smk.input.offline_calibration,
        smk.input.predictions,
        metrics_path=smk.output.metrics,
        by_domain_path=smk.output.by_domain,
        calibration_path=smk.output.calibration,
        per_query_path=smk.output.per_query,
        trace_path=smk.output.trace,
        decision_info=smk.params.decision_info,
        **smk.params.bootstrap,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
