# Evaluation stage: features and predictors once per experiment, one job for the lambda-free
# policies, one job per lambda for the scalarised ones and DACR, then the aggregate tables.


wildcard_constraints:
    lam=r"[0-9]+(\.[0-9]+)?",


rule embed_prompts:
    input:
        long=rules.build_long_form.output.long,
    output:
        embeddings="results/data/embeddings.npz",
    log:
        "logs/data/embed_prompts.log",
    benchmark:
        "benchmarks/data/embed_prompts.tsv"
    conda:
        "../envs/embed.yaml"
    threads: 2
    params:
        embedder=config["embedder"],
        version=get_code_version("embed"),
    script:
        "../workflow/scripts/embed_prompts.py"


rule build_features:
    input:
        long=rules.build_long_form.output.long,
        split=rules.build_stream.output.split,
        stream=rules.build_stream.output.stream,
        embeddings=get_embeddings_input,
    output:
        features="results/{experiment}/features.npz",
    log:
        "logs/{experiment}/build_features.log",
    benchmark:
        "benchmarks/{experiment}/build_features.tsv"
    wildcard_constraints:
        experiment=get_setup_owner_pattern(),
    conda:
        "../envs/evaluate.yaml"
    params:
        features=get_features_params,
        version=get_code_version("features"),
    script:
        "../workflow/scripts/build_features.py"


rule fit_predictors:
    input:
        long=rules.build_long_form.output.long,
        split=rules.build_stream.output.split,
        stream=get_eval_stream,
        features=rules.build_features.output.features,
        latency=get_latency_file,
    output:
        predictions="results/{experiment}/predictions.npz",
        calibration="results/{experiment}/calibration_offline.csv",
    log:
        "logs/{experiment}/fit_predictors.log",
    benchmark:
        "benchmarks/{experiment}/fit_predictors.tsv"
    wildcard_constraints:
        experiment=get_setup_owner_pattern(),
    conda:
        "../envs/evaluate.yaml"
    params:
        predictors=get_predictor_params,
        version=get_code_version("fit"),
    script:
        "../workflow/scripts/fit_predictors.py"


rule compile_replay:
    output:
        marker=get_replay_marker(),
    log:
        "logs/data/compile_replay.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../workflow/scripts/compile_replay.py"


rule evaluate_baselines:
    input:
        predictions=get_setup_file("predictions.npz"),
        features=get_setup_file("features.npz"),
        long=get_custom_long,
    output:
        per_query="results/{experiment}/policies/baselines.parquet",
        info="results/{experiment}/policies/budget_info.json",
    log:
        "logs/{experiment}/evaluate_baselines.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        policy=get_baseline_params,
        version=get_code_version("evaluate"),
    script:
        "../workflow/scripts/evaluate_baselines.py"


rule evaluate_lambda:
    input:
        replay=rules.compile_replay.output.marker,
        predictions=get_setup_file("predictions.npz"),
        features=get_setup_file("features.npz"),
        long=get_custom_long,
    output:
        per_query="results/{experiment}/policies/lambda_{lam}.parquet",
        trace="results/{experiment}/policies/dacr_trace_{lam}.parquet",
        calibration="results/{experiment}/policies/online_calibration_{lam}.csv",
    log:
        "logs/{experiment}/evaluate_lambda_{lam}.log",
    benchmark:
        "benchmarks/{experiment}/evaluate_lambda_{lam}.tsv"
    conda:
        "../envs/evaluate.yaml"
    params:
        policy=get_lambda_params,
        version=get_code_version("evaluate"),
    script:
        "../workflow/scripts/evaluate_lambda.py"


rule aggregate_metrics:
    input:
        baselines=rules.evaluate_baselines.output.per_query,
        per_query=get_lambda_per_query,
        traces=get_lambda_traces,
        online_calibration=get_lambda_calibration,
        offline_calibration=get_setup_file("calibration_offline.csv"),
        predictions=get_setup_file("predictions.npz"),
    output:
        metrics=report(
            "results/{experiment}/metrics.csv",
            caption="../report/metrics.rst",
            category="{experiment}",
            labels={"table": "metrics"},
        ),
        by_domain=report(
            "results/{experiment}/metrics_by_domain.csv",
            caption="../report/metrics_by_domain.rst",
            category="{experiment}",
            labels={"table": "metrics by domain"},
        ),
        calibration=report(
            "results/{experiment}/calibration_ece.csv",
            caption="../report/calibration_ece.rst",
            category="{experiment}",
            labels={"table": "calibration (ECE)"},
        ),
        per_query="results/{experiment}/per_query.parquet",
        trace="results/{experiment}/dacr_trace.parquet",
    log:
        "logs/{experiment}/aggregate_metrics.log",
    conda:
        "../envs/evaluate.yaml"
    params:
        decision_info=get_decision_info,
        bootstrap=get_bootstrap_params(),
        version=get_code_version("evaluate"),
    script:
        "../workflow/scripts/aggregate_metrics.py"


rule write_manifest:
    input:
        long=rules.build_long_form.output.long,
        stream=get_setup_file("stream.jsonl"),
        metrics=rules.aggregate_metrics.output.metrics,
    output:
        manifest=report(
            "results/{experiment}/manifest.json",
            caption="../report/manifest.rst",
            category="{experiment}",
            labels={"table": "provenance (config, data, code)"},
        ),
    log:
        "logs/{experiment}/write_manifest.log",
    conda:
        "../envs/report.yaml"
    params:
        config=get_manifest_config,
        git_commit=get_git_commit(),
        version=get_code_version("provenance"),
    script:
        "../workflow/scripts/write_manifest.py"
