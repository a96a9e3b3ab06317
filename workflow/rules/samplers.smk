# Beyond the poster: quality against the number of score evaluations for several samplers on one
# checkpoint (ncsn.samplers, ncsn.evaluation.samplers_figure). Only with `samplers` in the config.
if "samplers" in config:
    SA = config["samplers"]
    SAMPLER_SETS = f"{SAMPLES}/samplers"
    SAMPLER_EVALUATIONS = f"{EVALUATION}/samplers"
    BASELINE_NFE = config["noise"]["n_levels"] * config["sampler"]["n_steps_each"]  # the study's own ALD

    localrules:
        samplers,

    def sampler_stem(variant, epoch, weights, method, nfe):
        return f"{variant}/epoch_{epoch}/{weights}/{method}_nfe{nfe}"

    rule sample_method:
        """Draw evaluation.n_samples images with one method of the samplers experiment at a budget of
        NFE score evaluations per image; seeded like the poster's sampler."""
        input:
            f"{RESULTS}/train/{{variant}}/checkpoints/epoch_{{epoch}}.pt",
        output:
            samples=f"{SAMPLER_SETS}/{{variant}}/epoch_{{epoch}}/{{weights}}/{{method}}_nfe{{nfe}}.pt",
            grid=f"{SAMPLER_SETS}/{{variant}}/epoch_{{epoch}}/{{weights}}/{{method}}_nfe{{nfe}}.png",
        log:
            f"{LOGS}/sample_method/{{variant}}_epoch_{{epoch}}_{{weights}}_{{method}}_nfe{{nfe}}.log",
        benchmark:
            f"{BENCHMARKS}/sample_method/{{variant}}_epoch_{{epoch}}_{{weights}}_{{method}}_nfe{{nfe}}.tsv"
        wildcard_constraints:
            variant="|".join(config["variants"]),
            epoch=r"\d+",
            weights="raw|ema",
            method="|".join(SA["methods"]),
            nfe=r"\d+",
        threads: 2
        resources:
            gpu=1,
        params:
            ev=config.get("evaluation", {}),
            settings=lambda w: json.dumps(SA["methods"][w.method], sort_keys=True),
            speed=lambda w: " ".join(
                flag
                for key, flag in [("compile", "--compile"), ("bf16", "--bf16")]
                if config["sampler"].get(key, False)
            ),
        shell:
            "{NCSN} sample --checkpoint {input:q} --weights {wildcards.weights} --method {wildcards.method} "
            "--nfe {wildcards.nfe} --method-settings {params.settings:q} --n-samples {params.ev[n_samples]} "
            "--batch-size {params.ev[sample_batch_size]} --init {params.ev[init]} {params.speed} "
            "--seed {config[seed]} --device {config[device]} --threads {threads} "
            "--out {output.samples:q} --grid {output.grid:q} > {log} 2>&1"

    use rule evaluate as evaluate_method with:
        input:
            samples=f"{SAMPLER_SETS}/{{variant}}/epoch_{{epoch}}/{{weights}}/{{method}}_nfe{{nfe}}.pt",
            reference=lambda w: f"{FID_CACHE}/{dataset_of(w.variant)}-{EV['extractor']}.json",
            classifier=lambda w: f"{RESULTS}/classifier/{dataset_of(w.variant)}.pt",
        output:
            f"{SAMPLER_EVALUATIONS}/{{variant}}/epoch_{{epoch}}/{{weights}}/{{method}}_nfe{{nfe}}.json",
        log:
            f"{LOGS}/evaluate_method/{{variant}}_epoch_{{epoch}}_{{weights}}_{{method}}_nfe{{nfe}}.log",
        benchmark:
            f"{BENCHMARKS}/evaluate_method/{{variant}}_epoch_{{epoch}}_{{weights}}_{{method}}_nfe{{nfe}}.tsv"
        wildcard_constraints:
            variant="|".join(config["variants"]),
            epoch=r"\d+",
            weights="raw|ema",
            method="|".join(SA["methods"]),
            nfe=r"\d+",

    rule samplers:
        """FID against NFE per sampler, and the NFE at which each reaches the poster's sampler (1000 NFE)."""
        input:
            [
                f"{SAMPLER_EVALUATIONS}/{sampler_stem(SA['variant'], SA['epoch'], SA['weights'], m, n)}.json"
                for m in SA["methods"]
                for n in SA["nfe"]
            ],
        output:
            csv=f"{EXPERIMENTS}/samplers/samplers.csv",
            png=report(
                f"{EXPERIMENTS}/samplers/samplers.png", caption="../report/samplers.rst", category="Beyond the poster"
            ),
            json=f"{EXPERIMENTS}/samplers/samplers.json",
        log:
            f"{LOGS}/evaluate/samplers.log",
        shell:
            "{NCSN} samplers --evaluations {input} --baseline-nfe {BASELINE_NFE} --profile {config[profile]} "
            "--csv {output.csv:q} "
            "--png {output.png:q} --json {output.json:q} > {log} 2>&1"

    ALL_TARGETS += [f"{EXPERIMENTS}/samplers/samplers.{ext}" for ext in ("csv", "png", "json")]
