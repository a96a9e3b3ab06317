"""`python -m ncsn figure2`: Figure 2 of the poster - Fashion-MNIST samples of the reference network and
its bigger / dropout variants at the evaluated checkpoints, with the class histogram of the samples
(classifier predictions), its entropy and the number of classes holding at least 5% of them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from ncsn.evaluation.common import (
    evaluation_rows,
    image_grid_array,
    load_evaluations,
    measured_with,
    plt,
    save_figure,
    write_json,
)
from ncsn.metrics.classes import wilson_interval
from ncsn.sampling.sets import load_samples

POSTER = (
    "collapse onto one class (custom U-Net: 'shirt'); reference net collapses after briefly learning other "
    "classes; bigger + dropout stays stable longer"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", nargs="+", required=True, type=Path)
    parser.add_argument(
        "--samples",
        nargs="+",
        type=Path,
        default=None,
        help="the sample set of each evaluation, in the same order (default: the path recorded in it)",
    )
    parser.add_argument(
        "--collapse-share",
        type=float,
        default=0.5,
        help="call a sample set collapsed when one class holds at least this share",
    )
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--png", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)


def class_table(raw: list[dict], collapse_share: float) -> pd.DataFrame:
    """One row per evaluated set: its evaluation columns, the share of each class (`share_<class>`) and
    whether one class holds at least `collapse_share` of the samples."""
    evals = evaluation_rows(raw)
    hist = torch.tensor([ev["coverage"]["histogram"] for ev in raw])
    for i, name in enumerate(raw[0]["classes"]):
        evals[f"share_{name}"] = hist[:, i].numpy()
    evals["collapsed"] = evals["top_share"] >= collapse_share
    return evals.sort_values(["variant", "epoch"]).reset_index(drop=True)


def _histogram(ax, row: pd.Series, classes: list[str]) -> None:
    """The class shares of one set with their Wilson 95% intervals, the collapse and coverage lines."""
    shares = [row[f"share_{c}"] for c in classes]
    n = int(row["n_samples"])
    bounds = [wilson_interval(int(round(share * n)), n) for share in shares]
    errors = [
        [share - lo for share, (lo, _) in zip(shares, bounds)],
        [hi - share for share, (_, hi) in zip(shares, bounds)],
    ]
    ax.bar(range(len(classes)), shares, yerr=errors, capsize=2, error_kw={"lw": 0.8})
    ax.axhline(0.5, color="firebrick", lw=0.8, ls=":")
    ax.axhline(0.05, color="gray", lw=0.8, ls="--")
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_title(f"entropy {row['class_entropy']:.2f} nats, {row['classes_covered']} classes >= 5%", fontsize=8)


def plot(evals: pd.DataFrame, classes: list[str], path: Path) -> None:
    """Per set (rows): its first samples and its class histogram."""
    n = len(evals)
    fig, axes = plt().subplots(n, 2, figsize=(9, 2.0 * n), squeeze=False, gridspec_kw={"width_ratios": [1.2, 1]})
    for i, row in evals.iterrows():
        images, _ = load_samples(row["samples"])
        axes[i][0].imshow(image_grid_array(images, 32, 8), cmap="gray", vmin=0, vmax=1)
        axes[i][0].axis("off")
        axes[i][0].set_title(f"{row['variant']} epoch {row['epoch']} ({row['weights']})", fontsize=8)
        _histogram(axes[i][1], row, classes)
    save_figure(fig, path)


def summary(evals: pd.DataFrame, classes: list[str]) -> dict[str, dict]:
    """Per variant: the class measures at each epoch and the first collapsed epoch (None if none)."""
    per = {}
    for variant, t in evals.groupby("variant"):
        collapsed = t[t["collapsed"]]
        per[variant] = {
            "epochs": t["epoch"].tolist(),
            "classes_covered": t["classes_covered"].tolist(),
            "entropy": t["class_entropy"].round(4).tolist(),
            "top_class": [classes[c] for c in t["top_class"]],
            "top_share": t["top_share"].round(4).tolist(),
            "fid": t["fid"].round(4).tolist(),
            "top_share_low": t["top_share_low"].round(4).tolist(),
            "top_share_high": t["top_share_high"].round(4).tolist(),
            "n_samples": t["n_samples"].astype(int).tolist(),
            "first_collapsed_epoch": int(collapsed["epoch"].min()) if len(collapsed) else None,
        }
    return per


def run(args: argparse.Namespace) -> int:
    raw = load_evaluations(args.evaluations, args.samples)
    classes = raw[0]["classes"]
    evals = class_table(raw, args.collapse_share)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    evals.to_csv(args.csv, index=False)
    plot(evals, classes, args.png)
    write_json(
        args.json,
        {
            "profile": args.profile,
            "measured_with": measured_with(evals),
            "classifier_test_accuracy": raw[0]["classifier_test_accuracy"],
            "collapse_rule": f"one class holds >= {args.collapse_share:.0%} of the samples",
            "variants": summary(evals, classes),
            "poster": POSTER,
        },
    )
    print(evals[["variant", "epoch", "classes_covered", "class_entropy", "top_share", "fid"]].to_string(index=False))
    return 0
