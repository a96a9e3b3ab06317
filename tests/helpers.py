"""Plain helpers shared by several test files (the fixtures built on them live in conftest.py).

Test files import from here, never from one another."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from ncsn import cli
from ncsn.models.forms import plain_forms
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas
from ncsn.sampling.driver import draw_samples

TRAINING_NOISE = {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10}
# `train --settings` of a one-epoch width-4 U-Net over 3 levels (a copy per use: tests edit it)
SMALL_UNET_SETTINGS = {
    "arch": "unet",
    "dataset": "mnist",
    "width": 4,
    "epochs": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "checkpoint_epochs": [1],
    "noise": {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 3},
}


def write_tiny_checkpoint(path: Path) -> Path:
    """A training checkpoint of an untrained width-4 U-Net over 3 noise levels, whose raw and EMA
    weights differ (the EMA weights are the raw ones halved)."""
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 3)
    kwargs = {"sigmas": sigmas.tolist(), "width": 4, "channels": 1, "dropout": 0.0}
    model = build_model("unet", **dict(kwargs, sigmas=sigmas))
    ema = build_model("unet", **dict(kwargs, sigmas=sigmas))
    for p in ema.parameters():
        p.data.mul_(0.5)  # raw and EMA weights differ
    torch.save(
        {
            "variant": "tiny",
            "arch": "unet",
            "model_kwargs": kwargs,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "progress": {"epoch": 1},
        },
        path,
    )
    return path


def training_settings(**overrides) -> dict:
    """Settings of `python -m ncsn train` for a small reference network (2 epochs, unparsed)."""
    base = dict(
        arch="refinenet",
        dataset="mnist",
        width=4,
        dropout=0.0,
        ema_rate=0.9,
        epochs=2,
        batch_size=16,
        lr=1e-3,
        checkpoint_epochs=[1, 2],
        train_subset=None,
        noise=TRAINING_NOISE,
        save_every_steps=3,
        heldout_size=16,
    )
    return {**base, **overrides}


def uniform_points(n: int = 400, scale: float = 8.0, seed: int = 0) -> torch.Tensor:
    """n float64 points drawn uniformly from the square [-scale, scale]^2."""
    gen = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, 2, generator=gen, dtype=torch.float64) - 1) * scale


def train_tiny_classifier(data: Path, out: Path, summary: Path | None = None) -> Path:
    """The domain classifier of `data` after one epoch at batch 32 on the CPU (seconds), through the CLI."""
    summary = summary or out.with_suffix(".json")
    argv = ["train-classifier", "--data", data, "--out", out, "--summary", summary, "--epochs", 1]
    assert cli.main([str(a) for a in [*argv, "--batch-size", 32, "--device", "cpu"]]) == 0
    return out


def side_by_side(commands: dict, cwd) -> dict:
    """key -> (exit code, stdout + stderr) of each command, all run at once: each is mostly Snakemake
    starting up and building its DAG, one core each."""
    runs = {
        key: subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for key, command in commands.items()
    }
    outputs = {key: run.communicate(timeout=300)[0] for key, run in runs.items()}
    return {key: (runs[key].returncode, outputs[key]) for key in runs}


def fast_vs_plain_image_difference(arch: str, width: int, n_samples: int) -> torch.Tensor:
    """|fast - plain| per pixel of the uint8 images that a freshly built `arch` network (seeded) draws after
    the poster's 1000 steps (10 levels x 100, epsilon 1e-5, sampler seed 3), once with this project's fast
    forms of its layers and once under plain_forms(): [n_samples, C, H, W] ints."""
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    model = build_model(arch, sigmas=sigmas, width=width).eval()
    kwargs = dict(n_samples=n_samples, batch_size=n_samples, step_lr=1e-5, n_steps_each=100, seed=3, progress=False)
    fast = draw_samples(model, sigmas, **kwargs)
    with plain_forms():
        plain = draw_samples(model, sigmas, **kwargs)
    return (fast.int() - plain.int()).abs()


def assert_bitwise_equal_at_thread_counts(compute, counts=(1, 2, 3)) -> None:
    """compute() returns tensors; they must be bitwise the same whatever torch's number of threads (restored after)."""
    threads = torch.get_num_threads()
    results = []
    try:
        for n in counts:
            torch.set_num_threads(n)
            results.append(tuple(compute()))
    finally:
        torch.set_num_threads(threads)
    for count, other in zip(counts[1:], results[1:]):
        assert all(torch.equal(a, b) for a, b in zip(results[0], other)), f"{count} threads differ from {counts[0]}"


def autograd_node_names(output: torch.Tensor) -> set[str]:
    """The class names of every node in the autograd graph behind `output`."""
    seen, stack = set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack += [next_node for next_node, _ in node.next_functions]
    return {type(node).__name__ for node in seen}
