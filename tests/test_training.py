"""Training: DSM lowers the loss, EMA semantics, checkpoints and metrics, kill-and-resume equality,
the non-finite guard, settings checks."""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import training_settings

from ncsn.cli import main as cli_main
from ncsn.config import variant_problems
from ncsn.data.images import load_split, write_synthetic
from ncsn.errors import ConfigError, DataError, DivergenceError
from ncsn.losses import dsm_loss
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas
from ncsn.training import loop, optimizer
from ncsn.training.checkpoint import load_checkpoint, load_model
from ncsn.training.ema import make_ema
from ncsn.training.metrics import COLUMNS
from ncsn.training.settings import merged_settings, parse_settings

SIGMAS = geometric_sigmas(1.0, 0.01, 10)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("data") / "mnist.pt", n_train=64, n_test=32)


def test_images_load_as_unit_floats(data_file):
    images, labels = load_split(data_file, "train")
    stored = torch.load(data_file)["train"]
    assert images.shape == (64, 1, 28, 28) and images.dtype == torch.float32
    assert torch.equal(images, stored["images"].unsqueeze(1).float() / 255)  # grey level / 255
    assert labels.dtype == torch.int64 and torch.equal(labels, stored["labels"])
    with pytest.raises(DataError, match="run the data rule"):
        load_split(data_file.parent / "missing.pt", "train")


