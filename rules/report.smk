# Report stage: dense lambda / threshold sweeps, field metrics with intervals, figures, the
# one-screen summary, leave-one-domain-out matrices; `snakemake --report` bundles them.


rule evaluate_curves:
    input:
        replay=rules.compile_replay.output.marker,
        predictions=get_setup_file("predictions.npz"),
        features=get_setup_file("features.npz"),
        long=get_custom_long,
    output:
        curves="results/{experiment}/curves.parquet",
    log:
        "logs/{experiment}/evaluate_curves.log",
    benchmark:
        "benchmarks/{experiment}/evaluate_curves.tsv"
    conda:
        "../envs/evaluate.yaml"
    params:
        curves=get_curve_params,
        version=get_code_version("report"),
    script:
        "../workflow/scripts/evaluate_curves.py"


rule summarize_experiment:
    input:
        per_query=rules.aggregate_metrics.output.per_query,
        curves=rules.evaluate_curves.output.curves,
        metrics=rules.aggregate_metrics.output.metrics,
        predictions=get_setup_file("predictions.npz"),
        budget_info=rules.evaluate_baselines.output.info,
    output:
        router_summary=report(
            "results/{experiment}/router_summary.csv",
            caption="../report/router_summary.rst",
            category="{experiment}",
            labels={"table": "router summary"},
        ),
        comparisons=report(
            "results/{experiment}/comparisons.csv",
            caption="../report/comparisons.rst",
            category="{experiment}",
            labels={"table": "DACR vs baselines"},
        ),
        budget_compliance=report(
            "results/{experiment}/budget_compliance.csv",
            caption="../report/budget_compliance.rst",
            category="{experiment}",
            labels={"table": "budget compliance"},
        ),
        regret="results/{experiment}/regret_curve.parquet",
        summary=report(
            "results/{experiment}/summary.md",
            caption="../report/summary.rst",
            category="{experiment}",
            labels={"table": "headline"},
        ),
    log:
        "logs/{experiment}/summarize_experiment.log",
    benchmark:
        "benchmarks/{experiment}/summarize_experiment.tsv"
    conda:
        "../envs/report.yaml"
    params:
        bootstrap=get_bootstrap_params(),
        version=get_code_version("report"),
    script:
        "../workflow/scripts/summarize_experiment.py"


rule plot_experiment:
    input:
        per_query=rules.aggregate_metrics.output.per_query,
        curves=rules.evaluate_curves.output.curves,
        metrics=rules.aggregate_metrics.output.metrics,
        by_domain=rules.aggregate_metrics.output.by_domain,
        trace=rules.aggregate_metrics.output.trace,
        predictions=get_setup_file("predictions.npz"),
        regret=rules.summarize_experiment.output.regret,
    output:
        quality_cost=report(
            "results/{experiment}/plots/quality_cost.png",
            caption="../report/quality_cost.rst",
            category="{experiment}",
            labels={"figure": "quality vs cost"},
        ),
        violation_cost=report(
            "results/{experiment}/plots/violation_cost.png",
            caption="../report/violation_cost.rst",
            category="{experiment}",
            labels={"figure": "SLO violations vs cost"},
        ),
        latency_cdf=report(
            "results/{experiment}/plots/latency_cdf.png",
            caption="../report/latency_cdf.rst",
            category="{experiment}",
            labels={"figure": "latency CDF"},
        ),
        reliability=report(
            "results/{experiment}/plots/reliability.png",
            caption="../report/reliability.rst",
            category="{experiment}",
            labels={"figure": "reliability"},
        ),
        dacr_trace=report(
            "results/{experiment}/plots/dacr_trace.png",
            caption="../report/dacr_trace.rst",
            category="{experiment}",
            labels={"figure": "DACR trace"},
        ),
        domain_heatmap=report(
            "results/{experiment}/plots/domain_heatmap.png",
            caption="../report/domain_heatmap.rst",
            category="{experiment}",
            labels={"figure": "quality by domain"},
        ),
        regret=report(
            "results/{experiment}/plots/regret.png",
            caption="../report/regret.rst",
            category="{experiment}",
            labels={"figure": "regret"},
        ),
    log:
        "logs/{experiment}/plot_experiment.log",
    benchmark:
        "benchmarks/{experiment}/plot_experiment.tsv"
    conda:
        "../envs/report.yaml"
    params:
        plots=get_plot_params,
        version=get_code_version("report"),
    script:
        "../workflow/scripts/plot_experiment.py"


rule sweep_budget:
    input:
        replay=rules.compile_replay.output.marker,
        predictions=get_setup_file("predictions.npz"),
    output:
        curve="results/{experiment}/budget_curve.parquet",
    log:
        "logs/{experiment}/sweep_budget.log",
    benchmark:
        "benchmarks/{experiment}/sweep_budget.tsv"
    conda:
        "../envs/evaluate.yaml"
    params:
        sweep=get_sweep_params,
        version=get_code_version("compliance"),
    script:
        "../workflow/scripts/sweep_budget.py"


rule plot_budget_curve:
    input:
        curve=rules.sweep_budget.output.curve,
    output:
        plot=report(
            "results/{experiment}/plots/budget_curve.png",
            caption="../report/budget_curve.rst",
            category="{experiment}",
            labels={"figure": "quality at budget"},
        ),
    log:
        "logs/{experiment}/plot_budget_curve.log",
    conda:
        "../envs/report.yaml"
    params:
        version=get_code_version("compliance", "plots"),
    script:
        "../workflow/scripts/plot_budget_curve.py"


rule aggregate_lodo:
    input:
        metrics=get_lodo_metrics,
    output:
        matrix="results/{experiment}/lodo_matrix.csv",
        heatmap=report(
            "results/{experiment}/lodo_heatmap.png",
            caption="../report/lodo.rst",
            category="{experiment}",
            labels={"figure": "leave-one-domain-out"},
        ),
    log:
        "logs/{experiment}/aggregate_lodo.log",
    conda:
        "../envs/report.yaml"
    params:
        families=get_lodo_families,
        version=get_code_version("report"),
    script:
        "../workflow/scripts/aggregate_lodo.py"


# The README's figure, from the demo: snakemake --cores 2 --configfile config/demo.yaml --
# docs/quality_cost.png (tests/workflow/test_docs.py checks the committed copy is current).
rule readme_figure:
    input:
        "results/ood_gsm_mbpp/plots/quality_cost.png",
    output:
        "docs/quality_cost.png",
    log:
        "logs/data/readme_figure.log",
    localrule: True
    conda:
        "../envs/report.yaml"
    shell:
        "cp {input} {output} 2> {log}"
