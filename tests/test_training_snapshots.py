"""Training: the warm-up EMA kept beside torch's EMA, and checkpoints at configured optimizer steps
(`checkpoint_steps`), both bitwise equal after a kill and a resume."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
import torch
from helpers import training_settings
from torch import nn

from ncsn.data.images import load_split, write_synthetic
from ncsn.errors import ConfigError, NcsnError
from ncsn.training import loop
from ncsn.training.checkpoint import load_checkpoint, load_model
from ncsn.training.ema import make_ema, make_warmup_ema, warmup_decay
from ncsn.training.settings import parse_settings

# 24 training images in batches of 8: 3 steps per epoch, 6 in the run. Step 2 lies within epoch 1,
# step 3 is its end, step 5 lies within epoch 2. Dropout makes the global RNG state matter on resume.
STEPS = [5, 2, 3, 2]  # unsorted, with a repeat: parse_settings sorts and dedupes
SNAPSHOT_STEPS = (2, 3, 5)
SEED = 0


def _settings(**overrides) -> dict:
    base = dict(
        arch="unet",
        dropout=0.1,
        batch_size=8,
        epochs=2,
        checkpoint_epochs=[1, 2],
        checkpoint_steps=STEPS,
        save_every_steps=4,
        heldout_size=8,
    )
    return training_settings(**{**base, **overrides})


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("data") / "mnist.pt", n_train=24, n_test=16)


def _train(data_file: Path, out_dir: Path, log=lambda m: None, **overrides) -> list[dict]:
    settings = parse_settings(_settings(**overrides))
    return loop.train(settings, variant="snap", data_path=data_file, out_dir=out_dir, seed=SEED, log=log)


def _stop_before_step(monkeypatch, step: int) -> None:
    """Make the run raise (as a kill would stop it) when it is about to take optimizer step `step`."""
    real_step = loop._Run.step

    def stopping(self, b, epoch):
        if self.progress.step + 1 == step:
            raise KeyboardInterrupt(f"stopped before step {step}")
        return real_step(self, b, epoch)

    monkeypatch.setattr(loop._Run, "step", stopping)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_file) -> tuple[Path, dict[int, dict]]:
    """An uninterrupted run, and the raw weights right after each of its steps (recorded by a spy)."""
    out_dir = tmp_path_factory.mktemp("reference")
    after_step: dict[int, dict] = {}
    real_step = loop._Run.step

    def recording(self, b, epoch):
        loss = real_step(self, b, epoch)
        after_step[self.progress.step] = {k: v.clone() for k, v in self.model.state_dict().items()}
        return loss

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop._Run, "step", recording)
        _train(data_file, out_dir)
    return out_dir, after_step


def _weights_and_optimizer(path: Path) -> dict[str, dict]:
    checkpoint = load_checkpoint(path)
    optimizer = {f"{k}.{name}": v for k, state in checkpoint["optimizer"]["state"].items() for name, v in state.items()}
    counts = {
        "ema_n_averaged": checkpoint["ema_n_averaged"],
        "ema_warmup_n_updates": checkpoint["ema_warmup_n_updates"],
        "step": checkpoint["progress"]["step"],
    }
    return {
        "model": checkpoint["model"],
        "ema": checkpoint["ema"],
        "ema_warmup": checkpoint["ema_warmup"],
        "optimizer": optimizer,
        "counts": counts,
    }


def _assert_bitwise_equal(a: Path, b: Path) -> None:
    left, right = _weights_and_optimizer(a), _weights_and_optimizer(b)
    for part in left:
        assert left[part].keys() == right[part].keys(), part
        for key in left[part]:
            same = torch.equal(torch.as_tensor(left[part][key]), torch.as_tensor(right[part][key]))
            assert same, f"{a.name}: {part}.{key}"


def _metrics_without_seconds(out_dir: Path) -> list[dict[str, str]]:
    with open(out_dir / "metrics.csv") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _snapshot_names(out_dir: Path) -> list[str]:
    return sorted(p.name for p in (out_dir / "state").glob("step_*.pt"))


def test_checkpoint_steps_are_parsed_sorted_and_checked():
    assert parse_settings(_settings()).checkpoint_steps == SNAPSHOT_STEPS
    assert parse_settings({k: v for k, v in _settings().items() if k != "checkpoint_steps"}).checkpoint_steps == ()
    for bad in ([0], [2, "3"], [1.5], [True], 4, "2"):
        with pytest.raises(ConfigError, match="'checkpoint_steps' must"):
            parse_settings(_settings(checkpoint_steps=bad))


def test_snapshots_are_written_exactly_at_the_configured_steps(reference):
    out_dir, after_step = reference
    assert _snapshot_names(out_dir) == [f"step_{s}.pt" for s in SNAPSHOT_STEPS]
    positions = {}
    for s in SNAPSHOT_STEPS:
        checkpoint = load_checkpoint(out_dir / f"state/step_{s}.pt")
        progress = checkpoint["progress"]
        assert progress["step"] == s
        positions[s] = (progress["epoch"], progress["batch"])
        # the weights right after step s, not one step earlier or later
        for key, value in after_step[s].items():
            assert torch.equal(checkpoint["model"][key], value), f"step {s}: {key}"
        assert not all(torch.equal(checkpoint["model"][k], v) for k, v in after_step[s - 1].items())
        assert checkpoint["ema_warmup_n_updates"] == s and int(checkpoint["ema_n_averaged"]) == s
    # step 2 within epoch 1, step 3 its end (the epoch recorded, as in epoch_1.pt), step 5 within epoch 2
    assert positions == {2: (0, 2), 3: (1, 0), 5: (1, 2)}
    _assert_bitwise_equal(out_dir / "state/step_3.pt", out_dir / "state/epoch_1.pt")
    assert load_checkpoint(out_dir / "state/step_3.pt")["progress"]["metrics"][0]["epoch"] == 1


def test_a_stopped_run_resumes_to_bitwise_equal_snapshots_and_weights(tmp_path, data_file, reference, monkeypatch):
    reference_dir, _ = reference
    run = tmp_path / "stopped"

    # Stopped right before step 5: state/last.pt holds step 4 (save_every_steps); the resumed run writes step 5.
    _stop_before_step(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        _train(data_file, run)
    assert load_checkpoint(run / "state/last.pt")["progress"]["step"] == 4
    assert _snapshot_names(run) == ["step_2.pt", "step_3.pt"]
    written_before = {name: (run / "state" / name).stat() for name in _snapshot_names(run)}
    monkeypatch.undo()

    messages = []
    _train(data_file, run, log=messages.append)
    assert any("resuming snap" in m and "step 4" in m for m in messages), messages
    assert _snapshot_names(run) == [f"step_{s}.pt" for s in SNAPSHOT_STEPS]
    for name, before in written_before.items():  # steps passed before the stop are not rewritten
        after = (run / "state" / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name

    for name in [*_snapshot_names(reference_dir), "epoch_1.pt", "epoch_2.pt", "last.pt"]:
        _assert_bitwise_equal(reference_dir / "state" / name, run / "state" / name)
    assert _metrics_without_seconds(run) == _metrics_without_seconds(reference_dir)


def test_a_run_stopped_between_writing_a_step_and_linking_it_links_it_on_resume(
    tmp_path, data_file, reference, monkeypatch
):
    reference_dir, _ = reference
    run = tmp_path / "stopped"
    _stop_before_step(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        _train(data_file, run)
    monkeypatch.undo()
    assert load_checkpoint(run / "state/last.pt")["progress"]["step"] == 2  # the step-2 snapshot
    (run / "state/step_2.pt").unlink()  # as if killed after state/last.pt was written, before the link

    _train(data_file, run)
    assert _snapshot_names(run) == [f"step_{s}.pt" for s in SNAPSHOT_STEPS]
    for name in [*_snapshot_names(reference_dir), "last.pt"]:
        _assert_bitwise_equal(reference_dir / "state" / name, run / "state" / name)


class _Weights(nn.Module):
    """Three weights and a buffer, in float64 so that a hand computation in Python floats is exact enough."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3, dtype=torch.float64))
        self.register_buffer("sigmas", torch.tensor([1.0, 0.1], dtype=torch.float32))


