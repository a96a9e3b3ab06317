# Annealed Langevin samples from training checkpoints (ncsn.sampling). Only with `evaluation` in the config.
SHARDS = config["sampler"].get("shards", 1)
SET_WILDCARDS = {
    "variant": one_of(config["variants"]),
    "seed": r"\d+",
    "point": layout.POINT_PATTERN,
    "weights": "raw|ema_warmup|ema",
    "eps": r"[0-9.e+-]+",
    "T": r"\d+",
}
SET = ("{variant}", "{seed}", "{point}", "{weights}", "{eps}", "{T}")
SET_NAME = "{variant}_seed_{seed}_{point}_{weights}_eps{eps}_T{T}"


if "evaluation" in config:

    if SHARDS == 1:

        rule sample:
            """Draw evaluation.n_samples images by annealed Langevin dynamics from the raw or EMA weights of
            one checkpoint, at step size epsilon and T steps per level; seeded, batched."""
            input:
                res(layout.checkpoint("{variant}", "{seed}", "{point}")),
            output:
                samples=res(layout.sample_set(*SET)),
                grid=report(
                    res(layout.sample_set(*SET, ext="png")),
                    caption="../report/samples.rst",
                    category="Samples",
                    subcategory="{variant}",
                ),
            log:
                log_of("sample", SET_NAME),
            benchmark:
                benchmark_of("sample", SET_NAME)
            wildcard_constraints:
                **SET_WILDCARDS,
            conda:
                CONDA_ENV
            threads: JOB_THREADS
            resources:
                gpu=1,
            params:
                **sample_params(),
                shard="",
            shell:
                SAMPLE_COMMAND

    else:

        localrules:
            sample,

        rule sample_shard:
            """One of sampler.shards parts of a sample set (contiguous batches, each with its own seed), so
            that the parts of a large set run side by side on several GPUs; merged by `sample`."""
            input:
                res(layout.checkpoint("{variant}", "{seed}", "{point}")),
            output:
                samples=temp(res(layout.sample_shard(*SET, "{k}"))),
                grid=temp(res(layout.sample_shard(*SET, "{k}", ext="png"))),
            log:
                log_of("sample", f"{SET_NAME}.shard{{k}}"),
            benchmark:
                benchmark_of("sample", f"{SET_NAME}.shard{{k}}")
            wildcard_constraints:
                **SET_WILDCARDS,
                k=r"\d+",
            conda:
                CONDA_ENV
            threads: JOB_THREADS
            resources:
                gpu=1,
            params:
                **sample_params(),
                shard=lambda w: f"--shard {w.k}/{SHARDS}",
            shell:
                SAMPLE_COMMAND

        rule sample:
            """A sample set from its sampler.shards shards (bitwise the images of one unsharded job)."""
            input:
                [res(layout.sample_shard(*SET, k)) for k in range(SHARDS)],
            output:
                samples=res(layout.sample_set(*SET)),
                grid=report(
                    res(layout.sample_set(*SET, ext="png")),
                    caption="../report/samples.rst",
                    category="Samples",
                    subcategory="{variant}",
                ),
            log:
                log_of("sample", f"{SET_NAME}.merge"),
            wildcard_constraints:
                **SET_WILDCARDS,
            conda:
                CONDA_ENV
            shell:
                "python -m ncsn merge-samples --shards {input:q} --out {output.samples:q} "
                "--grid {output.grid:q} > {log} 2>&1"
