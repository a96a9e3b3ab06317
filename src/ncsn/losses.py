"""Score-matching objectives over any ``score_fn(x, sigma)``.

``dsm_loss`` is the NCSN objective (Song & Ermon 2019): denoising score matching at a noise level
drawn per sample, weighted by lambda(sigma) = sigma^2 so that every level contributes on the same
scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def dsm_loss(score_fn: ScoreFn, x: torch.Tensor, sigmas: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean over the batch of ``0.5 * sigma^2 * || s(x~, sigma) - (x - x~) / sigma^2 ||^2``.

    For each sample one level is drawn uniformly from ``sigmas`` and ``x~ = x + sigma * z``; the
    squared norm sums over all data dimensions. With ``x~ - x = sigma z`` the weighted term equals
    ``0.5 * || sigma * s(x~, sigma) + z ||^2``, which is what is computed.
    """
    sigmas = sigmas.to(device=x.device, dtype=x.dtype)
    levels = torch.randint(len(sigmas), (x.shape[0],), device=x.device, generator=generator)
    sigma = sigmas[levels]
    z = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
    shape = (-1,) + (1,) * (x.dim() - 1)
    perturbed = x + sigma.view(shape) * z
    score = score_fn(perturbed, sigma)
    residual = sigma.view(shape) * score + z
    return 0.5 * residual.pow(2).flatten(1).sum(dim=1).mean()
