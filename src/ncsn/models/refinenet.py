"""The reference score network of Song & Ermon (2019): a dilated RefineNet whose every normalisation is
a conditional instance normalisation++ indexed by the noise level ("CondRefineNetDilated", MNIST
configuration, 28 x 28 inputs).

Written from the paper's description (appendix B.1) and checked against the official implementation
(ermongroup/ncsn, models/cond_refinenet_dilated.py): width 64 with one channel and 10 levels has
7,638,657 parameters ("7.64M") and width 16 has 518,817, exactly as there; with the official weights
renamed into this module, outputs agree to float rounding (1e-6).  Two differences, neither changing
the default network's function: `dropout` (the poster's Fashion-MNIST "bigger + dropout" variant, 0 by
default) puts a dropout layer inside every residual block of the encoder, and the down-sampling
convolutions are followed by a plain 2x2 mean (computed as one stride-2 convolution, or as pooling
before the 1x1 shortcut: ncsn.models.convolution.ConvMeanPool), which is what the official
"ConvMeanPool" computes on even-sized maps.

Like the official code, the network rescales its [0, 1] input to [-1, 1] internally
(`2 x - 1`, the official default when the logit transform is off); data and scores stay in [0, 1]
image space.

The network is used as score_fn(x, sigma) with sigma a Tensor[N] of per-sample noise levels: each
sigma must be one of the model's own levels (the `sigmas` buffer), which selects the row of every
conditional normalisation.

Speed (the mathematics and the state_dict are those above): activations run in channels_last memory
format (the oneDNN convolutions are faster on it, on the CPU), the normalisation and the ELU after it
are one native kernel (ncsn.models.norms; where it does not run, the fused PyTorch form there and
ncsn.models.activations' ELU, since PyTorch's CPU ELU is slow on negative inputs), the 5 x 5 mean pooling
is a native separable filter (ncsn.models.pooling), the wide 3 x 3 convolutions take NNPACK's FFT on the CPU and
the down-sampling convolution + mean pool is one stride-2 convolution (ncsn.models.convolution),
results that nothing else reads are updated in place, same-size bilinear "upsampling" (an exact
copy with align_corners) is skipped, and checking the noise levels does not stop a GPU to read back
a flag.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncsn.models.activations import elu
from ncsn.models.convolution import Conv3x3, ConvMeanPool
from ncsn.models.norms import cond_instance_norm_plus
from ncsn.models.pooling import mean_pool_same

MEMORY_FORMAT = torch.channels_last


class CondInstanceNormPlus(nn.Module):
    """Instance norm with per-level scale gamma, shift beta and a weight alpha on the normalised
    channel means, which instance norm alone would erase (the "++" of the paper, eq. in B.1)."""

    def __init__(self, features: int, n_levels: int):
        super().__init__()
        self.features = features
        self.embed = nn.Embedding(n_levels, 3 * features)
        with torch.no_grad():
            self.embed.weight[:, : 2 * features].normal_(1.0, 0.02)  # gamma, alpha ~ N(1, 0.02)
            self.embed.weight[:, 2 * features :].zero_()  # beta = 0

    def forward(self, x: Tensor, level: Tensor, elu: bool = False) -> Tensor:
        """The normalised x; with `elu`, its ELU (one fused pass where the native kernels run)."""
        gamma, alpha, beta = self.embed(level).chunk(3, dim=1)
        return cond_instance_norm_plus(x, gamma, alpha, beta, elu=elu)


def _norm_elu(norm: CondInstanceNormPlus, x: Tensor, level: Tensor) -> Tensor:
    return norm(x, level, elu=True)


class CondResidualBlock(nn.Module):
    """norm - ELU - conv - norm - ELU - [dropout] - conv, plus a shortcut.

    `down` without dilation halves the resolution (conv + mean pool); `down` with a dilation keeps
    the resolution and only changes the receptive field (as in the official dilated network, where
    the two later "down" stages are dilated convolutions with stride 1)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        n_levels: int,
        *,
        down: bool = False,
        dilation: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.norm1 = CondInstanceNormPlus(c_in, n_levels)
        d = dilation or 1
        mid = c_in if down else c_out
        self.conv1 = Conv3x3(c_in, mid, bias=True, dilation=d)
        self.norm2 = CondInstanceNormPlus(mid, n_levels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if down and dilation is None:
            self.conv2: nn.Module = ConvMeanPool(mid, c_out, 3)
            self.shortcut: nn.Module | None = ConvMeanPool(c_in, c_out, 1)
        else:
            self.conv2 = Conv3x3(mid, c_out, bias=True, dilation=d)
            needs_shortcut = down or c_in != c_out
            self.shortcut = Conv3x3(c_in, c_out, bias=True, dilation=d) if needs_shortcut else None

    def forward(self, x: Tensor, level: Tensor) -> Tensor:
        h = self.conv1(_norm_elu(self.norm1, x, level))
        h = self.conv2(self.dropout(_norm_elu(self.norm2, h, level)))
        return h.add_(x if self.shortcut is None else self.shortcut(x))  # h: a fresh conv / pool output


class CondRCU(nn.Module):
    """Residual conv units: `n_blocks` times (n_stages x [norm - ELU - conv]) + identity."""

    def __init__(self, features: int, n_blocks: int, n_levels: int, n_stages: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleList(
                nn.ModuleList([CondInstanceNormPlus(features, n_levels), Conv3x3(features, features, bias=False)])
                for _ in range(n_stages)
            )
            for _ in range(n_blocks)
        )

    def forward(self, x: Tensor, level: Tensor) -> Tensor:
        for block in self.blocks:
            h = x
            for norm, conv in block:
                h = conv(_norm_elu(norm, h, level))
            x = h.add_(x)  # h: a fresh conv output
        return x


class CondMSF(nn.Module):
    """Multi-resolution fusion: normalise and convolve every input, upsample to `shape`, sum."""

    def __init__(self, in_features: list[int], features: int, n_levels: int):
        super().__init__()
        self.norms = nn.ModuleList(CondInstanceNormPlus(c, n_levels) for c in in_features)
        self.convs = nn.ModuleList(Conv3x3(c, features, bias=True) for c in in_features)

    def forward(self, xs: list[Tensor], level: Tensor, shape: torch.Size) -> Tensor:
        total = None
        for x, norm, conv in zip(xs, self.norms, self.convs):
            h = conv(norm(x, level))
            if h.shape[2:] != shape:  # at the same size, align_corners bilinear is an exact copy
                h = F.interpolate(h, size=shape, mode="bilinear", align_corners=True)
            total = h if total is None else total.add_(h)
        return total


class CondCRP(nn.Module):
    """Chained residual pooling: a chain of [norm - 5x5 avg pool - conv], each output added to x."""

    def __init__(self, features: int, n_levels: int, n_stages: int = 2):
        super().__init__()
        self.norms = nn.ModuleList(CondInstanceNormPlus(features, n_levels) for _ in range(n_stages))
        self.convs = nn.ModuleList(Conv3x3(features, features, bias=False) for _ in range(n_stages))

    def forward(self, x: Tensor, level: Tensor) -> Tensor:
        x = elu(x, inplace=True)  # x: a fresh RCU or fusion output
        path = x
        for norm, conv in zip(self.norms, self.convs):
            path = conv(mean_pool_same(norm(path, level), 5))
            x = path + x
        return x


class CondRefineBlock(nn.Module):
    def __init__(self, in_features: list[int], features: int, n_levels: int, *, end: bool = False):
        super().__init__()
        self.adapt = nn.ModuleList(CondRCU(c, 2, n_levels) for c in in_features)
        self.fuse = CondMSF(in_features, features, n_levels) if len(in_features) > 1 else None
        self.pool = CondCRP(features, n_levels)
        self.output = CondRCU(features, 3 if end else 1, n_levels)

    def forward(self, xs: list[Tensor], level: Tensor) -> Tensor:
        hs = [adapt(x, level) for adapt, x in zip(self.adapt, xs)]
        h = hs[0] if self.fuse is None else self.fuse(hs, level, xs[0].shape[2:])
        return self.output(self.pool(h, level), level)


def _run(blocks: nn.ModuleList, x: Tensor, level: Tensor) -> Tensor:
    for block in blocks:
        x = block(x, level)
    return x


class RefineNet(nn.Module):
    """CondRefineNetDilated. `width` is the official `ngf` (64 for MNIST in the paper)."""

    def __init__(self, sigmas: Tensor, width: int = 64, channels: int = 1, dropout: float = 0.0):
        super().__init__()
        sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
        self.register_buffer("sigmas", sigmas.clone())
        n, w = len(sigmas), width

        def block(c_in: int, c_out: int, **kw) -> CondResidualBlock:
            return CondResidualBlock(c_in, c_out, n, dropout=dropout, **kw)

        self.begin_conv = nn.Conv2d(channels, w, 3, padding=1)
        self.res1 = nn.ModuleList([block(w, w), block(w, w)])
        self.res2 = nn.ModuleList([block(w, 2 * w, down=True), block(2 * w, 2 * w)])
        self.res3 = nn.ModuleList([block(2 * w, 2 * w, down=True, dilation=2), block(2 * w, 2 * w, dilation=2)])
        self.res4 = nn.ModuleList([block(2 * w, 2 * w, down=True, dilation=4), block(2 * w, 2 * w, dilation=4)])
        self.refine1 = CondRefineBlock([2 * w], 2 * w, n)
        self.refine2 = CondRefineBlock([2 * w, 2 * w], 2 * w, n)
        self.refine3 = CondRefineBlock([2 * w, 2 * w], w, n)
        self.refine4 = CondRefineBlock([w, w], w, n, end=True)
        self.end_norm = CondInstanceNormPlus(w, n)
        self.end_conv = nn.Conv2d(w, channels, 3, padding=1)
        self.to(memory_format=MEMORY_FORMAT)  # the convolution weights; shapes and state_dict keys unchanged

    def level_index(self, sigma: Tensor) -> Tensor:
        """Index of each per-sample sigma in the model's schedule (exact match required)."""
        matches = sigma.reshape(-1, 1).to(self.sigmas) == self.sigmas.reshape(1, -1)
        if matches.is_cuda or torch.compiler.is_compiling():
            # Checked on the device, without a host sync (a sampler calls this at every step); under
            # torch.compile a host-side check would break the graph (and stalled the CPU compiler).
            torch._assert_async(matches.any(dim=1).all(), "noise level(s) not in this model's schedule")
        elif not bool(matches.any(dim=1).all()):
            unknown = sigma.reshape(-1)[~matches.any(dim=1)].unique().tolist()
            raise ValueError(
                f"noise level(s) {unknown} are not in this model's schedule "
                f"{self.sigmas.tolist()}; the reference network is indexed by level and only "
                f"accepts its own sigmas"
            )
        return matches.int().argmax(dim=1)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        level = self.level_index(sigma)
        h = self.begin_conv((2 * x - 1).contiguous(memory_format=MEMORY_FORMAT))
        layer1 = _run(self.res1, h, level)
        layer2 = _run(self.res2, layer1, level)
        layer3 = _run(self.res3, layer2, level)
        layer4 = _run(self.res4, layer3, level)
        h = self.refine1([layer4], level)
        h = self.refine2([layer3, h], level)
        h = self.refine3([layer2, h], level)
        h = self.refine4([layer1, h], level)
        return self.end_conv(_norm_elu(self.end_norm, h, level)).contiguous()  # no copy for one channel
