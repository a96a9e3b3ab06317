# Speed of the score networks on the machine that runs the study (ncsn.perf.bench), for the report's
# provenance. Only with `throughput` in the config.


if "throughput" in config:

    rule throughput:
        """Training images/s, sampling score evaluations/s, peak memory and achieved GFLOP/s of every
        architecture and size of config["variants"], beside the machine's dense-convolution rate; with
        throughput.official set, the official CondRefineNetDilated is timed beside ours."""
        output:
            table=report(
                res(layout.THROUGHPUT),
                caption="../report/throughput.rst",
                category="Provenance",
                subcategory="throughput",
            ),
        log:
            log_of("throughput"),
        benchmark:
            benchmark_of("throughput")
        conda:
            CONDA_ENV
        # Like train and sample, so the numbers are those of the study's jobs; with `--cores 2` the
        # timing shares the CPU with no other job.
        threads: 2
        resources:
            gpu=1,
        params:
            sizes=network_sizes,
            official=official_flag,
            run=config["throughput"],
            device=config["device"],
        shell:
            "python -m ncsn bench --config-json {params.sizes:q} {params.official} --device {params.device} "
            "--threads {threads} --rounds {params.run[rounds]} --train-batch {params.run[train_batch]} "
            "--sample-batch {params.run[sample_batch]} --csv {output.table:q} > {log} 2>&1"
