"""Wrappers of a score network as a score function: torch.compile behind a switch and with a way back,
and bf16 autocast.

The compiled function is a separate callable over the same module: weights, state_dict keys and
checkpoints stay those of the plain module.  Compilation happens at the first call; when it fails
(no C++ compiler, an unsupported op, ...) or a call does not finish within `timeout_s` (in the main
thread; a call that compiles for a new input shape included), a warning is printed once and the plain
module is used from then on.

Off by default, and not worth it on the CPU: on this project's 2-core machine (torch 2.14, inductor's
C++ backend) the compiled networks run 2x (U-Net, width 16) to 3x (reference network, ngf 8) slower
than eager, after 15 and 56 s of compiling (`python -m ncsn bench --compile`). On a GPU, measure with
the same command.

What does pay off on the CPU is `traced_score_fn`: the network traced once per input shape with
torch.jit.trace and frozen (weights folded in as constants), which runs the same kernels on the same
inputs without the Python interpreter between them. On the 2-core machine (2 threads, batch 100) it
evaluates the U-Net at width 16 1.07x (1.06-1.14 by round), the reference network at ngf 8 1.11x
(1.09-1.17) and at ngf 12 with dropout 1.10x (1.05-1.13) faster than eager (with the reference network's
native kernels, Intel 2-core: 1.14-1.16x and 1.12-1.15x), with outputs bitwise equal to eager's, after 0.4
to 2 s of tracing (`python -m ncsn bench --size unet:16 --size refinenet:8 --size
refinenet:12:0.1 --sample-batch 100 --no-plain --threads 2`, "x eager"). Sampling on the CPU uses it by
default (`sample --eager` to turn it off).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

ScoreFn = Callable[[Tensor, Tensor], Tensor]


COMPILE_TIMEOUT_S = 300


class CompileTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise CompileTimeout in the block after `seconds` (SIGALRM: the main thread only; elsewhere,
    or with seconds <= 0, no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise CompileTimeout(f"compiling took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) that arrives in the block takes effect when the block ends. Python code that the
    TorchScript interpreter runs (the native operators of ncsn.models.native) would otherwise raise
    KeyboardInterrupt inside a trace, which TorchScript hands back as a RuntimeError: a traceback and exit
    status 1 instead of the CLI's one line and 130, and a failed trace instead of a stop while tracing."""
    previous = signal.getsignal(signal.SIGINT)
    # signal handlers belong to the main thread; None: a handler installed outside Python, left alone
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)  # now handled as it would have been


def _one_line(err: Exception) -> str:
    """'RuntimeError: first line of the message' (at most 300 characters of it), for a fallback warning."""
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:300]}"


def compile_score_fn(model: nn.Module, enabled: bool = True, log=None, timeout_s: float = COMPILE_TIMEOUT_S) -> ScoreFn:
    """`model` under torch.compile, falling back to `model` itself (with a one-line warning) when
    compiling fails or a call takes longer than `timeout_s`."""
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
            if state["fn"] is model:
                return model(x, sigma)
            # Every compiled call under the limit: a new input shape compiles again.
            with _time_limit(timeout_s):
                return state["fn"](x, sigma)
        except Exception as err:
            if state["fn"] is model:
                raise
            out = model(x, sigma)  # raises the model's own error when the compiler was not at fault
            if isinstance(err, CompileTimeout) or "CompileTimeout" in str(err):  # dynamo may wrap it
                log(f"warning: torch.compile did not finish within {timeout_s:g} s; running uncompiled")
            else:
                log(f"warning: torch.compile failed ({_one_line(err)}); running uncompiled")
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


def traced_score_fn(model: nn.Module, enabled: bool = True, log=None) -> ScoreFn:
    """`model` for inference as a frozen TorchScript trace, one per input shape, traced at the first call
    with that shape; `model` itself where autograd is on or the module is in training mode (a trace
    records one branch: the inference form of ncsn.models.group_norm, dropout off). The trace holds the
    weights as they were when it was made: for drawing samples from a fixed checkpoint, not for a module
    that is still being trained. If tracing fails, a warning is printed once and `model` is used from
    then on. A network that checks its inputs on the host (the reference network's `level_index`, which
    refuses noise levels outside its schedule) is still asked before every traced call, since the trace
    keeps only the tensor operations."""
    if not enabled:
        return model
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    traces: dict[tuple, torch.jit.ScriptModule] = {}
    state = {"failed": False}
    check_inputs = getattr(model, "level_index", None)

    def score_fn(x: Tensor, sigma: Tensor) -> Tensor:
        if state["failed"] or model.training or torch.is_grad_enabled():
            return model(x, sigma)
        if check_inputs is not None:
            check_inputs(sigma)
        with _ctrl_c_deferred():
            return traced_call(x, sigma)

    def traced_call(x: Tensor, sigma: Tensor) -> Tensor:
        key = (tuple(x.shape), tuple(sigma.shape), x.dtype, sigma.dtype, x.device)
        if key not in traces:
            try:
                with warnings.catch_warnings():  # torch.jit's deprecation and tracer warnings: a log line each
                    warnings.simplefilter("ignore")
                    traced = torch.jit.freeze(torch.jit.trace(model, (x, sigma), check_trace=False))
                    for _ in range(2):  # TorchScript profiles a graph's first run and optimises it at the second
                        traced(x, sigma)
                    traces[key] = traced
            except Exception as err:
                log(f"warning: tracing the network failed ({_one_line(err)}); running it eagerly")
                state["failed"] = True
                return model(x, sigma)
        return traces[key](x, sigma)

    return score_fn
