"""Native CPU kernels of the networks' layers that PyTorch runs slowly, built on first use with the machine's C
compiler (csrc/kernels.c says how each works):

- `group_norm_silu(x, weight, bias, groups, eps, offset)`: silu(group_norm(x + offset)) in one C loop per
  sample, where the PyTorch form in ncsn.models.group_norm makes six passes over the activations;
- `conv3x3_to_one(x, taps, bias, divisor)`: the U-Net's last 3 x 3 convolution (to one channel) and its
  division by sigma, which oneDNN computes as slowly as a convolution to sixteen channels;
- `conv3x3(x, blocks, bias, residual, upsample, norm...)`: the U-Net's other 3 x 3 convolutions for sampling,
  with the group norm + SiLU before them, the residual after them or the 2x upsampling before them folded in
  (1.0-1.4x oneDNN's speed on the convolution alone at width 16, and no passes of their own for the rest), on
  AVX-512 CPUs (`conv3x3_pays`);
- `cond_instance_norm_plus(x, gamma, alpha, beta, eps, elu)`: the reference network's normalisation and the
  ELU after it in one read of each sample (the PyTorch forms make about a dozen passes);
- `box_mean(x, radius)`: its 5 x 5 mean pooling as a separable filter.

All are PyTorch operators (`ncsn::...`), so that torch.jit.trace records them in the traced sampling
network like any other operator; they take float32 channels_last tensors on the CPU without autograd
(`accepts_*`), and the callers use PyTorch's layers otherwise.

For training, `group_norm_silu_with_statistics` and `group_norm_silu_backward` are the two passes of
group_norm_silu with autograd (ncsn.models.group_norm wraps them in an autograd Function): the backward
reads the activations and the incoming gradient once from memory per sample and makes the gradients of x,
weight, bias and offset in the same loop, where PyTorch's group norm and SiLU backward make several passes.
U-Net width 16, batch 128, 2 threads (Intel 2-core), training steps timed in turn in one process: 760
images/s, against 614 for the PyTorch form of ncsn.models.group_norm and 697 for PyTorch's own layers.
`cond_instance_norm_plus_with_statistics` and `cond_instance_norm_plus_backward` are the same pair for the
reference network (ncsn.models.norms), and box_mean is its own backward pass (ncsn.models.pooling).

The library is compiled once per machine (about a second) into $NCSN_KERNEL_CACHE (default
~/.cache/ncsn/kernels), under a name that hashes the source, the flags, the compiler and the CPU, so a
changed source, compiler or node builds its own; the file is written under a temporary name and renamed,
so jobs that start side by side never load a half-written library. Where there is no compiler, the build
fails or NCSN_NATIVE_KERNELS=0 is set, `available()` is False (with a one-line warning, once, for a failed
build) and the callers use PyTorch's layers: the same results up to float rounding, slower.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

SOURCE = Path(__file__).with_name("csrc") / "kernels.c"
# No -ffast-math: its -ffinite-math-only would stop NaN and infinity from propagating (see csrc/kernels.c).
FLAGS = ["-O3", "-march=native", "-fno-trapping-math", "-freciprocal-math", "-fopenmp", "-fPIC", "-shared"]
BUILD_TIMEOUT_S = 120
# The instance norm keeps a few per-channel arrays of up to lcm(C, 16) floats on each thread's stack.
MAX_CHANNELS = 256


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    if os.environ.get("NCSN_KERNEL_CACHE"):
        return Path(os.environ["NCSN_KERNEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ncsn" / "kernels"


def _cpu_description() -> str:
    """What -march=native depends on: the CPU's model and feature flags (Linux), else the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags", "Features"))}))


