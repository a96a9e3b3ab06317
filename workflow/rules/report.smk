# Included last: the report depends on every final output of the other stages.


rule report:
    """Assemble the study's tables and figures, each poster number beside ours, into reports/."""
    input:
        list(ALL_TARGETS),
    output:
        html="reports/index.html",
        claims="reports/claims.json",
    params:
        config=lambda w: json.dumps(config, sort_keys=True),
    log:
        f"{LOGS}/report.log",
    shell:
        "{NCSN} report --results {RESULTS} --config-json {params.config:q} --out {output.html} > {log} 2>&1"


ALL_TARGETS.append("reports/index.html")
