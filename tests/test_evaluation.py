"""The evaluation commands chained on a synthetic dataset: train-classifier -> fid-reference -> evaluate
-> table1 / figure1 / figure2, each output saying which extractor and how many samples it used."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from helpers import train_tiny_classifier

from ncsn import cli
from ncsn.data.images import write_synthetic


def _run(*argv):
    assert cli.main([str(a) for a in argv]) == 0


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    data = write_synthetic(root / "fashion_mnist.pt", n_train=128, n_test=64)
    train_tiny_classifier(data, root / "clf.pt")
    _run(
        "fid-reference",
        "--data",
        data,
        "--extractor",
        "domain",
        "--weights",
        root / "clf.pt",
        "--n",
        "48",
        "--cache-root",
        root / "cache",
        "--device",
        "cpu",
        "--out",
        root / "ref.json",
    )
    g = torch.Generator().manual_seed(0)
    evaluations = []
    for variant in ("net_a", "net_b"):
        for epoch in (1, 2):
            for weights in ("raw", "ema"):
                for eps, T in ((1e-5, 3), (1e-4, 3), (1e-5, 6)):
                    images = torch.randint(0, 256, (20, 1, 28, 28), generator=g, dtype=torch.uint8)
                    if weights == "ema":
                        images[:, :, :14] //= 4  # some difference between sets
                    info = {
                        "variant": variant,
                        "training_seed": 0,
                        "epoch": epoch,
                        "weights": weights,
                        "step_lr": eps,
                        "n_steps_each": T,
                        "n_samples": 20,
                    }
                    stem = f"{variant}_{epoch}_{weights}_{eps:g}_{T}"
                    torch.save({"images": images, "info": info}, root / f"{stem}.pt")
                    _run(
                        "evaluate",
                        "--samples",
                        root / f"{stem}.pt",
                        "--reference",
                        root / "ref.json",
                        "--classifier",
                        root / "clf.pt",
                        "--kid-subsets",
                        "5",
                        "--device",
                        "cpu",
                        "--out",
                        root / f"{stem}.json",
                    )
                    evaluations.append(root / f"{stem}.json")
    return root, evaluations


def test_evaluation_json_names_extractor_sizes_and_classes(pipeline):
    root, evaluations = pipeline
    ev = json.loads(evaluations[0].read_text())
    assert ev["extractor"] == "domain" and ev["extractor_name"].startswith("ncsn-domain-")
    assert ev["n_samples"] == 20 and ev["n_reference"] == 48 and ev["kid_subset_size"] == 20
    assert len(ev["coverage"]["histogram"]) == 10 and sum(ev["coverage"]["histogram"]) == pytest.approx(1)
    cached = list((root / "cache").iterdir())
    assert cached and all(ev["extractor_name"] in p.name for p in cached)


def test_table1_figure1_figure2(pipeline):
    root, evaluations = pipeline
    pd.DataFrame(
        {
            "epoch": [1, 2],
            "step": [1, 2],
            "train_loss": [2.0, 1.0],
            "heldout_loss_raw": [2.0, 1.5],
            "heldout_loss_ema": [1.9, 1.4],
            "seconds": [1, 1],
        }
    ).to_csv(root / "metrics.csv", index=False)
    t1 = [p for p in evaluations if "_1e-05_3" in p.name]
    _run(
        "table1",
        "--evaluations",
        *t1,
        "--metrics",
        f"net_a:0={root / 'metrics.csv'}",
        f"net_b:0={root / 'metrics.csv'}",
        "--csv",
        root / "t1.csv",
        "--png",
        root / "t1.png",
        "--json",
        root / "t1.json",
    )
    table = pd.read_csv(root / "t1.csv")
    assert len(table) == 4 and {"fid_raw", "fid_ema", "heldout_loss_ema", "n_samples", "extractor"} <= set(table)
    summary = json.loads((root / "t1.json").read_text())
    assert summary["measured_with"]["n_samples"] == [20]
    assert set(summary["variants"]) == {"net_a", "net_b"}
    assert isinstance(summary["variants"]["net_a"]["ema_lowers_variance"], bool)

    f1 = [p for p in evaluations if p.name.startswith("net_a_2_ema")]
    _run(
        "figure1",
        "--evaluations",
        *f1,
        "--csv",
        root / "f1.csv",
        "--heatmap",
        root / "f1.png",
        "--grid",
        root / "f1s.png",
        "--json",
        root / "f1.json",
    )
    best = json.loads((root / "f1.json").read_text())["best"]
    sweep = pd.read_csv(root / "f1.csv")
    assert best["fid"] == pytest.approx(sweep["fid"].min()) and len(sweep) == 3
    cells = json.loads((root / "f1.json").read_text())["cells"].values()
    # every cell keeps its bootstrap replicates, resample by resample, for paired comparisons in the report
    assert len({len(c["kid_replicates"]) for c in cells}) == 1 and all(len(c["kid_replicates"]) > 1 for c in cells)
    assert all(c["n_samples"] == 20 for c in cells)

    f2 = [p for p in evaluations if "_ema_1e-05_3" in p.name]
    _run(
        "figure2",
        "--evaluations",
        *f2,
        "--csv",
        root / "f2.csv",
        "--png",
        root / "f2.png",
        "--shares-png",
        root / "f2s.png",
        "--json",
        root / "f2.json",
    )
    fig2 = json.loads((root / "f2.json").read_text())
    assert fig2["variants"]["net_a"]["epochs"] == [1, 2]
    assert all(0 <= c <= 10 for c in fig2["variants"]["net_b"]["classes_covered"])
    for png in ("t1.png", "f1.png", "f1s.png", "f2.png", "f2s.png"):
        assert (root / png).stat().st_size > 1000


def test_samplers_command_finds_the_first_nfe_within_the_yardstick(pipeline):
    """Sets whose pixels are the reference's images need no more NFE; blank images never reach it."""
    root, _ = pipeline
    from ncsn.data.images import load_split

    real, _ = load_split(root / "fashion_mnist.pt", "test")
    real = (real[:20] * 255).round().to(torch.uint8)
    evaluations = []
    for method, nfe in [("ald", 10), ("ald", 100), ("cas", 10), ("cas", 100), ("noise", 10), ("noise", 100)]:
        converged = method != "noise" and (method == "cas" or nfe == 100)
        # blank images stand for a sampler far from the data: far from it in any feature space
        images = real if converged else torch.zeros(20, 1, 28, 28, dtype=torch.uint8)
        info = {
            "variant": "net_a",
            "epoch": 2,
            "weights": "ema",
            "method": method,
            "nfe": nfe,
            "nfe_budget": nfe,
            "n_samples": 20,
            "seconds_per_image": nfe / 1000,
        }
        path = root / f"m_{method}_{nfe}.pt"
        torch.save({"images": images, "info": info}, path)
        _run(
            "evaluate",
            "--samples",
            path,
            "--reference",
            root / "ref.json",
            "--classifier",
            root / "clf.pt",
            "--kid-subsets",
            "5",
            "--device",
            "cpu",
            "--out",
            path.with_suffix(".json"),
        )
        evaluations.append(path.with_suffix(".json"))
    _run(
        "samplers",
        "--evaluations",
        *evaluations,
        "--baseline-nfe",
        "100",
        "--csv",
        root / "sa.csv",
        "--png",
        root / "sa.png",
        "--json",
        root / "sa.json",
    )
    summary = json.loads((root / "sa.json").read_text())
    assert summary["baseline"]["nfe"] == 100
    assert summary["methods"]["cas"]["first_nfe_within"] == 10
    assert summary["methods"]["ald"]["first_nfe_within"] == 100
    assert summary["methods"]["noise"]["first_nfe_within"] is None
    # decided on paired KID differences: the same images as the yardstick differ by exactly 0 in every resample
    same = summary["methods"]["cas"]["kid_difference_at_first"]
    assert same["paired"] and same["value"] == 0 and same["sd"] == 0
    noise = summary["methods"]["noise"]["kid_differences"]["10"]
    assert noise["paired"] and noise["low"] > 0 and noise["minimum_detectable_excess"] > 0
    assert (root / "sa.png").stat().st_size > 1000
    # without the yardstick in the ladder: a message, not a traceback
    assert (
        cli.main(
            [
                "samplers",
                "--evaluations",
                *map(str, evaluations),
                "--baseline-nfe",
                "1000",
                "--csv",
                str(root / "x.csv"),
                "--png",
                str(root / "x.png"),
                "--json",
                str(root / "x.json"),
            ]
        )
        == 1
    )
