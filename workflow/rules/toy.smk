# 2-D toy studies and the cost of the score-matching objectives (ncsn.toy). Only with `toy` in the config.
TOY = f"{RESULTS}/toy"


if "toy" in config:

    rule toy_score_field:
        """Train a noise conditional MLP by DSM on the uniform distribution on a circle; compare its field
        with the exact score of every perturbed density, by distance to the circle."""
        output:
            field=report(
                f"{TOY}/score_field/field.png",
                caption="../report/toy_score_field.rst",
                category="Toy studies",
                subcategory="score field",
            ),
            errors=report(
                f"{TOY}/score_field/errors.png",
                caption="../report/toy_score_field.rst",
                category="Toy studies",
                subcategory="score field",
            ),
            table=f"{TOY}/score_field/errors.csv",
            summary=f"{TOY}/score_field/score_field.json",
        log:
            f"{LOGS}/toy/score_field.log",
        benchmark:
            f"{BENCHMARKS}/toy/score_field.tsv"
        threads: 1
        params:
            settings=settings("toy", "score_field"),
            out_dir=f"{TOY}/score_field",
        shell:
            "{NCSN} toy-score-field --settings {params.settings:q} --seed {config[seed]} --device {config[device]} "
            "--threads {threads} --profile {config[profile]} --out-dir {params.out_dir:q} > {log} 2>&1"

    rule toy_mixing:
        """Plain vs annealed Langevin on the poster's two-mode mixture, with the exact score and with a
        DSM-trained MLP, from one uniform start per seed; weight of the (5, 5) mode over seeds."""
        output:
            samples=report(
                f"{TOY}/mixing/samples.png",
                caption="../report/toy_mixing.rst",
                category="Toy studies",
                subcategory="mixing",
            ),
            summary_table=report(
                f"{TOY}/mixing/mode_weights_summary.csv",
                caption="../report/toy_mixing.rst",
                category="Toy studies",
                subcategory="mixing",
            ),
            table=f"{TOY}/mixing/mode_weights.csv",
            summary=f"{TOY}/mixing/mixing.json",
        log:
            f"{LOGS}/toy/mixing.log",
        benchmark:
            f"{BENCHMARKS}/toy/mixing.tsv"
        threads: 1
        params:
            settings=settings("toy", "mixing"),
            out_dir=f"{TOY}/mixing",
        shell:
            "{NCSN} toy-mixing --settings {params.settings:q} --seed {config[seed]} --device {config[device]} "
            "--threads {threads} --profile {config[profile]} --out-dir {params.out_dir:q} > {log} 2>&1"

    rule toy_samplers:
        """The samplers experiment's methods on the two-mode mixture with the exact score: error of the
        recovered mode weight against NFE (toy.samplers; chains, seeds and levels of toy.mixing)."""
        output:
            plot=report(
                f"{TOY}/samplers/samplers.png",
                caption="../report/toy_samplers.rst",
                category="Toy studies",
                subcategory="samplers",
            ),
            table=f"{TOY}/samplers/samplers.csv",
            summary=f"{TOY}/samplers/samplers.json",
        log:
            f"{LOGS}/toy/samplers.log",
        benchmark:
            f"{BENCHMARKS}/toy/samplers.tsv"
        threads: 1
        params:
            settings=lambda w: json.dumps(
                {
                    **config["toy"]["samplers"],
                    **{k: config["toy"]["mixing"][k] for k in ("n_samples", "n_seeds", "init_bound", "annealed")},
                },
                sort_keys=True,
            ),
            out_dir=f"{TOY}/samplers",
        shell:
            "{NCSN} toy-samplers --settings {params.settings:q} --seed {config[seed]} --device {config[device]} "
            "--threads {threads} --profile {config[profile]} --out-dir {params.out_dir:q} > {log} 2>&1"

    rule toy_objective_cost:
        """Seconds per training step and peak memory of ISM, SSM and DSM on one fixed-width MLP as the
        data dimension grows; each size measured in its own process, with the job's threads."""
        output:
            plot=report(
                f"{TOY}/objective_cost/cost.png",
                caption="../report/toy_objective_cost.rst",
                category="Toy studies",
                subcategory="objective cost",
            ),
            table=f"{TOY}/objective_cost/cost.csv",
            summary=f"{TOY}/objective_cost/cost.json",
        log:
            f"{LOGS}/toy/objective_cost.log",
        benchmark:
            f"{BENCHMARKS}/toy/objective_cost.tsv"
        threads: 1
        params:
            settings=settings("toy", "objective_cost"),
            out_dir=f"{TOY}/objective_cost",
        shell:
            "{NCSN} toy-objective-cost --settings {params.settings:q} --seed {config[seed]} "
            "--device {config[device]} --threads {threads} --profile {config[profile]} "
            "--out-dir {params.out_dir:q} > {log} 2>&1"

    ALL_TARGETS += [
        f"{TOY}/score_field/score_field.json",
        f"{TOY}/mixing/mixing.json",
        f"{TOY}/objective_cost/cost.json",
        f"{TOY}/samplers/samplers.json",
    ]
