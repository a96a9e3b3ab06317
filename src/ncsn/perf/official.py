"""The official NCSN network (ermongroup/ncsn, models/cond_refinenet_dilated.py), loaded from a checkout
by path for side-by-side timing.  Nothing of it is part of this package: the user points --official
at their own checkout."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import Tensor, nn

from ncsn.errors import NcsnError

MODEL_FILE = Path("models/cond_refinenet_dilated.py")


def load_official_module(root: str | Path):
    path = Path(root) / MODEL_FILE
    if not path.is_file():
        raise NcsnError(f"--official {root}: no {MODEL_FILE} there; point it at a checkout of ermongroup/ncsn.")
    spec = importlib.util.spec_from_file_location("ermongroup_ncsn_cond_refinenet_dilated", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_official(root: str | Path, width: int, n_levels: int, channels: int = 1, image_size: int = 28) -> nn.Module:
    """CondRefineNetDilated with the few config fields its constructor and forward read."""
    config = SimpleNamespace(
        data=SimpleNamespace(channels=channels, image_size=image_size, logit_transform=False),
        model=SimpleNamespace(ngf=width, num_classes=n_levels),
    )
    return load_official_module(root).CondRefineNetDilated(config)


class LevelIndexed(nn.Module):
    """score_fn(x, sigma) over a network indexed by level (the official forward takes labels)."""

    def __init__(self, net: nn.Module, sigmas: Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("sigmas", torch.as_tensor(sigmas, dtype=torch.float32).clone())

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        labels = (sigma.reshape(-1, 1).to(self.sigmas) == self.sigmas).int().argmax(dim=1)
        return self.net(x, labels)