@pytest.mark.parametrize("arch", ["unet", "refinenet"])
def test_a_few_dsm_steps_lower_the_loss_on_a_fixed_batch(arch):
    torch.manual_seed(0)
    model = build_model(arch, sigmas=SIGMAS, width=4)
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

    def fixed_loss() -> float:
        with torch.no_grad():
            return dsm_loss(model, x, SIGMAS, generator=torch.Generator().manual_seed(2)).item()

    before = fixed_loss()
    g = torch.Generator().manual_seed(3)
    for _ in range(15):
        loss = dsm_loss(model, x, SIGMAS, generator=g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert fixed_loss() < 0.9 * before


def test_ema_matches_a_hand_computation_over_three_steps():
    torch.manual_seed(0)
    decay = 0.9
    model = build_model("unet", sigmas=SIGMAS, width=4)
    ema = make_ema(model, decay)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)  # steps of ~lr whatever the loss scale
    x = torch.rand(4, 1, 28, 28)
    thetas = []
    for step in range(3):
        loss = dsm_loss(model, x, SIGMAS, generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ema.update_parameters(model)
        thetas.append([p.detach().clone() for p in model.parameters()])
    # AveragedModel: the first update copies the weights; later ones are ema <- d * ema + (1 - d) * theta.
    expected = thetas[0]
    for theta in thetas[1:]:
        expected = [decay * e + (1 - decay) * t for e, t in zip(expected, theta)]
    for got, want in zip(ema.module.parameters(), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert any(not torch.allclose(got, last) for got, last in zip(ema.module.parameters(), thetas[-1]))
    assert int(ema.n_averaged) == 3


def _adam_steps(adam, params, steps: int) -> None:
    """Steps on the same gradients for every optimizer, of scales 1 down to 1e-4."""
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        for p in params:
            # contiguous gradients, where the U-Net's convolution weights are channels_last
            p.grad = torch.randn(p.shape, generator=generator) * 10.0 ** -(step % 5)
        adam.step()


def test_fused_adam_follows_the_looped_form_and_keeps_its_form_through_a_foreign_state():
    torch.manual_seed(0)
    params = list(build_model("unet", sigmas=SIGMAS, width=4).parameters())
    looped_params = [torch.nn.Parameter(p.detach().clone()) for p in params]
    fused = optimizer.adam(params, lr=1e-3)
    looped = torch.optim.Adam(looped_params, lr=1e-3)
    assert fused.param_groups[0]["fused"] is True and not looped.param_groups[0]["fused"]
    _adam_steps(fused, params, 5)
    _adam_steps(looped, looped_params, 5)
    for got, want in zip(params, looped_params):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)  # rounding apart
    assert any(not p.is_contiguous() for p in params)
    # A state written by the looped form (an older checkpoint) is loaded without switching forms.
    optimizer.load_state(fused, looped.state_dict())
    assert fused.param_groups[0]["fused"] is True and fused.param_groups[0]["foreach"] is None
    assert fused.state_dict()["state"][0]["step"].item() == 5
    torch.testing.assert_close(fused.state[params[0]]["exp_avg"], looped.state_dict()["state"][0]["exp_avg"])


def test_adam_falls_back_to_the_default_form_where_torch_has_no_fused_one(monkeypatch):
    real_adam = torch.optim.Adam

    def without_fused(params, lr, fused=None):  # what torch says for a device without the fused kernel
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
        return real_adam(params, lr=lr)

    monkeypatch.setattr(torch.optim, "Adam", without_fused)
    adam = optimizer.adam([torch.nn.Parameter(torch.zeros(3))], lr=1e-3)
    assert isinstance(adam, real_adam) and not adam.param_groups[0]["fused"]


def test_training_writes_checkpoints_and_metrics(tmp_path, data_file):
    settings = parse_settings(training_settings(dropout=0.1))
    rows = loop.train(settings, variant="t", data_path=data_file, out_dir=tmp_path, seed=0, log=lambda m: None)
    with open(tmp_path / "metrics.csv") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == COLUMNS
    assert [int(r["epoch"]) for r in table] == [1, 2] and [int(r["step"]) for r in table] == [4, 8]
    # the held-out losses are those of the checkpointed raw and EMA weights, on the fixed held-out images
    # (16 of the 32 test images, drawn with the run's seed + 1) with the fixed noise (seed + 3)
    test_images, _ = load_split(data_file, "test")
    heldout = test_images[loop._fixed_subset(32, 16, seed=1)]
    for epoch, row in zip((1, 2), table):
        for weights in ("raw", "ema"):
            model = load_model(tmp_path / f"state/epoch_{epoch}.pt", weights)
            losses = loop.heldout_losses(model, heldout, SIGMAS, seed=3)
            assert float(row[f"heldout_loss_{weights}"]) == pytest.approx(losses.mean().item(), rel=1e-6)
    assert rows[-1]["heldout_loss_raw"] == pytest.approx(float(table[-1]["heldout_loss_raw"]))
    checkpoint = load_checkpoint(tmp_path / "state/epoch_2.pt")
    assert checkpoint["progress"]["step"] == 8 and checkpoint["progress"]["epoch"] == 2
    assert set(checkpoint) >= {"model", "ema", "optimizer", "rng", "model_kwargs", "arch"}
    assert set(checkpoint["rng"]) >= {"torch", "data", "noise"}
    assert not torch.equal(checkpoint["model"]["end_conv.weight"], checkpoint["ema"]["end_conv.weight"])
    raw, ema = load_model(tmp_path / "state/epoch_2.pt", "raw"), load_model(tmp_path / "state/epoch_2.pt", "ema")
    assert not raw.training and torch.equal(raw.end_conv.weight, checkpoint["model"]["end_conv.weight"])
    assert torch.equal(ema.end_conv.weight, checkpoint["ema"]["end_conv.weight"])
    assert load_checkpoint(tmp_path / "state/epoch_1.pt")["progress"]["step"] == 4


def _state_dicts(path: Path) -> dict[str, dict]:
    checkpoint = load_checkpoint(path)
    optimizer = {f"{k}.{name}": v for k, state in checkpoint["optimizer"]["state"].items() for name, v in state.items()}
    return {"model": checkpoint["model"], "ema": checkpoint["ema"], "optimizer": optimizer}


def _assert_bitwise_equal(a: dict[str, dict], b: dict[str, dict]) -> None:
    for part in a:
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(torch.as_tensor(a[part][key]), torch.as_tensor(b[part][key])), f"{part}.{key}"


def _train_command(data_file: Path, out_dir: Path, settings: dict) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ncsn",
        "train",
        "--variant",
        "killme",
        "--settings",
        json.dumps(settings),
        "--data",
        str(data_file),
        "--seed",
        "7",
        "--device",
        "cpu",
        "--out-dir",
        str(out_dir),
    ]


