# Speed of the score networks on the machine that runs the study (ncsn.bench), for the report's
# provenance. Only with `throughput` in the config.
import shlex

if "throughput" in config:

    def network_sizes(wildcards):
        """The part of the config that decides the sizes, as JSON for bench --config-json: editing a
        learning rate or another section does not rerun the timing."""
        variants = {
            name: {key: entry[key] for key in ("arch", "width", "dropout", "noise") if key in entry}
            for name, entry in config["variants"].items()
        }
        return json.dumps(
            {"profile": config["profile"], "noise": config["noise"], "variants": variants}, sort_keys=True
        )

    rule throughput:
        """Training images/s, sampling score evaluations/s, peak memory and achieved GFLOP/s of every
        architecture and size of config["variants"], beside the machine's dense-convolution rate; with
        throughput.official set, the official CondRefineNetDilated is timed beside ours."""
        output:
            table=report(
                f"{RESULTS}/throughput/throughput.csv",
                caption="../report/throughput.rst",
                category="Provenance",
                subcategory="throughput",
            ),
        log:
            f"{LOGS}/throughput.log",
        benchmark:
            f"{BENCHMARKS}/throughput.tsv"
        # Like train and sample, so the numbers are those of the study's jobs; with `--cores 2` the
        # timing shares the CPU with no other job.
        threads: 2
        resources:
            gpu=1,
        params:
            sizes=network_sizes,
            official=lambda w: (
                f"--official {shlex.quote(config['throughput']['official'])}"
                if config["throughput"].get("official")
                else ""
            ),
        shell:
            "{NCSN} bench --config-json {params.sizes:q} {params.official} --device {config[device]} "
            "--threads {threads} --rounds {config[throughput][rounds]} "
            "--train-batch {config[throughput][train_batch]} --sample-batch {config[throughput][sample_batch]} "
            "--csv {output.table:q} > {log} 2>&1"

    ALL_TARGETS.append(f"{RESULTS}/throughput/throughput.csv")
