"""Langevin samplers over any ``score_fn(x, sigma)`` (analytic scores and networks alike).

Step-size convention (NCSN paper, the poster and the official toy runner): at level i,
``alpha_i = step_lr * sigma_i**2 / sigma_L**2`` and ``x <- x + alpha_i / 2 * s(x, sigma_i) + sqrt(alpha_i) * z``.
The official *image* sampler writes ``x + eta * s + sqrt(2 * eta) * z`` with
``eta = step_lr' * sigma_i**2 / sigma_L**2``, so its ``step_lr'`` is half of the ``step_lr`` here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.inference_mode()
def langevin(score_fn: ScoreFn, x: torch.Tensor, step_size: float, n_steps: int,
             generator: torch.Generator | None = None, sigma: float = 0.0, progress: bool = False) -> torch.Tensor:
    """Plain (unadjusted) Langevin dynamics with a fixed step ``alpha = step_size``.

    ``sigma`` is the noise level handed to ``score_fn`` (the smallest trained level for a noise
    conditional network, 0 for a data score).
    """
    x = x.clone()
    sigma_batch = torch.full((x.shape[0],), float(sigma), device=x.device, dtype=x.dtype)
    noise_scale = step_size ** 0.5
    noise = torch.empty_like(x)
    for _ in tqdm(range(n_steps), desc="langevin", disable=not progress, leave=False):
        x.add_(score_fn(x, sigma_batch), alpha=step_size / 2).add_(noise.normal_(generator=generator), alpha=noise_scale)
    return x


@torch.inference_mode()
def annealed_langevin(score_fn: ScoreFn, x: torch.Tensor, sigmas: torch.Tensor, step_lr: float,
                      n_steps_each: int, generator: torch.Generator | None = None, denoise: bool = False,
                      progress: bool = False) -> torch.Tensor:
    """Annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1) over decreasing ``sigmas``.

    With ``denoise=True`` the chain ends with one Tweedie step at the smallest level,
    ``x + sigma_L**2 * s(x, sigma_L)``: the posterior mean E[x_0 | x] of the sigma_L-perturbed data.
    """
    sigmas = [float(s) for s in sigmas]
    if any(a <= b for a, b in zip(sigmas, sigmas[1:])):
        raise ValueError(f"sigmas must be strictly decreasing, got {sigmas}")
    x = x.clone()
    sigma_last = sigmas[-1]
    bar = tqdm(total=len(sigmas) * n_steps_each, desc="annealed langevin", disable=not progress, leave=False)
    # Every per-level constant is made before the loop, and the loop only queues device work (no
    # .item(), no host-side checks), so that on a GPU it never waits for the device.
    sigma_batches = torch.tensor(sigmas, device=x.device, dtype=x.dtype)[:, None].expand(-1, x.shape[0]).contiguous()
    noise = torch.empty_like(x)
    for sigma, sigma_batch in zip(sigmas, sigma_batches):
        alpha = step_lr * sigma ** 2 / sigma_last ** 2
        noise_scale = alpha ** 0.5
        for _ in range(n_steps_each):
            x.add_(score_fn(x, sigma_batch), alpha=alpha / 2).add_(noise.normal_(generator=generator), alpha=noise_scale)
            bar.update()
    bar.close()
    if denoise:
        x = tweedie_denoise(score_fn, x, sigma_last)
    return x


@torch.inference_mode()
def tweedie_denoise(score_fn: ScoreFn, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """E[x_0 | x] for x = x_0 + sigma z, by Tweedie's formula: ``x + sigma**2 * score(x, sigma)``."""
    sigma_batch = torch.full((x.shape[0],), float(sigma), device=x.device, dtype=x.dtype)
    return x + sigma ** 2 * score_fn(x, sigma_batch)
