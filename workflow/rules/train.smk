# Image score networks: one `train` job per training run, a variant of config["variants"] trained from one of
# its seeds (variants.<name>.seeds, default the study's seed; ncsn.training).


localrules:
    train_checkpoint,


rule train:
    """Denoising score matching over the geometric schedule with Adam and EMA weights, from one seed. Writes
    state/epoch_{e}.pt and state/step_{s}.pt for each configured epoch and step; an interrupted job resumes
    from state/last.pt."""
    input:
        training_data,
    output:
        metrics=report(
            res(layout.training_metrics("{variant}", "{seed}")),
            caption="../report/train_metrics.rst",
            category="Training",
            subcategory="{variant}",
        ),
    log:
        log_of("train", "{variant}_seed_{seed}"),
    benchmark:
        benchmark_of("train", "{variant}_seed_{seed}")
    wildcard_constraints:
        variant=one_of(config["variants"]),
        seed=r"\d+",
    conda:
        CONDA_ENV
    threads: JOB_THREADS
    resources:
        gpu=1,
    params:
        settings=training_settings,
        out_dir=lambda w, output: os.path.dirname(output.metrics),
        device=config["device"],
    shell:
        "python -m ncsn train --variant {wildcards.variant} --settings {params.settings:q} --data {input:q} "
        "--seed {wildcards.seed} --device {params.device} --threads {threads} --out-dir {params.out_dir:q} > {log} 2>&1"


rule train_checkpoint:
    """Publish the checkpoint (raw + EMA weights) of one configured epoch or step (a hard link, no copy)."""
    input:
        metrics=res(layout.training_metrics("{variant}", "{seed}")),
    output:
        res(layout.checkpoint("{variant}", "{seed}", "{point}")),
    log:
        log_of("train", "{variant}_seed_{seed}_{point}"),
    wildcard_constraints:
        variant=one_of(config["variants"]),
        seed=r"\d+",
        point=layout.POINT_PATTERN,
    conda:
        CONDA_ENV
    params:
        # Written by the train job beside metrics.csv (its declared output): the train job keeps every
        # configured point in state/, and this rule only links one of them into checkpoints/.
        stored=trained_point,
    shell:
        "(ln -f {params.stored:q} {output:q} || cp {params.stored:q} {output:q}) > {log} 2>&1 && touch {output:q}"
