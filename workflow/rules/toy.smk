# 2-D toy studies and the cost of the score-matching objectives (ncsn.toy). Only with `toy` in the config.


if "toy" in config:

    rule toy_score_field:
        """Train a noise conditional MLP by DSM on the uniform distribution on a circle; compare its field
        with the exact score of every perturbed density, by distance to the circle."""
        output:
            field=report(
                res(layout.toy("score_field", "field")),
                caption="../report/toy_score_field.rst",
                category="Toy studies",
                subcategory="score field",
            ),
            errors=report(
                res(layout.toy("score_field", "errors")),
                caption="../report/toy_score_field.rst",
                category="Toy studies",
                subcategory="score field",
            ),
            table=res(layout.toy("score_field", "table")),
            summary=res(layout.toy("score_field", "summary")),
        log:
            log_of("toy", "score_field"),
        benchmark:
            benchmark_of("toy", "score_field")
        conda:
            CONDA_ENV
        threads: 1
        params:
            settings=settings("toy", "score_field"),
            out_dir=lambda w, output: os.path.dirname(output.summary),
            seed=config["seed"],
            device=config["device"],
            profile=config["profile"],
        shell:
            "python -m ncsn toy-score-field --settings {params.settings:q} --seed {params.seed} "
            "--device {params.device} --threads {threads} --profile {params.profile} "
            "--out-dir {params.out_dir:q} > {log} 2>&1"

    rule toy_mixing:
        """Plain vs annealed Langevin on the poster's two-mode mixture, with the exact score and with a
        DSM-trained MLP, from one uniform start per seed; weight of the (5, 5) mode over seeds."""
        output:
            samples=report(
                res(layout.toy("mixing", "samples")),
                caption="../report/toy_mixing.rst",
                category="Toy studies",
                subcategory="mixing",
            ),
            summary_table=report(
                res(layout.toy("mixing", "summary_table")),
                caption="../report/toy_mixing.rst",
                category="Toy studies",
                subcategory="mixing",
            ),
            table=res(layout.toy("mixing", "table")),
            summary=res(layout.toy("mixing", "summary")),
        log:
            log_of("toy", "mixing"),
        benchmark:
            benchmark_of("toy", "mixing")
        conda:
            CONDA_ENV
        threads: 1
        params:
            settings=settings("toy", "mixing"),
            out_dir=lambda w, output: os.path.dirname(output.summary),
            seed=config["seed"],
            device=config["device"],
            profile=config["profile"],
        shell:
            "python -m ncsn toy-mixing --settings {params.settings:q} --seed {params.seed} "
            "--device {params.device} --threads {threads} --profile {params.profile} "
            "--out-dir {params.out_dir:q} > {log} 2>&1"

    rule toy_samplers:
        """The samplers experiment's methods on the two-mode mixture with the exact score: error of the
        recovered mode weight against NFE (toy.samplers; chains, seeds and levels of toy.mixing)."""
        output:
            plot=report(
                res(layout.toy("samplers", "plot")),
                caption="../report/toy_samplers.rst",
                category="Toy studies",
                subcategory="samplers",
            ),
            table=res(layout.toy("samplers", "table")),
            summary=res(layout.toy("samplers", "summary")),
        log:
            log_of("toy", "samplers"),
        benchmark:
            benchmark_of("toy", "samplers")
        conda:
            CONDA_ENV
        threads: 1
        params:
            settings=toy_samplers_settings(),
            out_dir=lambda w, output: os.path.dirname(output.summary),
            seed=config["seed"],
            device=config["device"],
            profile=config["profile"],
        shell:
            "python -m ncsn toy-samplers --settings {params.settings:q} --seed {params.seed} "
            "--device {params.device} --threads {threads} --profile {params.profile} "
            "--out-dir {params.out_dir:q} > {log} 2>&1"

    rule toy_objective_cost:
        """Seconds per training step and peak memory of ISM, SSM and DSM on one fixed-width MLP as the
        data dimension grows; each size measured in its own process, with the job's threads."""
        output:
            plot=report(
                res(layout.toy("objective_cost", "plot")),
                caption="../report/toy_objective_cost.rst",
                category="Toy studies",
                subcategory="objective cost",
            ),
            table=res(layout.toy("objective_cost", "table")),
            summary=res(layout.toy("objective_cost", "summary")),
        log:
            log_of("toy", "objective_cost"),
        benchmark:
            benchmark_of("toy", "objective_cost")
        conda:
            CONDA_ENV
        threads: 1
        params:
            settings=settings("toy", "objective_cost"),
            out_dir=lambda w, output: os.path.dirname(output.summary),
            seed=config["seed"],
            device=config["device"],
            profile=config["profile"],
        shell:
            "python -m ncsn toy-objective-cost --settings {params.settings:q} --seed {params.seed} "
            "--device {params.device} --threads {threads} --profile {params.profile} "
            "--out-dir {params.out_dir:q} > {log} 2>&1"
