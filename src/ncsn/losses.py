"""Score-matching objectives.

``dsm_loss`` is the NCSN objective (Song & Ermon 2019) over a noise conditional ``score_fn(x, sigma)``:
denoising score matching at a noise level drawn per sample, weighted by lambda(sigma) = sigma^2 so
that every level contributes on the same scale.

``ism_loss`` (Hyvarinen 2005) and ``ssm_loss`` (Song et al. 2020) fit the score of the data itself,
so their ``score_fn(x)`` takes the data alone. Both equal the explicit objective
``0.5 E||s(x) - grad log p(x)||^2`` up to a constant that does not depend on the model. Their
derivatives in x come from ``torch.func``, whose results stay differentiable for the model's
parameters, so ``loss.backward()`` trains through them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jacrev, jvp, vmap

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DataScoreFn = Callable[[torch.Tensor], torch.Tensor]


def dsm_loss(
    score_fn: ScoreFn, x: torch.Tensor, sigmas: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mean over the batch of ``0.5 * sigma^2 * || s(x~, sigma) - (x - x~) / sigma^2 ||^2``.

    For each sample one level is drawn uniformly from ``sigmas`` and ``x~ = x + sigma * z``; the
    squared norm sums over all data dimensions. With ``x~ - x = sigma z`` the weighted term equals
    ``0.5 * || sigma * s(x~, sigma) + z ||^2``, which is what is computed.
    """
    return dsm_losses(score_fn, x, sigmas, generator=generator).mean()


def dsm_losses(
    score_fn: ScoreFn, x: torch.Tensor, sigmas: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The per-sample terms [N] of ``dsm_loss`` (same draws of levels and noise for the same generator)."""
    sigmas = sigmas.to(device=x.device, dtype=x.dtype)
    levels = torch.randint(len(sigmas), (x.shape[0],), device=x.device, generator=generator)
    sigma = sigmas[levels]
    z = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
    shape = (-1,) + (1,) * (x.dim() - 1)
    perturbed = x + sigma.view(shape) * z
    score = score_fn(perturbed, sigma)
    residual = sigma.view(shape) * score + z
    return 0.5 * residual.pow(2).flatten(1).sum(dim=1)


def ism_loss(score_fn: DataScoreFn, x: torch.Tensor) -> torch.Tensor:
    """Implicit score matching: mean over the batch of ``0.5 ||s(x)||^2 + tr(ds/dx)``, trace exact.

    The Jacobian of each sample's score is built whole (``vmap`` of ``jacrev``, i.e. D
    vector-Jacobian products per sample), so time and memory grow with D^2: the cost that sliced and
    denoising score matching avoid. ``score_fn`` must treat the samples of a batch independently.
    """
    event_shape = x.shape[1:]

    def one_sample(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score = score_fn(flat.view(1, *event_shape)).reshape(-1)
        return score, score

    jacobian, score = vmap(jacrev(one_sample, has_aux=True))(x.reshape(x.shape[0], -1))
    trace = jacobian.diagonal(dim1=-2, dim2=-1).sum(dim=-1)
    return (0.5 * score.pow(2).sum(dim=-1) + trace).mean()


def ssm_loss(
    score_fn: DataScoreFn,
    x: torch.Tensor,
    n_projections: int = 1,
    generator: torch.Generator | None = None,
    variance_reduction: bool = False,
) -> torch.Tensor:
    """Sliced score matching with ``n_projections`` Gaussian directions v ~ N(0, I) per sample.

    Mean over samples and directions of ``v^T (ds/dx) v + 0.5 (v^T s)^2``, the form of the lecture
    and of Song et al. (2020, eq. 7). ``v^T (ds/dx) v`` is one forward-mode Jacobian-vector product
    (``torch.func.jvp``), so the cost is a small multiple of one forward pass whatever D is.
    With ``variance_reduction=True`` the second term is ``0.5 ||s||^2``, its exact expectation over
    v (SSM-VR; valid because v is standard normal): the same expected value with less variance.
    Hutchinson's identity E[v^T A v] = tr(A) makes the expectation equal to ``ism_loss``.
    """
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    repeated = x.repeat(n_projections, *([1] * (x.dim() - 1)))
    v = torch.randn(repeated.shape, device=x.device, dtype=x.dtype, generator=generator)
    score, jacobian_v = jvp(score_fn, (repeated,), (v,))
    v_jacobian_v = (v * jacobian_v).flatten(1).sum(dim=1)
    if variance_reduction:
        second = 0.5 * score.pow(2).flatten(1).sum(dim=1)
    else:
        second = 0.5 * (v * score).flatten(1).sum(dim=1).pow(2)
    return (v_jacobian_v + second).mean()
