"""Every file of results/ that the report reads, for a given config: the report rule declares them as
its inputs (so Snakemake reruns whatever produces a missing one), and ``build_report`` checks them all
before it writes anything. A section builder reads nothing that is not listed here (tests/test_end_to_end.py
builds the report from a folder holding these files only).

Not listed, on purpose: Snakemake's benchmark files (results/benchmarks/), which the provenance section
reads when they exist; a benchmark is part of the job that writes it, not a file another rule can ask for.
"""

from __future__ import annotations

from pathlib import Path

from ncsn import layout

# The config section that makes the study run each experiment.
EXPERIMENT_SECTIONS = {"table1": "evaluation", "figure1": "sweep", "figure2": "fashion", "samplers": "samplers"}


def classifier_datasets(config: dict) -> list[str]:
    """Datasets whose domain classifier the study trains (those of evaluated and Fashion variants)."""
    if "evaluation" not in config:
        return []
    names = config["evaluation"]["variants"] + config.get("fashion", {}).get("variants", [])
    return sorted({config["variants"][v]["dataset"] for v in names})


def report_inputs(config: dict, results: str | Path = "results") -> list[Path]:
    r = Path(results)
    files = [layout.dataset_summary(d) for d in config["data"]["datasets"]]
    files += [layout.classifier_summary(d) for d in classifier_datasets(config)]
    files += [layout.training_metrics(name) for name in config["variants"]]
    if "toy" in config:
        toys = ["score_field", "mixing", "objective_cost"] + (["samplers"] if "samplers" in config["toy"] else [])
        files += [layout.toy(name, role) for name in toys for role in layout.TOY_FILES[name]]
    experiments = [name for name, section in EXPERIMENT_SECTIONS.items() if section in config]
    files += [path for name in experiments for path in layout.experiment_files(name)]
    if "throughput" in config:
        files.append(layout.THROUGHPUT)
    return [r / path for path in files]


def producer(path: Path, results: Path) -> str:
    return layout.producer(Path(path).relative_to(results).as_posix())


def missing_inputs_message(missing: list[Path], results: Path) -> str:
    listed = "; ".join(f"{p} (rule {producer(p, results)})" for p in missing)
    return (
        f"the report needs {len(missing)} file(s) that do not exist: {listed}. Nothing was written and the "
        f"previous report is untouched. Run the workflow (make study / make laptop), which reruns the rules "
        f"named, then the report."
    )