def test_killed_run_resumes_to_bitwise_equal_weights(tmp_path):
    # Large enough that the trainer is still mid-epoch when the first checkpoint appears; dropout
    # makes the global RNG state matter too.
    data_file = write_synthetic(tmp_path / "data.pt", n_train=512, n_test=32)
    settings = training_settings(dropout=0.1, batch_size=8, save_every_steps=5)
    env = dict(os.environ, OMP_NUM_THREADS="1")

    reference = tmp_path / "uninterrupted"
    subprocess.run(_train_command(data_file, reference, settings), check=True, env=env, capture_output=True)

    resumed = tmp_path / "killed"
    last = resumed / "state/last.pt"
    proc = subprocess.Popen(
        _train_command(data_file, resumed, settings), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the trainer finished before it could be killed"
    progress = load_checkpoint(last)["progress"]
    assert progress["epoch"] == 0 and 0 < progress["batch"] < 64, progress  # killed mid-epoch 1
    assert not (resumed / "metrics.csv").exists()

    finished = subprocess.run(_train_command(data_file, resumed, settings), env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"batch {progress['batch']} of the next, step {progress['step']}" in finished.stderr

    for epoch in (1, 2):
        _assert_bitwise_equal(
            _state_dicts(reference / f"state/epoch_{epoch}.pt"), _state_dicts(resumed / f"state/epoch_{epoch}.pt")
        )

    def read(run):
        with open(run / "metrics.csv") as fh:
            return [{k: r[k] for k in COLUMNS if k != "seconds"} for r in csv.DictReader(fh)]

    assert read(reference) == read(resumed)


def test_changed_settings_start_afresh(tmp_path, data_file):
    loop.train(
        parse_settings(training_settings(epochs=1, checkpoint_epochs=[1])),
        variant="t",
        data_path=data_file,
        out_dir=tmp_path,
        seed=0,
        log=lambda m: None,
    )
    messages = []
    rows = loop.train(
        parse_settings(training_settings(epochs=1, checkpoint_epochs=[1], lr=2e-3)),
        variant="t",
        data_path=data_file,
        out_dir=tmp_path,
        seed=0,
        log=messages.append,
    )
    assert any("starting afresh" in m for m in messages)
    assert [r["step"] for r in rows] == [4]


def test_non_finite_loss_stops_naming_variant_epoch_step_and_keeps_last_good(tmp_path, data_file, monkeypatch, capsys):
    calls = {"n": 0}

    def poisoned(score_fn, x, sigmas, generator=None):
        loss = dsm_loss(score_fn, x, sigmas, generator=generator)
        if score_fn.training:
            calls["n"] += 1
            if calls["n"] == 7:  # epoch 2 (4 batches per epoch), step 7
                return loss * float("nan")
        return loss

    monkeypatch.setattr(loop, "dsm_loss", poisoned)
    settings = training_settings(save_every_steps=2)
    with pytest.raises(
        DivergenceError,
        match=r"variant 'bad' diverged: non-finite training loss .* epoch 2, step 7"
        r".* checkpoint .*last.pt \(step 6\) is kept; lower 'variants.bad.lr'",
    ):
        loop.train(
            parse_settings(settings),
            variant="bad",
            data_path=data_file,
            out_dir=tmp_path / "a",
            seed=0,
            log=lambda m: None,
        )
    last = load_checkpoint(tmp_path / "a/state/last.pt")
    assert last["progress"]["step"] == 6 and last["progress"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())
    assert (tmp_path / "a/state/epoch_1.pt").exists() and not (tmp_path / "a/state/epoch_2.pt").exists()

    # Through the command line: a user-facing error, exit status 1, no traceback.
    calls["n"] = 0
    code = cli_main(
        [
            "train",
            "--variant",
            "bad",
            "--settings",
            json.dumps(settings),
            "--data",
            str(data_file),
            "--device",
            "cpu",
            "--out-dir",
            str(tmp_path / "b"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "error: variant 'bad' diverged" in err and "Traceback" not in err


def test_divergence_at_the_first_step_blames_the_schedule_not_the_learning_rate(tmp_path, data_file, monkeypatch):
    monkeypatch.setattr(loop, "dsm_loss", lambda score_fn, x, sigmas, generator=None: torch.tensor(float("inf")))
    with pytest.raises(
        DivergenceError, match="step 1. No checkpoint had been written yet. It failed at the first step.*noise schedule"
    ) as err:
        loop.train(
            parse_settings(training_settings()),
            variant="bad",
            data_path=data_file,
            out_dir=tmp_path,
            seed=0,
            log=lambda m: None,
        )
    assert "lower" not in str(err.value) and not (tmp_path / "state/last.pt").exists()


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="unknown training setting.*'widht'"):
        parse_settings(dict(training_settings(), widht=3))
    with pytest.raises(ConfigError, match="missing training setting.*'lr'"):
        parse_settings({k: v for k, v in training_settings().items() if k != "lr"})
    with pytest.raises(ConfigError, match=r"checkpoint_epochs \[5\] lie outside 1..epochs \(2\)"):
        parse_settings(training_settings(checkpoint_epochs=[1, 5]))


def test_variant_settings_merge_and_semantic_check(quick):
    config = copy.deepcopy(quick)
    assert variant_problems(config) == []
    name = next(iter(config["variants"]))
    merged = merged_settings(config, name)
    assert merged["noise"] == config["noise"] and merged["heldout_size"] == config["training"]["heldout_size"]
    parse_settings(merged)  # the rule's --settings parse
    own_noise = {"sigma_max": 2.0, "sigma_min": 0.1, "n_levels": 5}
    config["variants"][name] = dict(config["variants"][name], noise=own_noise, checkpoint_epochs=[1, 99])
    assert merged_settings(config, name)["noise"] == own_noise
    assert variant_problems(config) == [
        f"'variants.{name}.checkpoint_epochs' [99] exceed 'variants.{name}.epochs' "
        f"({config['variants'][name]['epochs']})"
    ]


def test_training_time_is_summed_over_segments_and_a_finished_rerun_says_it_resumed(tmp_path, data_file, monkeypatch):
    """Issue 19 case 4: the report's training time comes from metrics.csv, whose per-epoch seconds are
    carried in the checkpoint across resumes (a Snakemake benchmark file holds the last segment only)."""
    from ncsn.report.provenance import training_seconds

    settings = parse_settings(training_settings(epochs=1, checkpoint_epochs=[1], save_every_steps=1))
    real_loss, calls = loop.dsm_loss, {"n": 0}

    def slow_then_killed(score_fn, x, sigmas, generator=None):
        if score_fn.training:
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt  # killed in step 3; steps 1-2 are in state/last.pt
            import time

            time.sleep(0.2)
        return real_loss(score_fn, x, sigmas, generator=generator)

    monkeypatch.setattr(loop, "dsm_loss", slow_then_killed)
    run = tmp_path / "v"
    with pytest.raises(KeyboardInterrupt):
        loop.train(settings, variant="v", data_path=data_file, out_dir=run, seed=0, log=lambda m: None)
    monkeypatch.setattr(loop, "dsm_loss", real_loss)
    messages = []
    loop.train(settings, variant="v", data_path=data_file, out_dir=run, seed=0, log=messages.append)
    assert any("resuming v" in m and "step 2" in m for m in messages)
    assert training_seconds({"v": run / "metrics.csv"})["v"] >= 0.4  # the first segment's two slow steps are counted

    messages.clear()
    loop.train(settings, variant="v", data_path=data_file, out_dir=run, seed=0, log=messages.append)
    assert any("resuming v" in m and "epoch 1 done" in m for m in messages), messages