def test_warmup_ema_follows_the_formula():
    assert warmup_decay(0.999, 0) == 1 / 10 and warmup_decay(0.999, 1) == 2 / 11
    assert warmup_decay(0.9, 79) < 0.9 and warmup_decay(0.9, 80) == 0.9 and warmup_decay(0.999, 10**5) == 0.999

    model = _Weights()  # the average starts as a copy of these weights (zeros)
    rate = 0.9
    ema = make_warmup_ema(model, rate)
    thetas = [torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) * (1 + 0.1 * k) for k in range(120)]
    expected = [0.0, 0.0, 0.0]
    decays = []
    for n, theta in enumerate(thetas):
        previous = ema.module.weight.detach().clone()
        with torch.no_grad():
            model.weight.copy_(theta)
            model.sigmas.mul_(1.0001)  # buffers are copied, never averaged
        ema.update_parameters(model)
        d = min(rate, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * t for e, t in zip(expected, theta.tolist())]
        assert ema.module.weight.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15), f"update {n + 1}"
        assert torch.equal(ema.module.sigmas, model.sigmas)
        # the decay the average applied, read back from its values: (ema - theta) / (previous - theta)
        decays.append(float((ema.module.weight[0] - theta[0]) / (previous[0] - theta[0])))
    assert ema.n_updates == len(thetas)
    # The first updates are dominated by the current weights: 0.1, 2/11, 3/12 of the old average ...
    assert decays[:3] == pytest.approx([1 / 10, 2 / 11, 3 / 12], rel=1e-9)
    assert ema.module.weight.tolist() != pytest.approx(thetas[-1].tolist())
    # ... and after (1 + n) / (10 + n) passes the rate the decay is the rate.
    assert decays[80:] == pytest.approx([rate] * (len(thetas) - 80), rel=1e-9)
    assert decays[79] < rate - 1e-3

    # torch's EMA of the same weights copies the first ones and keeps the constant rate from there.
    constant = make_ema(model, rate)
    with torch.no_grad():
        model.weight.copy_(thetas[0])
    constant.update_parameters(model)
    assert torch.equal(constant.module.weight, thetas[0])


