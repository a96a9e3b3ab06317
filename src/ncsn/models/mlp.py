"""Small fully connected score networks for low-dimensional data (the toy studies).

``mlp`` is a plain network x -> s(x) (the data score of ISM / SSM and of the objective-cost study).

``NoiseConditionalMLP`` is s(x, sigma) = f([c_in x, log sigma]) / sigma with
c_in = 1 / sqrt(sigma^2 + data_std^2):
* the input scaling keeps the network's input near unit variance at every level (x + sigma z has
  per-coordinate variance about data_std^2 + sigma^2), so levels a hundred times apart share one net;
* dividing by sigma is the NCSNv2 output scaling (Song & Ermon 2020): the DSM target
  -(x~ - x) / sigma^2 = -z / sigma has norm ~ sqrt(D) / sigma, so f only has to learn an O(1)
  quantity (f ~ sigma * score ~ -E[z | x~]) at every level;
* log sigma as an extra input is the conditioning.
Softplus activations, as in the official NCSN toy network: smooth, so the Jacobians that ISM and
SSM differentiate are smooth too.

These networks take [N, D] vectors, not images, and are not in ``ncsn.models.registry`` (whose
constructors all build image networks from sigmas, width, channels, dropout).
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_features: int, out_features: int, width: int = 128, depth: int = 3) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units with Softplus, then a linear output layer."""
    if width < 1 or depth < 1:
        raise ValueError(f"need width >= 1 and depth >= 1, got width={width}, depth={depth}")
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.Softplus()]
        features = width
    layers.append(nn.Linear(features, out_features))
    return nn.Sequential(*layers)


class NoiseConditionalMLP(nn.Module):
    """s(x, sigma) for x of shape [N, dim] and sigma of shape [N] (one level per sample) or a number."""

    def __init__(self, dim: int = 2, width: int = 128, depth: int = 3, data_std: float = 1.0):
        super().__init__()
        if data_std <= 0:
            raise ValueError(f"data_std must be > 0, got {data_std}")
        self.dim = dim
        self.data_std = float(data_std)
        self.net = mlp(dim + 1, dim, width, depth)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
        sigma = sigma.expand(x.shape[0]).reshape(-1, 1) if sigma.dim() == 0 else sigma.reshape(-1, 1)
        c_in = torch.rsqrt(sigma**2 + self.data_std**2)
        return self.net(torch.cat([x * c_in, sigma.log()], dim=1)) / sigma
