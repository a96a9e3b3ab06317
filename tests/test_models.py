"""Image score networks: shapes, parameter counts (the reference network against the official ones),
noise conditioning, dropout and the registry."""

from __future__ import annotations

import pytest
import torch
import yaml

from ncsn.errors import ConfigError
from ncsn.models.refinenet import RefineNet
from ncsn.models.registry import ARCHITECTURES, build_model, count_parameters
from ncsn.noise import geometric_sigmas

SIGMAS = geometric_sigmas(1.0, 0.01, 10)


def _batch(n: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    sigma = SIGMAS[torch.randint(0, len(SIGMAS), (n,), generator=g)]
    return x, sigma


@pytest.mark.parametrize("width, expected", [(64, 7_638_657), (16, 518_817)])
def test_refinenet_parameter_count_matches_official(width, expected):
    # ermongroup/ncsn CondRefineNetDilated, MNIST (1 channel, 28 x 28, 10 levels): 7.64M at ngf = 64.
    assert count_parameters(RefineNet(SIGMAS, width=width)) == expected


@pytest.mark.parametrize(
    "arch, width, expected",
    [("unet", 32, 583_681), ("unet", 16, 146_945), ("unet", 4, 9_569), ("refinenet", 4, 42_777)],
)
def test_parameter_counts(arch, width, expected):
    assert count_parameters(build_model(arch, sigmas=SIGMAS, width=width)) == expected


def test_dropout_adds_no_parameters():
    assert count_parameters(build_model("refinenet", sigmas=SIGMAS, width=8, dropout=0.3)) == count_parameters(
        build_model("refinenet", sigmas=SIGMAS, width=8)
    )


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("n", [1, 5])
def test_output_shape_and_gradients(arch, n):
    model = build_model(arch, sigmas=SIGMAS, width=4)
    x, sigma = _batch(n)
    out = model(x, sigma)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    # every parameter takes part: its gradient exists and is not zero
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_output_depends_on_noise_level_per_sample(arch):
    model = build_model(arch, sigmas=SIGMAS, width=4).eval()
    x = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = model(x, SIGMAS[[0, 9]])
        alone = model(x[:1], SIGMAS[[9]])
    assert not torch.allclose(out[0], out[1])
    # each sample is conditioned on its own sigma (compared at unit scale: the U-Net divides by sigma)
    torch.testing.assert_close(out[1:] * SIGMAS[9], alone * SIGMAS[9], rtol=1e-4, atol=1e-5)


def test_refinenet_maps_sigma_to_its_level():
    model = RefineNet(SIGMAS, width=4)
    assert model.level_index(SIGMAS[[3, 0, 9, 3]]).tolist() == [3, 0, 9, 3]
    with pytest.raises(ValueError, match="not in this model's schedule"):
        model(torch.rand(2, 1, 28, 28), torch.tensor([SIGMAS[0].item(), 0.5]))


def test_refinenet_sigmas_travel_with_the_state_dict():
    model = RefineNet(SIGMAS, width=4)
    assert torch.equal(model.state_dict()["sigmas"], SIGMAS.float())


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_dropout_only_in_training_mode(arch):
    model = build_model(arch, sigmas=SIGMAS, width=4, dropout=0.5)
    assert any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in build_model(arch, sigmas=SIGMAS, width=4).modules())
    x, sigma = _batch(2)
    with torch.no_grad():
        assert not torch.equal(model(x, sigma), model(x, sigma))
        model.eval()
        assert torch.equal(model(x, sigma), model(x, sigma))


def test_unknown_architecture_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown architecture 'resnet'; known architectures: refinenet, unet"):
        build_model("resnet", sigmas=SIGMAS, width=4)


def test_schema_lists_exactly_the_registered_architectures(repo):
    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    assert sorted(schema["$defs"]["variant"]["properties"]["arch"]["enum"]) == sorted(ARCHITECTURES)


def _configured_sizes(repo):
    sizes = set()
    for name in ("config.yaml", "quick.yaml", "tiny.yaml"):
        config = yaml.safe_load((repo / "config" / name).read_text())
        sizes |= {(v["arch"], v["width"], v["dropout"]) for v in config["variants"].values()}
    return sorted(sizes)


def test_every_configured_variant_builds_and_runs(repo):
    x, sigma = _batch(2)
    for arch, width, dropout in _configured_sizes(repo):
        model = build_model(arch, sigmas=SIGMAS, width=width, dropout=dropout).eval()
        with torch.no_grad():
            out, alone = model(x, sigma), model(x[1:], sigma[1:])
        assert out.shape == x.shape, (arch, width)
        # a score per image: the second image's scores are the same when it is evaluated alone
        torch.testing.assert_close(out[1:], alone, rtol=1e-4, atol=1e-4, msg=f"{arch} width {width}")
