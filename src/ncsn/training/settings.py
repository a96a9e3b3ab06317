"""The settings of one training run: a config variant merged with the shared `training` section and
the noise schedule (what the train rule passes as --settings JSON)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from ncsn.errors import ConfigError
from ncsn.json_settings import json_object
from ncsn.noise import geometric_sigmas


@dataclass(frozen=True)
class TrainSettings:
    arch: str
    dataset: str
    width: int
    epochs: int
    batch_size: int
    lr: float
    checkpoint_epochs: tuple[int, ...]
    noise: dict[str, float]  # sigma_max, sigma_min, n_levels
    dropout: float = 0.0
    ema_rate: float = 0.999
    train_subset: int | None = None  # null = the whole training split
    save_every_steps: int = 200  # also write state/last.pt every this many optimizer steps
    heldout_size: int = 256  # images of the test split in the fixed held-out batch
    checkpoint_steps: tuple[int, ...] = ()  # also keep state/step_{s}.pt when the optimizer step count reaches s

    def sigmas(self) -> torch.Tensor:
        return geometric_sigmas(self.noise["sigma_max"], self.noise["sigma_min"], self.noise["n_levels"])

    def model_kwargs(self) -> dict[str, Any]:
        """Keywords of ncsn.models.registry.build_model (besides arch); stored in every checkpoint."""
        return {"sigmas": self.sigmas().tolist(), "width": self.width, "channels": 1, "dropout": self.dropout}

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_keys(data: dict[str, Any]) -> None:
    """No unknown and no missing setting."""
    fields = {f.name: f for f in dataclasses.fields(TrainSettings)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown training setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(fields)}")
    required = [
        n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [n for n in required if n not in data]
    if missing:
        raise ConfigError(f"missing training setting(s) {', '.join(map(repr, missing))}")


def _check_values(data: dict[str, Any]) -> None:
    """Counts are integers >= 1, the learning rate and the noise schedule finite numbers > 0."""
    problems = [
        f"'{name}' must be an integer >= 1, got {data[name]!r}"
        for name in ("width", "epochs", "batch_size", "save_every_steps", "heldout_size")
        if name in data and not (isinstance(data[name], int) and data[name] >= 1)
    ]
    numbers = {"lr": data["lr"], **{f"noise.{k}": v for k, v in dict(data["noise"]).items()}}
    problems += [
        f"'{name}' must be a finite number > 0, got {value!r}"
        for name, value in numbers.items()
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0)
    ]
    problems += _checkpoint_steps_problems(data.get("checkpoint_steps", ()))
    if problems:
        raise ConfigError(
            "training settings are invalid: " + "; ".join(problems) + ". Fix the variant in the "
            "config (config/README.md, section `variants`)."
        )


def _checkpoint_steps_problems(steps: Any) -> list[str]:
    """Why `checkpoint_steps` is not a list of optimizer-step counts (integers >= 1); [] when it is one."""
    if not isinstance(steps, (list, tuple)):
        return [f"'checkpoint_steps' must be a list of integers >= 1 (optimizer steps), got {steps!r}"]
    bad = [s for s in steps if isinstance(s, bool) or not isinstance(s, int) or s < 1]
    if bad:
        return [f"'checkpoint_steps' must hold integers >= 1 (optimizer steps), got {bad!r} in {list(steps)!r}"]
    return []


def parse_settings(raw: str | dict[str, Any]) -> TrainSettings:
    """From the JSON text (or dict) of --settings; unknown or missing keys are ConfigErrors."""
    data = json_object(
        raw, "--settings", "the training settings of one variant, as the train rule passes them", ConfigError
    )
    _check_keys(data)
    data["checkpoint_epochs"] = tuple(sorted(set(int(e) for e in data["checkpoint_epochs"])))
    _check_values(data)
    if "checkpoint_steps" in data:
        data["checkpoint_steps"] = tuple(sorted(set(data["checkpoint_steps"])))
    settings = TrainSettings(**data)
    late = [e for e in settings.checkpoint_epochs if not 1 <= e <= settings.epochs]
    if late:
        raise ConfigError(
            f"checkpoint_epochs {list(late)} lie outside 1..epochs ({settings.epochs}); "
            f"a checkpoint can only be written at an epoch that is trained"
        )
    return settings


# Keys of a config variant that shape the workflow, not one training run (a run gets its seed on the command line).
WORKFLOW_KEYS = ("seeds",)


def merged_settings(config: dict[str, Any], variant: str) -> dict[str, Any]:
    """The --settings of `variant`: its config entry over the `training` section and the `noise` schedule."""
    entry = {k: v for k, v in config["variants"][variant].items() if k not in WORKFLOW_KEYS}
    return {**config["training"], **entry, "noise": entry.get("noise", config["noise"])}
