"""Checkpoint files: atomic writes, RNG state capture, and rebuilding a model from a checkpoint.

A checkpoint is a torch.save'd dict (see loop._Run.snapshot) holding the raw, EMA and warm-up EMA
weights, the optimizer state, the progress (epoch, batch within the epoch, step), every RNG state and the metric
rows so far.  Files are written to a temporary name in the same directory and renamed, so a run killed
at any moment leaves either the previous or the new file, never a torn one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ncsn.errors import NcsnError
from ncsn.models.registry import build_model
from ncsn.torch_files import link_atomic, load_dict, save_atomic  # noqa: F401  (used by training.loop)

CHECKPOINT_KEYS = ("arch", "model_kwargs", "model", "ema")
REMEDY = "run the train rule for its variant (python -m ncsn train)"
# The checkpoint key of each choice of `weights` (load_model, the samplers' --weights).
WEIGHTS_KEYS = {"raw": "model", "ema": "ema", "ema_warmup": "ema_warmup"}


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def _sigmas_problem(sigmas: Any) -> str | None:
    """Why `sigmas` is not a list of noise levels (None when it is one)."""
    if not isinstance(sigmas, (list, tuple, torch.Tensor)):
        return _kind(sigmas)
    try:
        levels = torch.as_tensor(sigmas, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return "not a list of numbers"
    if levels.ndim != 1 or len(levels) == 0:
        return f"of shape {tuple(levels.shape)}"
    if not bool(torch.isfinite(levels).all() and (levels > 0).all()):
        return "not all finite numbers > 0"
    return None


def check_model_kwargs(checkpoint: dict[str, Any], path: str | Path) -> None:
    """The network description must be a dict whose 'sigmas' are the noise levels (every reader needs them)."""
    kwargs = checkpoint["model_kwargs"]
    if not isinstance(kwargs, dict):
        problem = f"'model_kwargs' is {_kind(kwargs)}, not a dict of the network's keywords"
    elif "sigmas" not in kwargs:
        problem = "'model_kwargs' has no 'sigmas' (the noise levels the network was trained on)"
    else:
        reason = _sigmas_problem(kwargs["sigmas"])
        problem = None if reason is None else f"'model_kwargs.sigmas' is {reason}, not a list of noise levels"
    if problem:
        raise NcsnError(
            f"checkpoint {path}: {problem}; it was not written by this project's train command (or was "
            f"edited). Delete it and {REMEDY}."
        )


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    checkpoint = load_dict(path, "checkpoint", REMEDY, required=CHECKPOINT_KEYS, device=device)
    check_model_kwargs(checkpoint, path)
    return checkpoint


def capture_rng(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), **{name: g.get_state() for name, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    for name, g in generators.items():
        g.set_state(state[name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _weights_of(checkpoint: dict[str, Any], weights: str, path: str | Path) -> dict[str, Any]:
    """The state dict of `weights` in `checkpoint`; checkpoints written before the warm-up EMA lack it."""
    key = WEIGHTS_KEYS[weights]
    if key not in checkpoint:
        raise NcsnError(
            f"checkpoint {path} holds no {weights} weights (no '{key}' entry): it was written by an older "
            f"version of the training code, before the warm-up EMA was kept. Delete it and retrain its "
            f"variant with this version (python -m ncsn train, through the train rule)."
        )
    return checkpoint[key]


def load_model(path: str | Path, weights: str = "ema", device: str | torch.device = "cpu") -> nn.Module:
    """The score network saved in checkpoint `path`, with its raw, EMA or warm-up EMA weights, in eval mode."""
    if weights not in WEIGHTS_KEYS:
        raise ValueError(f"weights must be one of {', '.join(map(repr, WEIGHTS_KEYS))}, got {weights!r}")
    checkpoint = load_checkpoint(path, device)
    state = _weights_of(checkpoint, weights, path)
    kwargs = dict(checkpoint["model_kwargs"], sigmas=torch.tensor(checkpoint["model_kwargs"]["sigmas"]))
    try:
        model = build_model(checkpoint["arch"], **kwargs)
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as err:
        reason = str(err).strip().splitlines()[0][:200]
        raise NcsnError(
            f"checkpoint {path}: its {weights} weights do not fit the network it describes "
            f"({checkpoint['arch']}, {reason}); it was written by another version of the code or "
            f"edited. Delete it and rerun the train rule for its variant."
        ) from None
    return model.to(device).eval()
