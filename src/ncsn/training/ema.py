"""Exponential moving average of the weights, through torch's AveragedModel.

Semantics (torch.optim.swa_utils): the first update_parameters() call copies the model's weights;
every later call does ema <- ema + (1 - decay) * (theta - ema) (= decay * ema + (1 - decay) * theta).
Buffers are not averaged but copied from the model at each update (use_buffers=False): our networks
have no running statistics, and the reference network's `sigmas` buffer must stay bitwise exact.
"""

from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: nn.Module, decay: float) -> AveragedModel:
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
