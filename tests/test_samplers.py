"""The methods of the samplers experiment (ncsn.sampling.methods) through `python -m ncsn sample --method M
--nfe N`: each runs at its budget and records the NFE it made, and a level-indexed network is refused by
the samplers that evaluate it between its levels. The samplers themselves (ncsn.sampling) are tested on
exact scores in test_sampling.py."""

from __future__ import annotations

import pytest
import torch

from ncsn import cli
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas
from ncsn.sampling.sets import load_samples

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead


@pytest.mark.parametrize(
    "method, nfe, used", [("ald", 10, 9), ("ald_denoise", 10, 10), ("cas", 10, 10), ("pc", 10, 10), ("ode", 10, 9)]
)
def test_sample_command_runs_each_method_at_its_budget(tmp_path, tiny_checkpoint, method, nfe, used):
    """`sample --method M --nfe N` on a (tiny, untrained) U-Net with 3 levels: the NFE it records is
    the one it made; a fixed seed gives the same images."""
    ckpt = tiny_checkpoint
    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.pt"
        assert (
            cli.main(
                [
                    "sample",
                    "--checkpoint",
                    str(ckpt),
                    "--method",
                    method,
                    "--nfe",
                    str(nfe),
                    "--n-samples",
                    "3",
                    "--batch-size",
                    "2",
                    "--seed",
                    "5",
                    "--device",
                    "cpu",
                    "--out",
                    str(out),
                    "--grid",
                    str(tmp_path / f"{name}.png"),
                ]
            )
            == 0
        )
        runs.append(load_samples(out))
    (a, info), (b, _) = runs
    assert torch.equal(a, b) and a.shape == (3, 1, 28, 28) and a.dtype == torch.uint8
    assert info["method"] == method and info["nfe_budget"] == nfe and info["nfe"] == used


def test_a_level_indexed_network_is_refused_by_the_samplers_between_levels(tmp_path, capsys):
    sigmas = geometric_sigmas(1.0, 0.01, 3)
    kwargs = {"sigmas": sigmas.tolist(), "width": 4, "channels": 1, "dropout": 0.0}
    net = build_model("refinenet", **dict(kwargs, sigmas=sigmas))
    torch.save(
        {"arch": "refinenet", "model_kwargs": kwargs, "model": net.state_dict(), "ema": net.state_dict()},
        tmp_path / "r.pt",
    )
    assert (
        cli.main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "r.pt"),
                "--method",
                "cas",
                "--nfe",
                "10",
                "--n-samples",
                "2",
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "s.pt"),
                "--grid",
                str(tmp_path / "s.png"),
            ]
        )
        == 1
    )
    assert "level-indexed refinenet" in capsys.readouterr().err
