# Included last: the report depends on every final output of the other stages.
# Each profile writes its own report folder (reports/laptop/ of a complete run is the published result).


rule report:
    """Assemble the study's tables and figures, each poster number beside ours, into reports/."""
    input:
        # the final outputs of every stage, and every file the report opens (the same list build_report checks)
        final=[res(path) for path in plan.final_outputs(config)],
        read=[res(path) for path in plan.report_inputs(config)],
    output:
        html=plan.report_page(config),
        claims=f"reports/{config['profile']}/claims.json",
    log:
        log_of("report"),
    conda:
        CONDA_ENV
    params:
        config=json.dumps(config, sort_keys=True),
        # report_inputs lists results/data/<dataset>.json first
        results=lambda w, input: os.path.dirname(os.path.dirname(input.read[0])),
    shell:
        "python -m ncsn report --results {params.results} --config-json {params.config:q} --out {output.html} "
        "> {log} 2>&1"
