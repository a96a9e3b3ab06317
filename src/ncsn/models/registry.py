"""Architecture name (the config's `arch`) -> constructor.  Adding an architecture = one module + one
line here (and the name in the schema's `arch` enum)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ncsn.errors import ConfigError
from ncsn.models.refinenet import RefineNet
from ncsn.models.unet import UNet

# Every constructor takes the same keywords: sigmas, width, channels, dropout.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "unet": UNet,
    "refinenet": RefineNet,
}


def build_model(arch: str, **kwargs) -> nn.Module:
    """Build the image score network `arch` (see ARCHITECTURES) with the given keyword arguments."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {arch!r}; known architectures: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[arch](**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
