"""Every file of results/ that the report reads, for a given config: the report rule declares them as
its inputs (so Snakemake reruns whatever produces a missing one), and ``build_report`` checks them all
before it writes anything. A section builder reads nothing that is not listed here (tests/test_end_to_end.py
builds the report from a folder holding these files only).

Not listed, on purpose: Snakemake's benchmark files (results/benchmarks/), which the provenance section
reads when they exist; a benchmark is part of the job that writes it, not a file another rule can ask for.

The trained checkpoints are not read by any section, but every number of the report comes from them:
``check_checkpoints_match_config`` refuses a report whose checkpoints were trained with other settings
than the config's (Snakemake only notices a changed setting while .snakemake/ remembers the old one).
"""

from __future__ import annotations

from pathlib import Path

from ncsn import layout, plan
from ncsn.errors import NcsnError
from ncsn.training.checkpoint import load_checkpoint
from ncsn.training.settings import merged_settings, parse_settings
from ncsn.training.settings_match import checkpoint_differences, short


def report_inputs(config: dict, results: str | Path = "results") -> list[Path]:
    """The files of `results` that the report opens (ncsn.plan lists them for the rule and for this check)."""
    return [Path(results) / path for path in plan.report_inputs(config)]


def producer(path: Path, results: Path) -> str:
    return layout.producer(Path(path).relative_to(results).as_posix())


def missing_inputs_message(missing: list[Path], results: Path) -> str:
    listed = "; ".join(f"{p} (rule {producer(p, results)})" for p in missing)
    return (
        f"the report needs {len(missing)} file(s) that do not exist: {listed}. Nothing was written and the "
        f"previous report is untouched. Run the workflow (make study / make laptop), which reruns the rules "
        f"named, then the report."
    )


def trained_checkpoint(config: dict, variant: str, seed: int, results: Path) -> Path | None:
    """The one file that stands for a training run (every checkpoint of a run comes from the job that
    wrote its metrics): its last configured epoch as the samplers read it (checkpoints/), else as the
    train job keeps it (state/), else the train job's latest state; None when there is none."""
    point = layout.epoch_point(max(config["variants"][variant]["checkpoint_epochs"]))
    candidates = [
        layout.checkpoint(variant, seed, point),
        layout.stored_checkpoint(variant, seed, point),
        f"{layout.training_dir(variant, seed)}/{layout.TRAINING_LAST_STATE}",
    ]
    return next((results / path for path in candidates if (results / path).is_file()), None)


def config_key(config: dict, variant: str, setting: str) -> str:
    """Where the config sets a training setting of `variant` (a key of settings_match.recorded_settings)."""
    name = setting.split(".")[0]
    entry = config["variants"][variant]
    if name in ("noise", "sigmas"):
        return f"variants.{variant}.noise" if "noise" in entry else "noise"
    if name == "seed":
        return f"variants.{variant}.seeds" if "seeds" in entry else "seed"
    if name in entry or name not in config.get("training", {}):
        return f"variants.{variant}.{setting}"
    return f"training.{setting}"


def checkpoint_mismatches(config: dict, results: str | Path) -> dict[tuple[str, int], tuple[Path, dict]]:
    """The training runs whose checkpoint differs from the config's settings: (variant, seed) ->
    (checkpoint, {setting: (checkpoint's value, config's value)})."""
    mismatches = {}
    for variant, seed in plan.runs(config):
        path = trained_checkpoint(config, variant, seed, Path(results))
        if path is None:
            continue  # nothing trained yet, or a folder of the report's inputs only
        settings = parse_settings(merged_settings(config, variant))
        found = checkpoint_differences(load_checkpoint(path), settings, seed)
        if found:
            mismatches[variant, seed] = (path, found)
    return mismatches


def stale_checkpoints_message(
    config: dict, results: str | Path, mismatches: dict[tuple[str, int], tuple[Path, dict]]
) -> str:
    differing = "; ".join(
        f"{path} was trained with {key} = {short(old)}, the config asks {short(new)} ({config_key(config, v, key)})"
        for (v, _), (path, found) in mismatches.items()
        for key, (old, new) in found.items()
    )
    forcerun = " ".join(f"--forcerun {Path(results) / layout.training_metrics(*run)}" for run in mismatches)
    return (
        f"the report would describe networks that the config did not ask for: {differing}. Snakemake reruns "
        f"training when a setting changes only while .snakemake/ remembers the old value (a new clone or a "
        f"deleted .snakemake/ forgets it). Nothing was written and the previous report is untouched. Either "
        f"restore the config's values, or retrain: add `{forcerun}` to your snakemake command (with make: "
        f"SNAKE_ARGS='{forcerun}'; the old training state is kept under state.stale/ beside the new one)."
    )


def check_checkpoints_match_config(config: dict, results: str | Path) -> None:
    """Raise NcsnError when a variant's checkpoint was trained with other settings than `config`'s. Reads
    one checkpoint per trained variant, on the CPU."""
    mismatches = checkpoint_mismatches(config, results)
    if mismatches:
        raise NcsnError(stale_checkpoints_message(config, results, mismatches))
