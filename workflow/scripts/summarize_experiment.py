"""Rule summarize_experiment: AIQ, APGR/CPT, Pareto distances, paired tests, budget compliance
and regret, summary.md."""

from dacr.logs import setup_logging
from dacr.report import run_summary


def main(smk) -> None:
    setup_logging(smk.log[0])
    run_summary(
        smk.input.per_query,
        smk.input.curves,
        smk.input.metrics,
        smk.input.predictions,
        smk.input.budget_info,
        router_summary_path=smk.output.router_summary,
        comparisons_path=smk.output.comparisons,
        compliance_path=smk.output.budget_compliance,
        summary_path=smk.output.summary,
        regret_path=smk.output.regret,
        experiment=smk.wildcards.experiment,
        **smk.params.bootstrap,
    )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
