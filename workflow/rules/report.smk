# Included last: the report depends on every final output of the other stages.
# Each profile writes its own report folder (reports/laptop/ of a complete run is the published result).
from ncsn.report.inputs import report_inputs

REPORT_DIR = f"reports/{config['profile']}"


rule report:
    """Assemble the study's tables and figures, each poster number beside ours, into reports/."""
    input:
        # the final outputs of every stage, and every file the report opens (the same list build_report checks)
        final=list(ALL_TARGETS),
        read=[str(p) for p in report_inputs(config, RESULTS)],
    output:
        html=f"{REPORT_DIR}/index.html",
        claims=f"{REPORT_DIR}/claims.json",
    log:
        f"{LOGS}/report.log",
    params:
        config=lambda w: json.dumps(config, sort_keys=True),
    shell:
        "{NCSN} report --results {RESULTS} --config-json {params.config:q} --out {output.html} > {log} 2>&1"


ALL_TARGETS.append(f"{REPORT_DIR}/index.html")
