# Annealed Langevin samples from training checkpoints (ncsn.generate). Only with `evaluation` in the config.
SAMPLES = f"{RESULTS}/samples"


def eps_tag(step_lr):
    """epsilon as it appears in paths: 1e-05, 5e-06, 0.0001 (Python's `g` format)."""
    return f"{float(step_lr):g}"


def sample_path(variant, epoch, weights, step_lr, n_steps_each, ext="pt"):
    return f"{SAMPLES}/{variant}/epoch_{epoch}/{weights}/eps{eps_tag(step_lr)}_T{n_steps_each}.{ext}"


# Flags of every sample command: speed switches, and the seeding (sampler.seeding; "set" is the default).
SPEED_FLAGS = " ".join(
    [flag for key, flag in [("compile", "--compile"), ("bf16", "--bf16")] if config["sampler"].get(key, False)]
    + (["--seeding batch"] if config["sampler"].get("seeding", "set") == "batch" else [])
)
SHARDS = config["sampler"].get("shards", 1)


if "evaluation" in config:

    if SHARDS == 1:

        rule sample:
            """Draw evaluation.n_samples images by annealed Langevin dynamics from the raw or EMA weights of
            one checkpoint, at step size epsilon and T steps per level; seeded, batched."""
            input:
                f"{RESULTS}/train/{{variant}}/checkpoints/epoch_{{epoch}}.pt",
            output:
                samples=f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.pt",
                grid=report(
                    f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.png",
                    caption="../report/samples.rst",
                    category="Samples",
                    subcategory="{variant}",
                ),
            log:
                f"{LOGS}/sample/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.log",
            benchmark:
                f"{BENCHMARKS}/sample/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.tsv"
            wildcard_constraints:
                variant="|".join(config["variants"]),
                epoch=r"\d+",
                weights="raw|ema",
                eps=r"[0-9.e+-]+",
                T=r"\d+",
            threads: 2
            resources:
                gpu=1,
            params:
                ev=config.get("evaluation", {}),
                denoise=lambda w: "--denoise" if config["sampler"]["denoise"] else "",
                speed=lambda w: SPEED_FLAGS,
            shell:
                "{NCSN} sample --checkpoint {input:q} --weights {wildcards.weights} --step-lr {wildcards.eps} "
                "--n-steps-each {wildcards.T} --n-samples {params.ev[n_samples]} "
                "--batch-size {params.ev[sample_batch_size]} --init {params.ev[init]} {params.denoise} {params.speed} "
                "--seed {config[seed]} --device {config[device]} --threads {threads} "
                "--out {output.samples:q} --grid {output.grid:q} > {log} 2>&1"

    else:

        localrules:
            sample,

        rule sample_shard:
            """One of sampler.shards parts of a sample set (contiguous batches, each with its own seed), so
            that the parts of a large set run side by side on several GPUs; merged by `sample`."""
            input:
                f"{RESULTS}/train/{{variant}}/checkpoints/epoch_{{epoch}}.pt",
            output:
                samples=temp(f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.shard{{k}}.pt"),
                grid=temp(f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.shard{{k}}.png"),
            log:
                f"{LOGS}/sample/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.shard{{k}}.log",
            benchmark:
                f"{BENCHMARKS}/sample/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.shard{{k}}.tsv"
            wildcard_constraints:
                variant="|".join(config["variants"]),
                epoch=r"\d+",
                weights="raw|ema",
                eps=r"[0-9.e+-]+",
                T=r"\d+",
                k=r"\d+",
            threads: 2
            resources:
                gpu=1,
            params:
                ev=config.get("evaluation", {}),
                denoise=lambda w: "--denoise" if config["sampler"]["denoise"] else "",
                speed=lambda w: SPEED_FLAGS,
            shell:
                "{NCSN} sample --checkpoint {input:q} --weights {wildcards.weights} --step-lr {wildcards.eps} "
                "--n-steps-each {wildcards.T} --n-samples {params.ev[n_samples]} "
                "--batch-size {params.ev[sample_batch_size]} --init {params.ev[init]} {params.denoise} {params.speed} "
                "--shard {wildcards.k}/{SHARDS} --seed {config[seed]} --device {config[device]} --threads {threads} "
                "--out {output.samples:q} --grid {output.grid:q} > {log} 2>&1"

        rule sample:
            """A sample set from its sampler.shards shards (bitwise the images of one unsharded job)."""
            input:
                expand(
                    f"{SAMPLES}/{{{{variant}}}}/epoch_{{{{epoch}}}}/{{{{weights}}}}/eps{{{{eps}}}}_T{{{{T}}}}.shard{{k}}.pt",
                    k=range(SHARDS),
                ),
            output:
                samples=f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.pt",
                grid=report(
                    f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.png",
                    caption="../report/samples.rst",
                    category="Samples",
                    subcategory="{variant}",
                ),
            log:
                f"{LOGS}/sample/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.merge.log",
            wildcard_constraints:
                variant="|".join(config["variants"]),
                epoch=r"\d+",
                weights="raw|ema",
                eps=r"[0-9.e+-]+",
                T=r"\d+",
            shell:
                "{NCSN} merge-samples --shards {input:q} --out {output.samples:q} --grid {output.grid:q} > {log} 2>&1"
