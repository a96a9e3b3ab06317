"""The CPU's default sampling path (ncsn.models.compiled.traced_score_fn): the network as a frozen
TorchScript trace per input shape. It must give eager's scores and eager's images after the poster's
1000 Langevin steps, keep the reference network's refusal of unknown noise levels, leave training (autograd
on) to the module, and fall back to eager with one line when tracing fails."""

from __future__ import annotations

import signal

import pytest
import torch

from ncsn.models.compiled import _ctrl_c_deferred, traced_score_fn
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas
from ncsn.sampling.driver import draw_samples, score_function

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIGMAS = geometric_sigmas(1.0, 0.01, 10)
NETWORKS = [("unet", 4, 0.0), ("refinenet", 4, 0.0), ("refinenet", 4, 0.1)]


def _network(arch, width, dropout):
    torch.manual_seed(0)
    return build_model(arch, sigmas=SIGMAS, width=width, dropout=dropout).eval()


@pytest.mark.parametrize("arch, width, dropout", NETWORKS)
def test_traced_scores_are_eagers_for_every_batch_size_and_noise_level(arch, width, dropout):
    model = _network(arch, width, dropout)
    score_fn = traced_score_fn(model)
    generator = torch.Generator().manual_seed(1)
    worst = 0.0
    with torch.inference_mode():
        for n in (5, 3, 5):  # a second shape is traced apart; the first one's trace is used again
            for level in (0, 4, 9):
                x = torch.rand(n, 1, 28, 28, generator=generator)
                sigma = SIGMAS[level].repeat(n)
                worst = max(worst, (score_fn(x, sigma) - model(x, sigma)).abs().max().item())
    # the same kernels on the same inputs: equal up to float32 rounding (0.0 on the 2-core machine)
    assert worst <= 1e-5


@pytest.mark.parametrize("arch, steps_each", [("unet", 100), ("refinenet", 5)])
def test_samples_equal_eagers_after_the_posters_1000_steps(arch, steps_each):
    """The U-Net (the poster's network, the study's Table 1 and Figure 1 sets) over the poster's 10 x 100
    steps; the reference network, ~5x slower per step, over 10 x 5 (its scores are checked at every level
    above)."""
    model = _network(arch, 4, 0.0)
    kwargs = dict(n_samples=4, batch_size=4, step_lr=1e-5, n_steps_each=steps_each, seed=3, progress=False)
    eager = draw_samples(model, SIGMAS, trace=False, **kwargs)
    traced = draw_samples(model, SIGMAS, **kwargs)  # the CPU default
    differences = (eager.int() - traced.int()).abs().amax(dim=(1, 2, 3))
    # stated tolerance: one grey level per pixel (equal on the 2-core machine)
    assert differences.max().item() <= 1, differences.tolist()


def test_the_reference_network_still_refuses_noise_levels_outside_its_schedule():
    score_fn = traced_score_fn(_network("refinenet", 4, 0.0))
    x = torch.rand(2, 1, 28, 28)
    with torch.inference_mode():
        score_fn(x, SIGMAS[[0, 1]])  # traced here
        with pytest.raises(ValueError, match="not in this model's schedule"):
            score_fn(x, torch.tensor([0.5, 0.5]))


def test_autograd_and_training_mode_run_the_module_itself():
    model = _network("unet", 4, 0.0)
    score_fn = traced_score_fn(model)
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    score_fn(x, SIGMAS[[0, 1]]).sum().backward()  # a trace would have no graph to differentiate
    assert x.grad is not None and x.grad.abs().sum() > 0
    dropout = _network("refinenet", 4, 0.5).train()
    with torch.inference_mode():
        a, b = traced_score_fn(dropout)(x.detach(), SIGMAS[[0, 1]]), dropout(x.detach(), SIGMAS[[0, 1]])
    assert not torch.equal(a, b)  # dropout still draws: the module ran, not a trace recorded with it off


def test_a_failed_trace_falls_back_to_eager_with_one_line(monkeypatch):
    model = _network("unet", 4, 0.0)

    def broken(*args, **kwargs):
        raise RuntimeError("tracer refused an op\nsecond line")

    monkeypatch.setattr(torch.jit, "trace", broken)
    messages = []
    score_fn = traced_score_fn(model, log=messages.append)
    x, sigma = torch.rand(2, 1, 28, 28), SIGMAS[[0, 1]]
    with torch.inference_mode():
        assert torch.equal(score_fn(x, sigma), model(x, sigma)) and torch.equal(score_fn(x, sigma), model(x, sigma))
    assert messages == ["warning: tracing the network failed (RuntimeError: tracer refused an op); running it eagerly"]


def test_the_cpu_traces_by_default_and_eager_or_compile_turn_it_off():
    model = _network("unet", 4, 0.0)
    cpu = torch.device("cpu")
    assert score_function(model, cpu, trace=False) is model
    assert score_function(model, cpu) is not model
    assert score_function(model, torch.device("cuda")) is model  # not measured on a GPU: eager there


def test_ctrl_c_inside_a_traced_call_takes_effect_when_it_returns():
    """Python code inside a trace (the native operators) must not see KeyboardInterrupt: TorchScript would
    hand it back as a RuntimeError. The interrupt is held until the traced call returns, then raised."""
    # Python's own handler, as in a terminal (a test run started in the background inherits SIGINT ignored)
    outside = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        finished = []
        with pytest.raises(KeyboardInterrupt):
            with _ctrl_c_deferred():
                signal.raise_signal(signal.SIGINT)
                finished.append(True)  # reached: the interrupt waited for the block's end
        assert finished == [True]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outside)
