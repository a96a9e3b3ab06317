"""Whether a training checkpoint holds the run that given settings ask for.

A checkpoint (loop._Run.snapshot) records `arch`, `model_kwargs` (sigmas, width, channels, dropout) and a
`fingerprint`: the variant, every training setting, the seed and the format version. Snakemake reruns a
variant's training when its settings change only while .snakemake/ remembers the old ones, so the files
are compared themselves: by the trainer before it resumes a state (loop._Run.resume) and by the report
before it reads a variant's results (ncsn.report.inputs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ncsn.training.settings import TrainSettings

# Settings that decide when state/last.pt is written, never the weights (a resumed run is bitwise equal).
NOT_IN_WEIGHTS = ("save_every_steps",)
# The sigmas are float32 values stored as Python floats: another PyTorch build may round the schedule
# differently in the last bit without training another network.
RELATIVE_TOLERANCE = 1e-6


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT = _Absent()  # the value of a key one side does not have


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value  # a tensor or numpy array


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any, rel_tol: float) -> bool:
    a, b = _plain(a), _plain(b)
    if _is_number(a) and _is_number(b):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0)
    if isinstance(a, Sequence) and isinstance(b, Sequence) and not isinstance(a, str) and not isinstance(b, str):
        return len(a) == len(b) and all(_same(x, y, rel_tol) for x, y in zip(a, b))
    return a == b


def differences(
    recorded: Mapping, expected: Mapping, *, rel_tol: float = 0.0, shared_only: bool = False, prefix: str = ""
) -> dict[str, tuple[Any, Any]]:
    """The dotted keys whose values differ between two nested dicts, each with (recorded, expected).

    Numbers are compared with relative tolerance `rel_tol` (0: exactly), lists and tuples element by
    element. With `shared_only` a key that one side lacks is no difference (an older file that does not
    record a setting); otherwise its value on that side is ABSENT."""
    keys = recorded.keys() & expected.keys() if shared_only else recorded.keys() | expected.keys()
    found: dict[str, tuple[Any, Any]] = {}
    for key in sorted(keys, key=str):
        a, b = recorded.get(key, ABSENT), expected.get(key, ABSENT)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found.update(differences(a, b, rel_tol=rel_tol, shared_only=shared_only, prefix=f"{prefix}{key}."))
        elif not _same(a, b, rel_tol):
            found[f"{prefix}{key}"] = (a, b)
    return found


def recorded_settings(checkpoint: Mapping) -> dict[str, Any]:
    """What a checkpoint records about the run that wrote it, by setting name: the training settings of
    its fingerprint (when it has one), its arch and model_kwargs, and its seed."""
    fingerprint = checkpoint.get("fingerprint")
    fingerprint = fingerprint if isinstance(fingerprint, Mapping) else {}
    recorded = dict(fingerprint.get("settings") or {})
    recorded.update(checkpoint["model_kwargs"], arch=checkpoint["arch"])
    if "seed" in fingerprint:
        recorded["seed"] = fingerprint["seed"]
    return recorded


def expected_settings(settings: TrainSettings, seed: int) -> dict[str, Any]:
    """The same names for a run of `settings` and `seed` (what the train command would record)."""
    return {**settings.as_dict(), **settings.model_kwargs(), "seed": seed}


def checkpoint_differences(checkpoint: Mapping, settings: TrainSettings, seed: int) -> dict[str, tuple[Any, Any]]:
    """The settings that determine the weights in which `checkpoint` differs from a run of `settings`
    and `seed`, each with (checkpoint's value, settings' value); empty when it is that run. Only what
    both sides record is compared; numbers (the sigmas) within RELATIVE_TOLERANCE."""
    found = differences(
        recorded_settings(checkpoint), expected_settings(settings, seed), rel_tol=RELATIVE_TOLERANCE, shared_only=True
    )
    return {key: values for key, values in found.items() if key.split(".")[0] not in NOT_IN_WEIGHTS}


def short(value: Any) -> str:
    """A value for a one-line message (long lists of numbers cut to their ends)."""
    value = _plain(value)
    if isinstance(value, (list, tuple)) and len(value) > 4 and all(_is_number(v) for v in value):
        return f"[{value[0]:.6g}, {value[1]:.6g}, ..., {value[-1]:.6g}] ({len(value)} values)"
    return repr(value)


def describe(found: Mapping[str, tuple[Any, Any]], recorded: str, expected: str) -> str:
    """'key = a in <recorded>, b in <expected>' for each difference, joined by '; '."""
    return "; ".join(f"{key} = {short(a)} in {recorded}, {short(b)} in {expected}" for key, (a, b) in found.items())
