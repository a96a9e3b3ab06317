"""Which form of a few layers the networks compute: this project's fast forms (the default) or PyTorch's
plain ones, the same mathematics up to float rounding.

The fast forms: group norm + SiLU of the U-Net in per-channel passes (ncsn.models.group_norm) or as a
native kernel, and its last convolution as a native kernel (ncsn.models.native); the reference network's
conditional instance norm++ + ELU and its 5 x 5 mean pooling as native kernels (ncsn.models.norms and
.pooling). `plain_forms()` switches back to F.group_norm + F.silu and PyTorch's convolution for the U-Net,
and to the PyTorch forms of ncsn.models.norms and .activations and F.avg_pool2d for the reference network,
so that `python -m ncsn bench` times both in one process and the tests compare them. A new fast form of a
layer checks `plain()` too.

`needs_grad` and `under_transform` say which kind of form a call takes: a hand-written autograd Function
where autograd records the call, the plain differentiable form under torch.func transforms and torch.compile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

_plain = False


@contextlib.contextmanager
def plain_forms(enabled: bool = True) -> Iterator[None]:
    """Within the block, the networks compute PyTorch's plain forms."""
    global _plain
    before, _plain = _plain, enabled
    try:
        yield
    finally:
        _plain = before


def plain() -> bool:
    return _plain


def needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd will record an operation on these tensors (None: no tensor)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def under_transform() -> bool:
    """True under torch.func transforms (jvp, vmap, ...) or torch.compile, where the hand-written
    autograd Functions of ncsn.models give way to differentiable plain forms."""
    return torch._C._functorch.peek_interpreter_stack() is not None or torch.compiler.is_compiling()
