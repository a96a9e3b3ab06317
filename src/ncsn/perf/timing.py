"""Timed work on score networks: one training step as the training loop takes it, one batch of score
evaluations as a sampler makes them, and interleaved timing of several competitors, so that a noisy
machine slows all of them alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from ncsn.losses import dsm_loss
from ncsn.training.ema import make_ema, make_warmup_ema
from ncsn.training.optimizer import adam


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_step(
    model: nn.Module, sigmas: torch.Tensor, x: torch.Tensor, score_fn=None, ema_rate: float = 0.999
) -> Callable[[], None]:
    """One step of ncsn.training.loop on the images x: DSM loss, backward, Adam, both EMA updates.
    `score_fn` (default: the model) computes the scores, e.g. a compiled form of the model.
    The DSM noise restarts from the same seed for every competitor."""
    device = sigmas.device
    score_fn = score_fn or model
    averages = [make_ema(model, ema_rate), make_warmup_ema(model, ema_rate)]
    optimizer = adam(model.parameters(), lr=1e-4)
    generator = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        model.train()
        loss = dsm_loss(score_fn, x, sigmas, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for average in averages:
            average.update_parameters(model)

    return step


def score_evaluation(model: nn.Module, sigmas: torch.Tensor, x: torch.Tensor, score_fn=None) -> Callable[[], None]:
    """One forward pass of a sampler on x: eval mode, inference mode, one noise level for the batch."""
    score_fn = score_fn or model
    sigma = sigmas[len(sigmas) // 2].expand(len(x)).contiguous()

    def evaluate() -> None:
        model.eval()
        with torch.inference_mode():
            score_fn(x, sigma)

    return evaluate


def round_seconds(
    calls: dict[str, Callable[[], None]], rounds: int, device: torch.device, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall time of each call in each of `rounds` rounds that take the calls in turn."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def median_seconds(
    calls: dict[str, Callable[[], None]], rounds: int, device: torch.device, warmup: int = 1
) -> dict[str, float]:
    """Median wall time of each call over `rounds` rounds that take the calls in turn."""
    return {name: statistics.median(values) for name, values in round_seconds(calls, rounds, device, warmup).items()}
