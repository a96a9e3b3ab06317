# NCSN reproducibility study. Thin on purpose: the config is validated here, before any job is
# scheduled, and each stage lives in workflow/rules/<stage>.smk. Everything that computes is in
# src/ncsn and is called as `python -m ncsn <command>`.
# The default workflow profile (profiles/default) selects config/quick.yaml;
# `--configfile config/config.yaml` runs the paper-scale study.

import sys

from snakemake.utils import min_version

from ncsn.config import check_config_files, validate_config
from ncsn.errors import ConfigError

min_version("9.0")


# The workflow's description in `snakemake --report`.
report: "workflow/report/workflow.rst"


try:
    # Snakemake's YAML loader keeps the last of two equal keys and expands aliases: read the files again.
    check_config_files(workflow.configfiles)
    config = validate_config(config, workflow.source_path("workflow/schemas/config.schema.yaml"))
except ConfigError as err:
    # A config mistake is the user's to fix: print the message alone, not a traceback.
    sys.exit(f"error: {err}")


# Light rules run on the submit host even under a cluster executor (profiles/slurm); the data
# rule needs the internet or the package registries, which compute nodes often cannot reach.
localrules:
    all,
    data,
    report,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/samplers.smk"
include: "workflow/rules/toy.smk"
include: "workflow/rules/throughput.smk"
include: "workflow/rules/report.smk"  # last: it collects the outputs of the stages above


rule all:
    default_target: True
    input:
        ALL_TARGETS,
