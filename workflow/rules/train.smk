# Image score networks: one `train` job per entry of config["variants"] (ncsn.training).


localrules:
    train_checkpoint,


rule train:
    """Denoising score matching over the geometric schedule with Adam and EMA weights. Writes
    state/epoch_{e}.pt for each configured epoch; an interrupted job resumes from state/last.pt."""
    input:
        training_data,
    output:
        metrics=report(
            res(layout.training_metrics("{variant}")),
            caption="../report/train_metrics.rst",
            category="Training",
            subcategory="{variant}",
        ),
    log:
        log_of("train", "{variant}"),
    benchmark:
        benchmark_of("train", "{variant}")
    wildcard_constraints:
        variant=one_of(config["variants"]),
    conda:
        CONDA_ENV
    # Two threads per job: with `--cores 2` one training at a time, without oversubscribing the CPU.
    threads: 2
    resources:
        gpu=1,
    params:
        settings=training_settings,
        out_dir=lambda w, output: os.path.dirname(output.metrics),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m ncsn train --variant {wildcards.variant} --settings {params.settings:q} --data {input:q} "
        "--seed {params.seed} --device {params.device} --threads {threads} --out-dir {params.out_dir:q} > {log} 2>&1"


rule train_checkpoint:
    """Publish the checkpoint (raw + EMA weights) of one configured epoch (a hard link, no copy)."""
    input:
        metrics=res(layout.training_metrics("{variant}")),
    output:
        res(layout.checkpoint("{variant}", "{epoch}")),
    log:
        log_of("train", "{variant}_epoch_{epoch}"),
    wildcard_constraints:
        variant=one_of(config["variants"]),
        epoch=r"\d+",
    conda:
        CONDA_ENV
    params:
        # Written by the train job beside metrics.csv (its declared output): the train job keeps every
        # configured epoch in state/, and this rule only links one of them into checkpoints/.
        stored=trained_epoch,
    shell:
        "(ln -f {params.stored:q} {output:q} || cp {params.stored:q} {output:q}) > {log} 2>&1 && touch {output:q}"
