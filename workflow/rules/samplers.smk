# Beyond the poster: quality against the number of score evaluations for several samplers on one
# checkpoint (ncsn.sampling.methods, ncsn.evaluation.samplers_figure). Only with `samplers` in the config.
METHOD_SET = ("{variant}", "{seed}", "{point}", "{weights}", "{method}", "{nfe}")
METHOD_SET_NAME = "{variant}_seed_{seed}_{point}_{weights}_{method}_nfe{nfe}"


if "samplers" in config:

    localrules:
        samplers,

    rule sample_method:
        """Draw evaluation.n_samples images with one method of the samplers experiment at a budget of
        NFE score evaluations per image; seeded like the poster's sampler."""
        input:
            res(layout.checkpoint("{variant}", "{seed}", "{point}")),
        output:
            samples=res(layout.method_sample_set(*METHOD_SET)),
            grid=res(layout.method_sample_set(*METHOD_SET, ext="png")),
        log:
            log_of("sample_method", METHOD_SET_NAME),
        benchmark:
            benchmark_of("sample_method", METHOD_SET_NAME)
        wildcard_constraints:
            variant=one_of(config["variants"]),
            seed=r"\d+",
            point=layout.POINT_PATTERN,
            weights="raw|ema_warmup|ema",
            method=one_of(config["samplers"]["methods"]),
            nfe=r"\d+",
        conda:
            CONDA_ENV
        threads: JOB_THREADS
        resources:
            gpu=1,
        params:
            ev=evaluation_values("sample_batch_size", "init"),
            n=set_size_of,
            settings=lambda w: json.dumps(config["samplers"]["methods"][w.method], sort_keys=True),
            flags=sampler_flags(seeding=False),
            seed=config["seed"],
            device=config["device"],
        shell:
            "python -m ncsn sample --checkpoint {input:q} --weights {wildcards.weights} --method {wildcards.method} "
            "--nfe {wildcards.nfe} --method-settings {params.settings:q} --n-samples {params.n} "
            "--batch-size {params.ev[sample_batch_size]} --init {params.ev[init]} {params.flags} "
            "--seed {params.seed} --device {params.device} --threads {threads} "
            "--out {output.samples:q} --grid {output.grid:q} > {log} 2>&1"

    use rule evaluate as evaluate_method with:
        input:
            **evaluation_inputs(method_set_of),
        output:
            res(layout.method_evaluation(*METHOD_SET)),
        log:
            log_of("evaluate_method", METHOD_SET_NAME),
        benchmark:
            benchmark_of("evaluate_method", METHOD_SET_NAME)
        wildcard_constraints:
            variant=one_of(config["variants"]),
            seed=r"\d+",
            point=layout.POINT_PATTERN,
            weights="raw|ema_warmup|ema",
            method=one_of(config["samplers"]["methods"]),
            nfe=r"\d+",

    rule samplers:
        """FID against NFE per sampler, and the NFE at which each reaches the poster's sampler (1000 NFE)."""
        input:
            method_evaluations(),
        output:
            csv=res(layout.experiment("samplers", "csv")),
            png=report(
                res(layout.experiment("samplers", "png")),
                caption="../report/samplers.rst",
                category="Beyond the poster",
            ),
            json=res(layout.experiment("samplers", "json")),
        log:
            log_of("evaluate", "samplers"),
        conda:
            CONDA_ENV
        params:
            # the study's own ALD: L levels x T steps
            baseline_nfe=config["noise"]["n_levels"] * config["sampler"]["n_steps_each"],
            profile=config["profile"],
        shell:
            "python -m ncsn samplers --evaluations {input} --baseline-nfe {params.baseline_nfe} "
            "--profile {params.profile} --csv {output.csv:q} --png {output.png:q} --json {output.json:q} "
            "> {log} 2>&1"
