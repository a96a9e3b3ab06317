# Image score networks: one `train` job per entry of config["variants"] (ncsn.training).
from ncsn.training.settings import merged_settings


localrules:
    train_checkpoint,


def trained_epoch(wildcards):
    """The train job's own copy of an epoch checkpoint; only configured epochs exist."""
    epochs = config["variants"][wildcards.variant]["checkpoint_epochs"]
    if int(wildcards.epoch) not in epochs:
        raise ValueError(
            f"variant {wildcards.variant} keeps no checkpoint at epoch {wildcards.epoch}; "
            f"configured: variants.{wildcards.variant}.checkpoint_epochs = {sorted(epochs)}"
        )
    return f"{RESULTS}/train/{wildcards.variant}/state/epoch_{wildcards.epoch}.pt"


rule train:
    """Denoising score matching over the geometric schedule with Adam and EMA weights. Writes
    state/epoch_{e}.pt for each configured epoch; an interrupted job resumes from state/last.pt."""
    input:
        lambda w: f"{RESULTS}/data/{config['variants'][w.variant]['dataset']}.pt",
    output:
        metrics=report(
            f"{RESULTS}/train/{{variant}}/metrics.csv",
            caption="../report/train_metrics.rst",
            category="Training",
            subcategory="{variant}",
        ),
    log:
        f"{LOGS}/train/{{variant}}.log",
    benchmark:
        f"{BENCHMARKS}/train/{{variant}}.tsv"
    wildcard_constraints:
        variant="|".join(config["variants"]),
    # Two threads per job: with `--cores 2` one training at a time, without oversubscribing the CPU.
    threads: 2
    resources:
        gpu=1,
    params:
        settings=lambda w: json.dumps(merged_settings(config, w.variant), sort_keys=True),
        out_dir=lambda w: f"{RESULTS}/train/{w.variant}",
    shell:
        "{NCSN} train --variant {wildcards.variant} --settings {params.settings:q} --data {input:q} "
        "--seed {config[seed]} --device {config[device]} --threads {threads} --out-dir {params.out_dir:q} > {log} 2>&1"


rule train_checkpoint:
    """Publish the checkpoint (raw + EMA weights) of one configured epoch (a hard link, no copy)."""
    input:
        metrics=f"{RESULTS}/train/{{variant}}/metrics.csv",
    output:
        f"{RESULTS}/train/{{variant}}/checkpoints/epoch_{{epoch}}.pt",
    log:
        f"{LOGS}/train/{{variant}}_epoch_{{epoch}}.log",
    wildcard_constraints:
        variant="|".join(config["variants"]),
        epoch=r"\d+",
    params:
        stored=trained_epoch,
    shell:
        "(ln -f {params.stored:q} {output:q} || cp {params.stored:q} {output:q}) > {log} 2>&1 && touch {output:q}"


ALL_TARGETS += [
    f"{RESULTS}/train/{variant}/checkpoints/epoch_{e}.pt"
    for variant, entry in config["variants"].items()
    for e in sorted(entry["checkpoint_epochs"])
]
ALL_TARGETS += expand(f"{RESULTS}/train/{{variant}}/metrics.csv", variant=config["variants"])
