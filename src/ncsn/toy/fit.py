"""Training of a noise conditional toy score network by denoising score matching (NCSN objective)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ncsn.errors import DivergenceError
from ncsn.losses import dsm_loss


def fit_dsm(
    model: nn.Module,
    sample: Callable[[int, torch.Generator], torch.Tensor],
    sigmas: torch.Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    desc: str = "dsm",
) -> list[float]:
    """Adam on ``dsm_loss`` with a fresh batch ``sample(batch_size, generator)`` at every step.

    The learning rate decays from ``lr`` to 0 on a cosine: the score is read off the final weights,
    and a constant rate would leave them jittering around the optimum by an amount that shows in
    what the samplers recover. Returns the loss of every step. The data are drawn on the CPU from
    ``generator`` (reproducible on any device) and moved to the model's device.
    """
    device = next(model.parameters()).device
    sigmas = sigmas.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    noise = torch.Generator(device=device).manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    losses = []
    model.train()
    bar = tqdm(range(steps), desc=desc, mininterval=5.0)
    for step in bar:
        x = sample(batch_size, generator).to(device)
        loss = dsm_loss(model, x, sigmas, generator=noise)
        if not torch.isfinite(loss):
            raise DivergenceError(f"{desc}: DSM loss is {loss.item()} at step {step}; lower the learning rate.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    model.eval()
    return losses
