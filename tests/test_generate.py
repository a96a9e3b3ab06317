"""`python -m ncsn sample`: a fixed seed reproduces the samples; outputs are uint8 tensors and a PNG grid."""

from __future__ import annotations

import torch

from ncsn import cli
from ncsn.generate import load_samples
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas


def _checkpoint(path):
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 3)
    kwargs = {"sigmas": sigmas.tolist(), "width": 4, "channels": 1, "dropout": 0.0}
    model = build_model("unet", **dict(kwargs, sigmas=sigmas))
    ema = build_model("unet", **dict(kwargs, sigmas=sigmas))
    for p in ema.parameters():
        p.data.mul_(0.5)  # raw and EMA weights differ
    torch.save(
        {
            "variant": "tiny",
            "arch": "unet",
            "model_kwargs": kwargs,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "progress": {"epoch": 1},
        },
        path,
    )
    return path


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


def test_sample_is_reproducible_for_a_fixed_seed(tmp_path):
    ckpt = _checkpoint(tmp_path / "epoch_1.pt")
    a, info = _sample(ckpt, tmp_path / "a.pt", seed=3)
    b, _ = _sample(ckpt, tmp_path / "b.pt", seed=3)
    c, _ = _sample(ckpt, tmp_path / "c.pt", seed=4)
    raw, _ = _sample(ckpt, tmp_path / "raw.pt", seed=3, weights="raw")
    assert a.dtype == torch.uint8 and a.shape == (6, 1, 28, 28)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, raw)
    assert info["n_samples"] == 6 and info["weights"] == "ema" and info["step_lr"] == 1e-4
    assert (tmp_path / "a.png").stat().st_size > 100


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


def test_shards_merge_into_the_unsharded_set_bitwise(tmp_path, capsys):
    """seeding batch: each batch has its own generator, so 3 shard jobs of a 7-image set in batches of 2
    give, merged, the images of one unsharded job with the same seed (issue 18)."""
    ckpt = _checkpoint(tmp_path / "epoch_1.pt")
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
