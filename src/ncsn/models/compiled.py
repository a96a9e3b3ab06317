"""Wrappers of a score network as a score function: torch.compile behind a switch and with a way back,
and bf16 autocast.

The compiled function is a separate callable over the same module: weights, state_dict keys and
checkpoints stay those of the plain module.  Compilation happens at the first call; when it fails
(no C++ compiler, an unsupported op, ...) a warning is printed once and the plain module is used from
then on.  Compiling takes minutes on a small CPU, so it pays off only for long runs (compare
with `python -m ncsn bench --compile`); it is off by default.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch
from torch import Tensor, nn

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def compile_score_fn(model: nn.Module, enabled: bool = True, log=None) -> ScoreFn:
    if not enabled:
        return model
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        compiled = torch.compile(model, dynamic=False)
    except Exception as err:  # torch.compile itself refuses (e.g. an unsupported Python)
        log(f"warning: torch.compile unavailable ({type(err).__name__}: {err}); running uncompiled")
        return model
    state = {"fn": compiled}

    def score_fn(x: Tensor, sigma: Tensor) -> Tensor:
        try:
            return state["fn"](x, sigma)
        except Exception as err:
            if state["fn"] is model:
                raise
            out = model(x, sigma)  # raises the model's own error when the compiler was not at fault
            log(f"warning: torch.compile failed ({type(err).__name__}: {str(err)[:300]}); running uncompiled")
            state["fn"] = model
            return out

    return score_fn


def bf16_autocast(score_fn: ScoreFn, device_type: str) -> ScoreFn:
    """`score_fn` evaluated under bf16 autocast on `device_type`; the scores come back in the dtype of x,
    so whatever consumes them (Langevin updates, the DSM loss) stays in float32."""

    def bf16_score_fn(x: Tensor, sigma: Tensor) -> Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return score_fn(x, sigma).to(x.dtype)

    return bf16_score_fn
