"""The poster's "simplified U-Net", written from scratch: a small noise-conditional U-Net for 28 x 28
images.

Three resolutions (28, 14, 7) with `width`, 2 `width`, 2 `width` channels, one residual block per
resolution on the way down and one on the way up (with the skip connection concatenated), one block
in the middle.  The noise level enters continuously: log(sigma) is embedded with sinusoidal features
and a small MLP, and each residual block adds a per-channel projection of that embedding.  The output
is divided by sigma (Song & Ermon 2020, "technique 3"), so the network only has to predict a
unit-scale direction while the true score grows like 1/sigma.  Any positive sigma is accepted; the
`sigmas` argument is only kept (as a buffer) so that every architecture is built the same way.

Speed, with the same mathematics and state_dict: activations and convolution weights are channels_last
(faster oneDNN convolutions on the CPU, tensor-core layout on a GPU), group norm and SiLU are one
function that is fast on channels_last tensors (ncsn.models.group_norm), and results that nothing else
reads are updated in place. Without autograd on an AVX-512 CPU (sampling), each residual block is two native
kernels (ncsn.models.native.conv3x3): norm + SiLU + convolution, then norm + SiLU + convolution + the skip
branch, so that the normalised activations never go to memory; the upsampling convolutions read their
half-size input directly. Training and anything else that needs gradients keeps PyTorch's convolutions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncsn.models import native
from ncsn.models.forms import needs_grad, plain, under_transform
from ncsn.models.group_norm import group_norm_silu

MEMORY_FORMAT = torch.channels_last


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 8), channels)


def sinusoidal_embedding(log_sigma: Tensor, dim: int) -> Tensor:
    """[N] -> [N, dim]: sin and cos of log(sigma) at frequencies 1 .. 100 (log-spaced)."""
    freqs = torch.logspace(0, 2, dim // 2, device=log_sigma.device, dtype=log_sigma.dtype)
    angles = log_sigma[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = _norm(c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        if self.takes_native(x, emb):
            return self.native_forward(x, emb)
        h = self.conv1(group_norm_silu(x, self.norm1))
        # The noise-level embedding is added to h inside the next norm (no pass of its own in the native kernel).
        h = self.conv2(self.dropout(group_norm_silu(h, self.norm2, offset=self.emb(emb))))
        # In place only on a fresh convolution output (a convolution does not keep its output for backward).
        return h.add_(self.skip(x))

    def takes_native(self, x: Tensor, emb: Tensor) -> bool:
        """Whether both convolutions run as native kernels with their norms (and the residual) folded in:
        without autograd and dropout, on the CPU in float32, unless the plain forms or a transform are asked for."""
        return (
            not (self.training and isinstance(self.dropout, nn.Dropout))
            and _native_inference(x, emb, *self.parameters())
            and native.accepts_group_norm_silu(x, self.norm1.weight, self.norm1.bias, None)
            and native.accepts_conv3x3(x, self.conv1)
            and native.conv3x3_takes(self.conv2)
        )

    def native_forward(self, x: Tensor, emb: Tensor) -> Tensor:
        n1, n2 = self.norm1, self.norm2
        h = native.conv3x3(
            x, native.conv_blocks(self.conv1.weight), self.conv1.bias, None, False, n1.weight, n1.bias,
            n1.num_groups, n1.eps,
        )  # fmt: skip
        return native.conv3x3(
            h, native.conv_blocks(self.conv2.weight), self.conv2.bias, self.skip(x), False, n2.weight, n2.bias,
            n2.num_groups, n2.eps, self.emb(emb).contiguous(),
        )  # fmt: skip


class UNet(nn.Module):
    def __init__(
        self,
        sigmas: Tensor | None = None,
        width: int = 32,
        channels: int = 1,
        dropout: float = 0.0,
        channel_mults: tuple[int, ...] = (1, 2, 2),
    ):
        super().__init__()
        self.register_buffer("sigmas", torch.as_tensor([] if sigmas is None else sigmas, dtype=torch.float32).clone())
        self.embed_dim = width
        emb_dim = 4 * width
        self.embed = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.stem = nn.Conv2d(channels, width, 3, padding=1)

        widths = [width * m for m in channel_mults]
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        c = width
        for i, c_out in enumerate(widths):
            self.down_blocks.append(ResBlock(c, c_out, emb_dim, dropout))
            c = c_out
            last = i == len(widths) - 1
            self.downsamples.append(nn.Identity() if last else nn.Conv2d(c, c, 3, stride=2, padding=1))

        self.middle = ResBlock(c, c, emb_dim, dropout)

        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i, c_skip in reversed(list(enumerate(widths))):
            c_out = widths[i - 1] if i > 0 else width
            self.up_blocks.append(ResBlock(c + c_skip, c_out, emb_dim, dropout))
            c = c_out
            self.upsamples.append(nn.Conv2d(c, c, 3, padding=1) if i > 0 else nn.Identity())

        self.out_norm = _norm(c)
        self.out_conv = nn.Conv2d(c, channels, 3, padding=1)
        self.to(memory_format=MEMORY_FORMAT)  # the convolution weights; shapes and state_dict keys unchanged

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        sigma = sigma.reshape(-1).to(x.dtype)
        emb = self.embed(sinusoidal_embedding(sigma.log(), self.embed_dim))
        h = self.stem(x.contiguous(memory_format=MEMORY_FORMAT))
        skips = []
        for block, down in zip(self.down_blocks, self.downsamples):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.middle(h, emb)
        for block, up in zip(self.up_blocks, self.upsamples):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(up, nn.Identity):
                # Sizes 7 -> 14 -> 28: upsample to the next skip's size (odd sizes round correctly).
                size = skips[-1].shape[2:]
                if size == (2 * h.shape[2], 2 * h.shape[3]) and _native_upsampling(h, up):
                    h = native.conv3x3(h, native.conv_blocks(up.weight), up.bias, None, True)
                else:
                    h = up(F.interpolate(h, size=size, mode="nearest"))
        h = group_norm_silu(h, self.out_norm)
        if _native_output(h, self.out_conv, sigma):
            return native.conv3x3_to_one(h, native.conv_taps(self.out_conv.weight), self.out_conv.bias, sigma)
        return (self.out_conv(h) / sigma[:, None, None, None]).contiguous()


def _native_inference(*tensors: Tensor) -> bool:
    """Whether the native inference kernels may run: no autograd, the kernels built, and neither the plain
    forms nor a torch.func / torch.compile transform asked for."""
    return not (needs_grad(*tensors) or plain() or under_transform()) and native.available()


def _native_output(h: Tensor, conv: nn.Conv2d, sigma: Tensor) -> bool:
    """Whether the last convolution and the division by sigma run as the native kernel (on the CPU in float32)."""
    return _native_inference(h, conv.weight) and native.accepts_conv3x3_to_one(h, conv, sigma)


def _native_upsampling(h: Tensor, conv: nn.Conv2d) -> bool:
    """Whether an upsampling convolution runs as the native kernel, with the 2x nearest upsampling folded in."""
    return _native_inference(h, conv.weight) and native.accepts_conv3x3(h, conv)
