"""`python -m ncsn sample`: a fixed seed reproduces the samples; outputs are uint8 tensors and a PNG grid."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ncsn import cli
from ncsn.sampling import annealed_langevin, to_uint8
from ncsn.sampling.sets import load_samples
from ncsn.training.checkpoint import load_model


def _sample(ckpt, out, seed, weights="ema"):
    argv = [
        "sample",
        "--checkpoint",
        str(ckpt),
        "--weights",
        weights,
        "--step-lr",
        "1e-4",
        "--n-steps-each",
        "2",
        "--n-samples",
        "6",
        "--batch-size",
        "4",
        "--seed",
        str(seed),
        "--device",
        "cpu",
        "--out",
        str(out),
        "--grid",
        str(out.with_suffix(".png")),
    ]
    assert cli.main(argv) == 0
    return load_samples(out)


def test_sample_is_reproducible_for_a_fixed_seed(tmp_path, tiny_checkpoint):
    ckpt = tiny_checkpoint
    a, info = _sample(ckpt, tmp_path / "a.pt", seed=3)
    b, _ = _sample(ckpt, tmp_path / "b.pt", seed=3)
    c, _ = _sample(ckpt, tmp_path / "c.pt", seed=4)
    raw, _ = _sample(ckpt, tmp_path / "raw.pt", seed=3, weights="raw")
    assert a.dtype == torch.uint8 and a.shape == (6, 1, 28, 28)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, raw)
    assert info["n_samples"] == 6 and info["weights"] == "ema" and info["step_lr"] == 1e-4
    # the images are the documented chains: one generator seeded with --seed draws each batch's uniform
    # start and then its Langevin noise, over the checkpoint's levels with the EMA weights
    model = load_model(ckpt, "ema", "cpu")
    sigmas = torch.tensor(torch.load(ckpt)["model_kwargs"]["sigmas"])
    generator = torch.Generator().manual_seed(3)
    expected = []
    for n in (4, 2):  # --n-samples 6 in batches of 4
        start = torch.rand(n, 1, 28, 28, generator=generator)
        expected.append(to_uint8(annealed_langevin(model, start, sigmas, 1e-4, 2, generator=generator)))
    assert torch.equal(a, torch.cat(expected))
    # the grid shows those images: 3 columns of 28 x 28 tiles with 2 pixels of padding
    grid = torch.from_numpy(np.array(Image.open(tmp_path / "a.png").convert("L")))
    assert grid.shape == (2 + 2 * 30, 2 + 3 * 30)
    tiles = [grid[2 + 30 * (i // 3) : 30 + 30 * (i // 3), 2 + 30 * (i % 3) : 30 + 30 * (i % 3)] for i in range(6)]
    assert torch.equal(torch.stack(tiles), a[:, 0])


def test_sample_reports_a_missing_checkpoint(tmp_path, capsys):
    argv = [
        "sample",
        "--checkpoint",
        str(tmp_path / "nope.pt"),
        "--step-lr",
        "1e-5",
        "--n-steps-each",
        "1",
        "--n-samples",
        "1",
        "--out",
        str(tmp_path / "x.pt"),
        "--grid",
        str(tmp_path / "x.png"),
    ]
    assert cli.main(argv) == 1
    assert "train rule" in capsys.readouterr().err


def test_shards_merge_into_the_unsharded_set_bitwise(tmp_path, capsys, tiny_checkpoint):
    """seeding batch: each batch has its own generator, so 3 shard jobs of a 7-image set in batches of 2
    give, merged, the images of one unsharded job with the same seed (issue 18)."""
    ckpt = tiny_checkpoint
    common = [
        "sample",
        "--checkpoint",
        str(ckpt),
        "--step-lr",
        "1e-4",
        "--n-steps-each",
        "2",
        "--n-samples",
        "7",
        "--batch-size",
        "2",
        "--seed",
        "9",
        "--device",
        "cpu",
        "--seeding",
        "batch",
    ]
    assert cli.main(common + ["--out", str(tmp_path / "whole.pt"), "--grid", str(tmp_path / "whole.png")]) == 0
    shards = []
    for k in (2, 0, 1):
        out = tmp_path / f"part{k}.pt"
        assert cli.main(common + ["--shard", f"{k}/3", "--out", str(out), "--grid", str(out.with_suffix(".png"))]) == 0
        shards.append(str(out))
    assert (
        cli.main(
            [
                "merge-samples",
                "--shards",
                *shards,
                "--out",
                str(tmp_path / "merged.pt"),
                "--grid",
                str(tmp_path / "merged.png"),
            ]
        )
        == 0
    )
    whole, info = load_samples(tmp_path / "whole.pt")
    merged, merged_info = load_samples(tmp_path / "merged.pt")
    assert torch.equal(whole, merged) and merged_info["merged_from_shards"] == 3
    assert {k: v for k, v in merged_info.items() if k not in ("seconds", "merged_from_shards")} == {
        k: v for k, v in info.items() if k != "seconds"
    }
    # a missing shard is named, not silently merged
    assert (
        cli.main(
            [
                "merge-samples",
                "--shards",
                *shards[:2],
                "--out",
                str(tmp_path / "bad.pt"),
                "--grid",
                str(tmp_path / "bad.png"),
            ]
        )
        == 1
    )
    assert "do not hold shards 0..3" in capsys.readouterr().err
    # the default seeding (one generator for the set) cannot be sharded
    assert (
        cli.main(common[:-2] + ["--shard", "0/3", "--out", str(tmp_path / "x.pt"), "--grid", str(tmp_path / "x.png")])
        == 1
    )
