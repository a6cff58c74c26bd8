# Stream stage: long form -> the experiment's train/test split and timestamped request stream.


rule build_stream:
    input:
        long=rules.build_long_form.output.long,
    output:
        stream="results/{experiment}/stream.jsonl",
        split="results/{experiment}/split.parquet",
    log:
        "logs/{experiment}/build_stream.log",
    wildcard_constraints:
        experiment=get_setup_owner_pattern(),
    conda:
        "../envs/stream.yaml"
    params:
        split=get_split_params,
        stream=get_stream_params,
        version=get_code_version("stream"),
    script:
        "../workflow/scripts/build_stream.py"
