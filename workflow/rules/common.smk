# Shared helpers for the rules. Each stage appends its final outputs to ALL_TARGETS.
import json
import sys

ALL_TARGETS = []
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCHMARKS = f"{RESULTS}/benchmarks"
# The interpreter running Snakemake has the package installed (see README); jobs use the same one.
NCSN = f"{sys.executable} -m ncsn"


def settings(*keys):
    """The config section at `keys`, as JSON for a command's --settings option."""
    node = config
    for key in keys:
        node = node[key]
    return json.dumps(node, sort_keys=True)
