"""The registry of sampler methods (ncsn.sampling.methods) and the one batch driver: a sampler added by
registering one function is checked by the config, drawn by `python -m ncsn sample`, sharded like the
poster's sampler, and its declared NFE is the NFE it makes."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from ncsn import cli
from ncsn.config import validate_config
from ncsn.errors import ConfigError
from ncsn.sampling import dynamics
from ncsn.sampling.driver import draw_method
from ncsn.sampling.methods import METHODS, register
from ncsn.sampling.sets import load_samples

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _gaussian_score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The exact score of N(0.5, 0.01 I) perturbed at sigma."""
    return -(x - 0.5) / (0.01 + sigma.view(-1, *([1] * (x.dim() - 1))) ** 2)


@pytest.fixture()
def tweedie_steps(monkeypatch):
    """A toy sampler added the way a contributor adds one: a function under @register, nothing else.
    It jumps to the Tweedie estimate at `nfe` geometric levels, moving `share` of the way each time."""
    monkeypatch.setitem(METHODS, "tweedie_steps", None)  # removed again after the test

    @register(
        "tweedie_steps",
        settings={"share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
        nfe_used=lambda nfe, n_levels, **_: nfe,
    )
    def run(score_fn, init, sigmas, nfe, generator, share=1.0):
        x = init.clone()
        for sigma in torch.logspace(math.log10(sigmas[0]), math.log10(sigmas[-1]), nfe).tolist():
            x = x + share * sigma**2 * score_fn(x, torch.full((len(x),), sigma))
        return dynamics.Sampled(x, nfe)

    return "tweedie_steps"


def _sample(checkpoint, out, *extra) -> int:
    argv = ["sample", "--checkpoint", str(checkpoint), "--n-samples", "5", "--batch-size", "2", "--seed", "3"]
    argv += ["--device", "cpu", "--out", str(out), "--grid", str(out.with_suffix(".png")), *extra]
    return cli.main(argv)


def test_a_registered_sampler_is_checked_by_the_config(tweedie_steps, quick, schema):
    config = copy.deepcopy(quick)
    config["samplers"]["methods"] = {tweedie_steps: {"share": 0.5}}
    assert validate_config(config, schema)["samplers"]["methods"] == {tweedie_steps: {"share": 0.5}}
    config["samplers"]["methods"] = {tweedie_steps: {"share": 2}}
    with pytest.raises(ConfigError, match=f"'samplers.methods.{tweedie_steps}.share' is 2"):
        validate_config(config, schema)
    config["samplers"]["methods"] = {tweedie_steps: {"shares": 1}}
    with pytest.raises(ConfigError, match="is not a setting of sampler method 'tweedie_steps'; its settings: share"):
        validate_config(config, schema)


def test_a_registered_sampler_is_drawn_by_the_sample_command(tweedie_steps, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "set.pt"
    assert _sample(tiny_checkpoint, out, "--method", tweedie_steps, "--nfe", "4", "--method-settings", "{}") == 0
    images, info = load_samples(out)
    assert images.shape == (5, 1, 28, 28) and info["method"] == tweedie_steps and info["nfe"] == 4
    assert _sample(tiny_checkpoint, tmp_path / "defaults.pt", "--method", tweedie_steps, "--nfe", "4") == 0
    refused = _sample(
        tiny_checkpoint, tmp_path / "x.pt", "--method", tweedie_steps, "--nfe", "4", "--method-settings", '{"s": 1}'
    )
    assert refused == 1 and "its settings: share" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("method", ["cas", "pc"])
def test_a_method_set_drawn_in_shards_is_the_unsharded_set(method, tiny_checkpoint, tmp_path):
    """Per-batch seeds and shards are the driver's, so every method has them, not only the poster's sampler."""
    whole = tmp_path / "whole.pt"
    assert _sample(tiny_checkpoint, whole, "--method", method, "--nfe", "6", "--seeding", "batch") == 0
    shards = []
    for k in range(2):
        shards.append(tmp_path / f"shard{k}.pt")
        assert (
            _sample(
                tiny_checkpoint, shards[-1], "--method", method, "--nfe", "6", "--shard", f"{k}/2", "--seeding", "batch"
            )
            == 0
        )
    merged = tmp_path / "merged.pt"
    argv = [
        "merge-samples",
        "--shards",
        *map(str, reversed(shards)),
        "--out",
        str(merged),
        "--grid",
        str(tmp_path / "m.png"),
    ]
    assert cli.main(argv) == 0
    assert torch.equal(load_samples(merged)[0], load_samples(whole)[0])


@pytest.mark.parametrize("nfe", [5, 12, 31])
def test_each_method_makes_the_nfe_it_declares(nfe):
    """The registry's NFE accounting (used for progress and costs) is the NFE the driver counts."""
    sigmas = torch.logspace(0, -2, 4)
    for name, method in METHODS.items():
        if name == "ode" and nfe < 3:
            continue
        _, counted = draw_method(
            name,
            _gaussian_score,
            sigmas,
            nfe=nfe,
            n_samples=3,
            batch_size=3,
            seed=0,
            image_shape=(1, 4, 4),
            device="cpu",
            progress=False,
        )
        assert counted == method.nfe_used(nfe, len(sigmas)), name