def test_warmup_ema_of_a_constant_forgets_the_initial_weights_as_the_formula_says():
    model = _Weights()
    ema = make_warmup_ema(model, 0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(5):
        ema.update_parameters(model)
    # the initial zeros weigh prod_{n<5} (1 + n) / (10 + n) = 9! 5! / 14!
    left = math.factorial(9) * math.factorial(5) / math.factorial(14)
    assert ema.module.weight.tolist() == pytest.approx([1 - left] * 3, rel=1e-12)


def test_load_model_gives_the_warmup_weights_and_the_metrics_record_them(reference, data_file):
    out_dir, _ = reference
    path = out_dir / "state/epoch_1.pt"
    checkpoint = load_checkpoint(path)
    warmup = load_model(path, weights="ema_warmup")
    assert not warmup.training
    for key, value in warmup.state_dict().items():
        assert torch.equal(value, checkpoint["ema_warmup"][key]), key
    differs = [not torch.equal(checkpoint["ema_warmup"][k], checkpoint["ema"][k]) for k in checkpoint["ema"]]
    assert any(differs)  # a different average than torch's EMA after 3 steps at rate 0.9

    with open(out_dir / "metrics.csv") as fh:
        row = next(csv.DictReader(fh))
    test_images, _ = load_split(data_file, "test")
    heldout = test_images[loop._fixed_subset(16, 8, seed=SEED + 1)]
    sigmas = parse_settings(_settings()).sigmas()
    raw = loop.heldout_losses(load_model(path, weights="raw"), heldout, sigmas, seed=SEED + 3)
    losses = loop.heldout_losses(warmup, heldout, sigmas, seed=SEED + 3)
    assert float(row["heldout_loss_ema_warmup"]) == pytest.approx(losses.mean().item(), rel=1e-6)
    assert float(row["heldout_loss_ema_warmup_se"]) == pytest.approx(losses.std().item() / math.sqrt(8), rel=1e-6)
    paired = (raw - losses).std().item() / math.sqrt(8)
    assert float(row["heldout_loss_diff_ema_warmup_se"]) == pytest.approx(paired, rel=1e-6)


def test_a_checkpoint_without_warmup_weights_is_refused_naming_it(tiny_checkpoint):
    with pytest.raises(NcsnError, match=re.escape(str(tiny_checkpoint)) + r".*no 'ema_warmup'.*python -m ncsn train"):
        load_model(tiny_checkpoint, weights="ema_warmup")
    load_model(tiny_checkpoint, weights="ema")  # the other weights of such a checkpoint still load
    with pytest.raises(ValueError, match="'raw', 'ema', 'ema_warmup'"):
        load_model(tiny_checkpoint, weights="swa")


def test_a_checkpoint_step_beyond_the_run_is_refused_before_training(tmp_path, data_file):
    with pytest.raises(
        ConfigError, match=r"variant 'snap': checkpoint_steps \[7, 9\] exceed the run's 6 optimizer steps"
    ):
        _train(data_file, tmp_path, checkpoint_steps=[2, 6, 7, 9])
    assert not any(tmp_path.iterdir())  # nothing trained, nothing written


def test_a_state_of_the_previous_format_is_set_aside_not_resumed(tmp_path, data_file, reference):
    """A state written before the warm-up EMA (format 1, no 'ema_warmup') starts the run afresh."""
    reference_dir, _ = reference
    old = load_checkpoint(reference_dir / "state/step_2.pt")
    for key in ("ema_warmup", "ema_warmup_n_updates"):
        del old[key]
    old["fingerprint"]["format"] = 1
    del old["fingerprint"]["settings"]["checkpoint_steps"]
    (tmp_path / "state").mkdir()
    torch.save(old, tmp_path / "state/last.pt")

    messages = []
    _train(data_file, tmp_path, log=messages.append, epochs=1, checkpoint_epochs=[1], checkpoint_steps=[])
    assert any("format = 1 in the state, 2 in this run" in m and "set aside" in m for m in messages), messages
    assert (tmp_path / "state.stale/last.pt").exists()
    assert load_checkpoint(tmp_path / "state/last.pt")["ema_warmup_n_updates"] == 3
