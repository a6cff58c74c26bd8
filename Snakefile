# dacr: evaluate LLM routers on RouterBench (accuracy, cost, latency) with domain-adaptive
# calibrated routing. This file is the table of contents; logic lives in rules/ and dacr/.
from snakemake.utils import min_version, validate

from dacr.configcheck import check_config

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


check_config(config, f"{workflow.basedir}/config/schema.yaml")  # one readable paragraph
validate(config, "config/schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    experiment=get_experiment_pattern(),


include: "rules/data.smk"
include: "rules/stream.smk"
include: "rules/latency.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
