# Data stage: RouterBench (download, local file or embedded synthetic) -> long-form parquet.


localrules:
    download_routerbench,


rule download_routerbench:
    output:
        pkl=get_download_path(),
    log:
        "logs/data/download_routerbench.log",
    conda:
        "../envs/data.yaml"
    params:
        repo=config["dataset"]["hf_repo"],
        filename=config["dataset"]["hf_file"],
        revision=config["dataset"]["revision"],
        sha256=config["dataset"]["sha256"],
    script:
        "../workflow/scripts/download_routerbench.py"


rule make_synthetic_routerbench:
    output:
        pkl=get_synthetic_path(),
    log:
        "logs/data/make_synthetic_routerbench.log",
    benchmark:
        "benchmarks/data/make_synthetic_routerbench.tsv"
    conda:
        "../envs/data.yaml"
    params:
        n_prompts=config["dataset"]["synthetic"]["n_prompts"],
        seed=config["dataset"]["synthetic"]["seed"],
        fmt=config["dataset"]["synthetic"]["format"],
        families=config["dataset"]["synthetic"]["families"],
        version=get_code_version("synth"),
    script:
        "../workflow/scripts/make_synthetic_routerbench.py"


rule build_long_form:
    input:
        dataset=get_dataset_file,
    output:
        long=LONG_FORM,
    log:
        "logs/data/build_long_form.log",
    benchmark:
        "benchmarks/data/build_long_form.tsv"
    conda:
        "../envs/data.yaml"
    params:
        domain_level=config["domain_level"],
        trust_pickle=config["dataset"]["trust_pickle"],
        dataset=get_dataset_label(),
        provenance=get_dataset_provenance(),
        version=get_code_version("routerbench"),
    script:
        "../workflow/scripts/build_long_form.py"
