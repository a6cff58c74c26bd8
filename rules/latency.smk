# Latency stage: simulated from tokens, or measured against OpenAI-compatible endpoints;
# optional LLM domain labels.


rule simulate_latency:
    input:
        long=rules.build_long_form.output.long,
        stream=rules.build_stream.output.stream,
        split=rules.build_stream.output.split,
        config_file=get_latency_config_file(),
    output:
        eff="results/{experiment}/latency_eff.jsonl",
        base="results/{experiment}/latency_base.jsonl",
    log:
        "logs/{experiment}/simulate_latency.log",
    benchmark:
        "benchmarks/{experiment}/simulate_latency.tsv"
    wildcard_constraints:
        experiment=get_setup_owner_pattern(),
    conda:
        "../envs/stream.yaml"
    params:
        sim=get_simulate_latency_params,
        version=get_code_version("latency", "stream"),
    script:
        "../workflow/scripts/simulate_latency.py"


# The ledger (every finished call, appended at once) is a param, not an output: Snakemake
# deletes the outputs of a failed job, and the rerun must send only the pairs that failed.
# The stream's ts already include its time_warp, so none is passed here.
rule collect_latency:
    input:
        stream=rules.build_stream.output.stream,
        long=rules.build_long_form.output.long,
        models_file=get_models_file(),
    output:
        log="results/{experiment}/latency_measured.jsonl",
    log:
        "logs/{experiment}/collect_latency.log",
    wildcard_constraints:
        experiment=get_setup_owner_pattern(),
    conda:
        "../envs/telemetry.yaml"
    params:
        telemetry=get_telemetry_params(),
        ledger="results/{experiment}/.latency_ledger.jsonl",
        version=get_code_version("telemetry"),
    script:
        "../workflow/scripts/collect_latency.py"


rule label_domain:
    input:
        stream=rules.build_stream.output.stream,
    output:
        stream="results/{experiment}/stream_labeled.jsonl",
    log:
        "logs/{experiment}/label_domain.log",
    wildcard_constraints:
        experiment=get_setup_owner_pattern(),
    conda:
        "../envs/telemetry.yaml"
    params:
        labels=get_labels_params(),
        cache="resources/labels/label_cache.jsonl",
        seed=config["seed"],
        version=get_code_version("labels"),
    script:
        "../workflow/scripts/label_domain.py"
