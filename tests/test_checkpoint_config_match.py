"""A checkpoint trained with other settings than the config's is never used silently (issue 27): the
comparison itself, the report's refusal, and training's resume, which sets the other run's state aside."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import training_settings

from ncsn import layout
from ncsn.data.images import write_synthetic
from ncsn.errors import NcsnError
from ncsn.report.inputs import check_checkpoints_match_config
from ncsn.training import loop
from ncsn.training.checkpoint import load_checkpoint
from ncsn.training.settings import merged_settings, parse_settings
from ncsn.training.settings_match import checkpoint_differences

TINY_CHECKPOINT_NOISE = {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 3}  # helpers.write_tiny_checkpoint's


def _settings(**overrides):
    return parse_settings(training_settings(**{"arch": "unet", "epochs": 1, "checkpoint_epochs": [1], **overrides}))


def _recorded(settings, variant: str, seed: int) -> dict:
    """What the train command records in a checkpoint about its run (no weights: none are compared)."""
    return {
        "arch": settings.arch,
        "model_kwargs": settings.model_kwargs(),
        "fingerprint": loop._fingerprint(variant, settings, seed),
        "model": {},
        "ema": {},
    }


def test_a_changed_width_is_the_difference_named(tiny_checkpoint):
    checkpoint = load_checkpoint(tiny_checkpoint)  # arch and model_kwargs only: no fingerprint
    assert checkpoint_differences(checkpoint, _settings(width=4, noise=TINY_CHECKPOINT_NOISE), seed=0) == {}
    assert checkpoint_differences(checkpoint, _settings(width=6, noise=TINY_CHECKPOINT_NOISE), seed=0) == {
        "width": (4, 6)
    }
    assert set(checkpoint_differences(checkpoint, _settings(width=4), seed=0)) == {"sigmas"}  # 10 levels, not 3

    checkpoint["model_kwargs"]["sigmas"] = [s * (1 + 1e-9) for s in checkpoint["model_kwargs"]["sigmas"]]
    assert checkpoint_differences(checkpoint, _settings(width=4, noise=TINY_CHECKPOINT_NOISE), seed=0) == {}


def test_the_recorded_training_settings_and_seed_are_compared_but_not_when_files_are_saved():
    settings = _settings()
    checkpoint = _recorded(settings, "v", seed=0)
    assert checkpoint_differences(checkpoint, settings, seed=0) == {}
    assert checkpoint_differences(checkpoint, _settings(lr=2e-3, save_every_steps=50), seed=1) == {
        "lr": (1e-3, 2e-3),
        "seed": (0, 1),
    }


def test_the_report_refuses_a_checkpoint_whose_width_differs_from_the_config(tiny_config, tmp_path):
    config = copy.deepcopy(tiny_config)
    results = tmp_path / "results"
    path = results / layout.checkpoint("mnist_unet", 0, "epoch_2")
    path.parent.mkdir(parents=True)
    torch.save(_recorded(parse_settings(merged_settings(config, "mnist_unet")), "mnist_unet", config["seed"]), path)
    check_checkpoints_match_config(config, results)  # trained as configured (other variants: not trained)

    config["variants"]["mnist_unet"]["width"] = 6
    with pytest.raises(NcsnError) as error:
        check_checkpoints_match_config(config, results)
    message = str(error.value)
    assert f"{path} was trained with width = 4, the config asks 6 (variants.mnist_unet.width)" in message
    assert f"--forcerun {results / layout.training_metrics('mnist_unet', 0)}" in message
    assert "previous report is untouched" in message


def test_resuming_with_a_changed_setting_sets_the_old_state_aside_and_says_which(tmp_path):
    data = write_synthetic(tmp_path / "data.pt", n_train=16, n_test=8)
    run = dict(variant="v", data_path=data, out_dir=tmp_path / "run", seed=0)
    small = _settings(width=4, batch_size=16, heldout_size=8)
    loop.train(small, **run, log=lambda m: None)
    state = tmp_path / "run/state"
    old = {p.name: p.read_bytes() for p in state.iterdir()}

    messages = []
    loop.train(_settings(width=6, batch_size=16, heldout_size=8), **run, log=messages.append)
    [line] = [m for m in messages if "afresh" in m]
    assert "settings.width = 4 in the state, 6 in this run" in line
    assert f"set aside as {tmp_path / 'run/state.stale'}" in line
    assert {p.name: p.read_bytes() for p in (tmp_path / "run/state.stale").iterdir()} == old
    assert load_checkpoint(state / "last.pt")["model_kwargs"]["width"] == 6

    loop.train(small, **run, log=lambda m: None)  # and back: the width-6 state goes beside, the first is kept
    assert load_checkpoint(tmp_path / "run/state.stale2/last.pt")["model_kwargs"]["width"] == 6
    assert {p.name: p.read_bytes() for p in (tmp_path / "run/state.stale").iterdir()} == old
