"""Exponential moving averages of the weights: torch's AveragedModel, and a warm-up average beside it.

`make_ema` (torch.optim.swa_utils semantics): the first update_parameters() call copies the model's
weights; every later call does ema <- ema + (1 - decay) * (theta - ema) (= decay * ema + (1 - decay) * theta).

`make_warmup_ema` follows the warm-up convention of TensorFlow's ExponentialMovingAverage with
num_updates: the average starts as a copy of the model it is built from, and the update that comes
after n earlier ones uses

    decay_n = min(decay, (1 + n) / (10 + n))        (n = 0, 1, 2, ...: 1/10, 2/11, 3/12, ...)

Why both: with a constant decay of 0.999 the initial weights still weigh 0.999 ** 2345 ~ 10% in the average
after 2345 steps, so early in training the average trails far behind the raw weights, while the
poster's EMA is already better than the raw weights at epoch 1. The warm-up average forgets the start
quickly (the initial weights weigh prod_n decay_n = 9! n! / (n + 9)! after n updates, 5e-4 after 5)
and averages over about the last (10 + n) / 9 steps until decay_n reaches `decay` (n ~ 9000 for 0.999).

In both, buffers are not averaged but copied from the model at each update: our networks have no
running statistics, and the reference network's `sigmas` buffer must stay bitwise exact.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)


def warmup_decay(decay: float, n_updates: int) -> float:
    """The decay of the update that follows `n_updates` earlier ones: min(decay, (1 + n) / (10 + n))."""
    return min(decay, (1 + n_updates) / (10 + n_updates))


class WarmupEMA(nn.Module):
    """The warm-up average of a model's weights (see the module docstring); `module` holds the averaged
    copy, `n_updates` counts the updates so far (it sets the next decay, so checkpoints keep it)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        self.module = copy.deepcopy(model)
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.n_updates = 0

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """One update: ema <- ema + (1 - decay_n) * (theta - ema) in one fused op per group of tensors
        (deterministic: elementwise, no reductions), then the buffers copied."""
        averaged = list(self.module.parameters())
        current = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(averaged, current, 1.0 - warmup_decay(self.decay, self.n_updates))
        for mine, theirs in zip(self.module.buffers(), model.buffers()):
            mine.copy_(theirs)
        self.n_updates += 1


def make_warmup_ema(model: nn.Module, decay: float) -> WarmupEMA:
    """The warm-up average of `model`'s weights, starting from a copy of them (its decay tends to `decay`)."""
    return WarmupEMA(model, decay)