def _compiler_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _build(compiler: str) -> Path:
    """The compiled library's path, compiling it first if the cache does not hold it."""
    source = SOURCE.read_bytes()
    key = hashlib.sha256(
        b"\0".join(
            [source, " ".join(FLAGS).encode(), _compiler_version(compiler).encode(), _cpu_description().encode()]
        )
    ).hexdigest()[:16]
    library = cache_dir() / f"kernels-{key}.so"
    if library.exists():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent, prefix=".build-") as tmp:
        built = Path(tmp) / library.name
        result = subprocess.run(
            [compiler, *FLAGS, str(SOURCE), "-o", str(built), "-lm"],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        if result.returncode != 0:
            first = (result.stderr.strip().splitlines() or ["no message"])[0][:300]
            raise RuntimeError(f"{compiler} exited with {result.returncode}: {first}")
        os.replace(built, library)
    return library


@functools.cache
def _library() -> ctypes.CDLL | None:
    """The loaded kernels, or None where they are off or cannot be built."""
    if os.environ.get("NCSN_NATIVE_KERNELS", "1") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    try:
        if not compiler:
            raise RuntimeError("no C compiler found (cc, gcc or $CC)")
        library = ctypes.CDLL(str(_build(compiler)))
        pointer, size = ctypes.c_void_p, ctypes.c_int64
        library.ncsn_group_norm_silu_nhwc.argtypes = (
            [pointer, pointer] + [size] * 4 + [pointer] * 3 + [ctypes.c_float, pointer]
        )
        library.ncsn_group_norm_silu_backward_nhwc.argtypes = [pointer] * 3 + [size] * 4 + [pointer] * 8
        library.ncsn_conv3x3_to_one_nhwc.argtypes = [pointer, pointer] + [size] * 4 + [pointer] * 3
        library.ncsn_cond_instance_norm_plus_nhwc.argtypes = (
            [pointer, pointer] + [size] * 3 + [pointer] * 3 + [ctypes.c_float, ctypes.c_int32, pointer]
        )
        library.ncsn_box_mean_nhwc.argtypes = [pointer, pointer] + [size] * 5 + [ctypes.c_float]
        library.ncsn_conv3x3_nhwc.argtypes = (
            [pointer, pointer] + [size] * 5 + [pointer] * 3 + [ctypes.c_int32, size] + [pointer] * 3 + [ctypes.c_float]
        )
        library.ncsn_conv3x3_nhwc.restype = ctypes.c_int
        library.ncsn_conv3x3_channels_supported.argtypes = [size]
        library.ncsn_conv3x3_channels_supported.restype = ctypes.c_int
        library.ncsn_conv3x3_registers_fit.argtypes = []
        library.ncsn_conv3x3_registers_fit.restype = ctypes.c_int
        library.ncsn_cond_instance_norm_plus_backward_nhwc.argtypes = (
            [pointer] * 3 + [size] * 3 + [pointer] * 3 + [ctypes.c_float, ctypes.c_int32] + [pointer] * 4
        )
    except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as err:
        _warn(
            f"native kernels unavailable ({type(err).__name__}: {str(err).strip()[:300]}); using PyTorch's "
            f"layers (slower, the same results up to float rounding). NCSN_NATIVE_KERNELS=0 silences this."
        )
        return None
    library.ncsn_group_norm_silu_nhwc.restype = library.ncsn_conv3x3_to_one_nhwc.restype = None
    library.ncsn_group_norm_silu_backward_nhwc.restype = None
    library.ncsn_cond_instance_norm_plus_nhwc.restype = None
    library.ncsn_cond_instance_norm_plus_backward_nhwc.restype = None
    library.ncsn_box_mean_nhwc.restype = None
    return library


def available() -> bool:
    return _library() is not None


def _on_cpu_float32(*tensors: Tensor | None) -> bool:
    return all(t is None or (t.device.type == "cpu" and t.dtype == torch.float32) for t in tensors)


def accepts_group_norm_silu(x: Tensor, weight: Tensor, bias: Tensor, offset: Tensor | None) -> bool:
    """Whether `group_norm_silu` computes this call (float32 channels_last activations on the CPU)."""
    return (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and _on_cpu_float32(x, weight, bias, offset)
        and weight.is_contiguous()
        and bias.is_contiguous()
        and (offset is None or (offset.shape == x.shape[:2] and offset.is_contiguous()))
    )


def _same_size_3x3(conv: nn.Conv2d) -> bool:
    """A 3 x 3 convolution with stride 1 and zero padding 1 (output the input's size), not dilated or grouped."""
    return (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


def accepts_conv3x3_to_one(x: Tensor, conv: nn.Conv2d, divisor: Tensor | None) -> bool:
    """Whether `conv3x3_to_one` computes `conv(x) / divisor[:, None, None, None]`."""
    return (
        x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
        and conv.out_channels == 1
        and _same_size_3x3(conv)
        and _on_cpu_float32(x, conv.weight, conv.bias, divisor)
        and (divisor is None or (divisor.shape == x.shape[:1] and divisor.is_contiguous()))
    )


def conv3x3_takes(conv: nn.Conv2d) -> bool:
    """Whether `conv3x3` computes this convolution: 3 x 3, stride 1, zero padding 1, with a bias, from a
    channel count that the kernel is compiled for (16, 32, 48, 64, 96, 128) to a multiple of 16, float32 on
    the CPU."""
    return (
        _same_size_3x3(conv)
        and conv.bias is not None
        and conv.out_channels % 16 == 0
        and conv3x3_pays()
        and bool(_library().ncsn_conv3x3_channels_supported(conv.in_channels))
        and _on_cpu_float32(conv.weight, conv.bias)
    )


def conv3x3_pays() -> bool:
    """Whether `conv3x3` runs in place of oneDNN on this machine: where the kernels are built for a CPU with
    AVX-512. Its register blocks need 32 vector registers of 16 floats; built without AVX-512 (-mno-avx512f,
    oneDNN held to AVX2), the U-Net's evaluation took 253 ms against oneDNN's 50. It computes anywhere."""
    return available() and bool(_library().ncsn_conv3x3_registers_fit())


def accepts_conv3x3(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether `conv3x3` computes `conv` of x (or of a function of x that keeps its shape): float32
    channels_last activations on the CPU, and a convolution that `conv3x3_takes`."""
    return (
        x.dim() == 4
        and x.shape[1] == conv.in_channels
        and x.is_contiguous(memory_format=torch.channels_last)
        and _on_cpu_float32(x)
        and conv3x3_takes(conv)
    )


def accepts_cond_instance_norm_plus(x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor) -> bool:
    """Whether `cond_instance_norm_plus` computes this call (float32 channels_last activations on the CPU,
    at least two channels, whose means the "++" term standardises; gamma, alpha, beta [N, C])."""
    return (
        x.dim() == 4
        and 2 <= x.shape[1] <= MAX_CHANNELS
        and x.is_contiguous(memory_format=torch.channels_last)
        and _on_cpu_float32(x, gamma, alpha, beta)
        and gamma.shape == alpha.shape == beta.shape == x.shape[:2]
    )


def accepts_box_mean(x: Tensor) -> bool:
    """Whether `box_mean` computes this call (float32 channels_last activations on the CPU)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and _on_cpu_float32(x)


def _pointer(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _group_norm_silu(
    x: Tensor, weight: Tensor, bias: Tensor, groups: int, eps: float, offset: Tensor | None = None
) -> Tensor:
    return group_norm_silu_with_statistics(x, weight, bias, groups, eps, offset, statistics=False)[0]


def group_norm_silu_with_statistics(
    x: Tensor, weight: Tensor, bias: Tensor, groups: int, eps: float, offset: Tensor | None, statistics: bool = True
) -> tuple[Tensor, Tensor | None]:
    """silu(group_norm(x + offset)) and, if asked, what its backward pass needs: [N, groups, 2] float64
    (mean of x + offset, 1 / std). Arguments as `accepts_group_norm_silu` takes them."""
    n, c, h, w = x.shape
    out = torch.empty_like(x, memory_format=torch.channels_last)
    stats = torch.empty(n, groups, 2, dtype=torch.float64) if statistics else None
    _library().ncsn_group_norm_silu_nhwc(
        x.data_ptr(), out.data_ptr(), n, h * w, c, groups, weight.data_ptr(), bias.data_ptr(), _pointer(offset), eps,
        _pointer(stats),
    )  # fmt: skip
    return out, stats


def group_norm_silu_backward(
    grad: Tensor, x: Tensor, weight: Tensor, bias: Tensor, offset: Tensor | None, stats: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The gradients of silu(group_norm(x + offset)) with respect to x, weight, bias and offset (None
    without one), from the incoming `grad` and the forward pass's `stats`."""
    n, c, h, w = x.shape
    grad = grad.contiguous(memory_format=torch.channels_last)
    grad_x = torch.empty_like(x, memory_format=torch.channels_last)
    grad_weight, grad_bias = torch.empty_like(weight), torch.empty_like(bias)
    grad_offset = None if offset is None else torch.empty_like(offset)
    partial = torch.empty(n, c, 2, dtype=torch.float64)
    _library().ncsn_group_norm_silu_backward_nhwc(
        x.data_ptr(), grad.data_ptr(), grad_x.data_ptr(), n, h * w, c, stats.shape[1], weight.data_ptr(),
        bias.data_ptr(), _pointer(offset), stats.data_ptr(), partial.data_ptr(), grad_weight.data_ptr(),
        grad_bias.data_ptr(), _pointer(grad_offset),
    )  # fmt: skip
    return grad_x, grad_weight, grad_bias, grad_offset


def _cond_instance_norm_plus(
    x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float, elu: bool = False
) -> Tensor:
    return cond_instance_norm_plus_with_statistics(x, gamma, alpha, beta, eps, elu, statistics=False)[0]


def cond_instance_norm_plus_with_statistics(
    x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float, elu: bool, statistics: bool = True
) -> tuple[Tensor, Tensor | None]:
    """[elu](gamma * (x_hat + alpha * m_hat) + beta) and, if asked, what its backward pass needs: [N, C, 2]
    float64 (mean, 1 / std per sample and channel). Arguments as `accepts_cond_instance_norm_plus` takes them."""
    n, c, h, w = x.shape
    gamma, alpha, beta = gamma.contiguous(), alpha.contiguous(), beta.contiguous()
    out = torch.empty_like(x, memory_format=torch.channels_last)
    stats = torch.empty(n, c, 2, dtype=torch.float64) if statistics else None
    _library().ncsn_cond_instance_norm_plus_nhwc(
        x.data_ptr(), out.data_ptr(), n, h * w, c, gamma.data_ptr(), alpha.data_ptr(), beta.data_ptr(), eps,
        int(elu), _pointer(stats),
    )  # fmt: skip
    return out, stats


def cond_instance_norm_plus_backward(
    grad: Tensor, x: Tensor, gamma: Tensor, alpha: Tensor, beta: Tensor, eps: float, elu: bool, stats: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The gradients of the function above with respect to x, gamma, alpha and beta, from the incoming
    `grad` and the forward pass's `stats`."""
    n, c, h, w = x.shape
    gamma, alpha, beta = gamma.contiguous(), alpha.contiguous(), beta.contiguous()
    grad = grad.contiguous(memory_format=torch.channels_last)
    grad_x = torch.empty_like(x, memory_format=torch.channels_last)
    grad_gamma, grad_alpha, grad_beta = (torch.empty_like(t) for t in (gamma, alpha, beta))
    _library().ncsn_cond_instance_norm_plus_backward_nhwc(
        x.data_ptr(), grad.data_ptr(), grad_x.data_ptr(), n, h * w, c, gamma.data_ptr(), alpha.data_ptr(),
        beta.data_ptr(), eps, int(elu), stats.data_ptr(), grad_gamma.data_ptr(), grad_alpha.data_ptr(),
        grad_beta.data_ptr(),
    )  # fmt: skip
    return grad_x, grad_gamma, grad_alpha, grad_beta


def _box_mean(x: Tensor, radius: int) -> Tensor:
    n, c, h, w = x.shape
    out = torch.empty_like(x, memory_format=torch.channels_last)
    _library().ncsn_box_mean_nhwc(x.data_ptr(), out.data_ptr(), n, h, w, c, radius, 1.0 / (2 * radius + 1) ** 2)
    return out


def conv_taps(weight: Tensor) -> Tensor:
    """A convolution's [1, C, 3, 3] weight as `conv3x3_to_one` takes it: [9 taps, C] (a constant in a frozen trace)."""
    return weight.reshape(weight.shape[1], 9).t().contiguous()


def _conv3x3_to_one(x: Tensor, taps: Tensor, bias: Tensor | None, divisor: Tensor | None = None) -> Tensor:
    n, c, h, w = x.shape
    out = torch.empty(n, 1, h, w, dtype=x.dtype)
    _library().ncsn_conv3x3_to_one_nhwc(
        x.data_ptr(),
        out.data_ptr(),
        n,
        h,
        w,
        c,
        taps.data_ptr(),
        None if bias is None else bias.data_ptr(),
        None if divisor is None else divisor.data_ptr(),
    )
    return out


def conv_blocks(weight: Tensor) -> Tensor:
    """A convolution's [O, C, 3, 3] weight as `conv3x3` takes it: [O / 16, 3, 3, C, 16], blocks of 16
    output channels (a constant in a frozen trace)."""
    o, c = weight.shape[:2]
    return weight.reshape(o // 16, 16, c, 3, 3).permute(0, 3, 4, 2, 1).contiguous()


def _conv3x3(
    x: Tensor,
    blocks: Tensor,
    bias: Tensor,
    residual: Tensor | None = None,
    upsample: bool = False,
    norm_weight: Tensor | None = None,
    norm_bias: Tensor | None = None,
    groups: int = 0,
    eps: float = 0.0,
    offset: Tensor | None = None,
) -> Tensor:
    n, c, h, w = x.shape
    if upsample:
        h, w = 2 * h, 2 * w
    out = torch.empty(n, blocks.shape[0] * 16, h, w, dtype=x.dtype, memory_format=torch.channels_last)
    # no copies where the caller passes what accepts_conv3x3 takes (the kernel reads raw memory)
    x = x.contiguous(memory_format=torch.channels_last)
    blocks, bias = blocks.contiguous(), bias.contiguous()
    if residual is not None:
        residual = residual.contiguous(memory_format=torch.channels_last)
    if norm_weight is not None:
        norm_weight, norm_bias = norm_weight.contiguous(), norm_bias.contiguous()
    if offset is not None:
        offset = offset.contiguous()
    failed = _library().ncsn_conv3x3_nhwc(
        x.data_ptr(), out.data_ptr(), n, h, w, c, out.shape[1], blocks.data_ptr(), bias.data_ptr(),
        _pointer(residual), int(upsample), groups if norm_weight is not None else 0, _pointer(norm_weight),
        _pointer(norm_bias), _pointer(offset), eps,
    )  # fmt: skip
    if failed:
        raise MemoryError(f"the 3 x 3 convolution kernel could not allocate its {h + 2} x {w + 16} x {c} buffer")
    return out


def _conv3x3_shape(x: Tensor, blocks: Tensor, bias: Tensor, residual=None, upsample: bool = False, *_) -> Tensor:
    n, _c, h, w = x.shape
    scale = 2 if upsample else 1
    return x.new_empty(n, blocks.shape[0] * 16, scale * h, scale * w).contiguous(memory_format=torch.channels_last)


def _like_channels_last(x: Tensor, *_) -> Tensor:
    """The Meta (shape-only) form of the operators whose result has x's shape."""
    return torch.empty_like(x, memory_format=torch.channels_last)


# Plain operator definitions: torch.library.custom_op would import torch._dynamo (1.7 s) at the first call.
_OPERATORS = torch.library.Library("ncsn", "DEF")
_OPERATORS.define(
    "group_norm_silu(Tensor x, Tensor weight, Tensor bias, int groups, float eps, Tensor? offset=None) -> Tensor"
)
_OPERATORS.impl("group_norm_silu", _group_norm_silu, "CPU")
_OPERATORS.impl("group_norm_silu", _like_channels_last, "Meta")
_OPERATORS.define("conv3x3_to_one(Tensor x, Tensor taps, Tensor? bias, Tensor? divisor=None) -> Tensor")
_OPERATORS.impl("conv3x3_to_one", _conv3x3_to_one, "CPU")
_OPERATORS.impl("conv3x3_to_one", lambda x, *_: x.new_empty(x.shape[0], 1, *x.shape[2:]), "Meta")

_OPERATORS.define(
    "conv3x3(Tensor x, Tensor blocks, Tensor bias, Tensor? residual=None, bool upsample=False, "
    "Tensor? norm_weight=None, Tensor? norm_bias=None, int groups=0, float eps=0.0, Tensor? offset=None) -> Tensor"
)
_OPERATORS.impl("conv3x3", _conv3x3, "CPU")
_OPERATORS.impl("conv3x3", _conv3x3_shape, "Meta")
_OPERATORS.define(
    "cond_instance_norm_plus(Tensor x, Tensor gamma, Tensor alpha, Tensor beta, float eps, bool elu=False) -> Tensor"
)
_OPERATORS.impl("cond_instance_norm_plus", _cond_instance_norm_plus, "CPU")
_OPERATORS.impl("cond_instance_norm_plus", _like_channels_last, "Meta")
_OPERATORS.define("box_mean(Tensor x, int radius) -> Tensor")
_OPERATORS.impl("box_mean", _box_mean, "CPU")
_OPERATORS.impl("box_mean", _like_channels_last, "Meta")

group_norm_silu = torch.ops.ncsn.group_norm_silu
"""silu(F.group_norm(x + offset[:, :, None, None], groups, weight, bias, eps)), for arguments that
`accepts_group_norm_silu` (the caller checks `available()` first)."""
conv3x3_to_one = torch.ops.ncsn.conv3x3_to_one
"""F.conv2d(x, weight, bias, padding=1) / divisor[:, None, None, None] for one output channel, taps =
conv_taps(weight), for arguments that `accepts_conv3x3_to_one`."""
conv3x3 = torch.ops.ncsn.conv3x3
"""F.conv2d(in, weight, bias, padding=1) + residual, blocks = conv_blocks(weight), where `in` is x, or x
upsampled 2x by nearest neighbour (upsample), or silu(F.group_norm(x + offset[:, :, None, None], groups,
norm_weight, norm_bias, eps)) (norm_weight given), for arguments that `accepts_conv3x3` (and
`accepts_group_norm_silu`, with the norm); residual [N, O, H, W] or None."""
cond_instance_norm_plus = torch.ops.ncsn.cond_instance_norm_plus
"""[F.elu](ncsn.models.norms.cond_instance_norm_plus(x, gamma, alpha, beta, eps)) in one read of x per sample,
for arguments that `accepts_cond_instance_norm_plus` (the caller checks `available()` first)."""
box_mean = torch.ops.ncsn.box_mean
"""F.avg_pool2d(x, 2 radius + 1, stride=1, padding=radius) (zero padding counted in the mean), for arguments
that `accepts_box_mean`; it is its own adjoint, so its backward pass is box_mean of the gradient."""
