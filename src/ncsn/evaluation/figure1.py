"""`python -m ncsn figure1`: Figure 1 of the poster - samples and an FID heatmap over the step size
epsilon and the steps per level T, for one model."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ncsn.evaluation.common import evaluation_rows, load_evaluations, measured_with, plt, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", nargs="+", required=True, type=Path)
    parser.add_argument("--per-cell", type=int, default=8, help="samples shown per (epsilon, T) cell")
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--heatmap", required=True, type=Path)
    parser.add_argument("--grid", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)


def run(args: argparse.Namespace) -> int:
    import seaborn as sns

    from ncsn.generate import load_samples

    evals = evaluation_rows(load_evaluations(args.evaluations)).sort_values(["n_steps_each", "step_lr"])
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    evals.to_csv(args.csv, index=False)
    pyplot = plt()
    heat = evals.pivot_table(index="n_steps_each", columns="step_lr", values="fid")
    fig, ax = pyplot.subplots(figsize=(1.3 * heat.shape[1] + 2, 0.9 * heat.shape[0] + 1.5))
    sns.heatmap(heat, annot=True, fmt=".3g", cmap="viridis_r", ax=ax, cbar_kws={"label": "FID"})
    ax.set_xlabel("epsilon (NCSN paper convention)")
    ax.set_ylabel("T (steps per noise level)")
    ax.set_title(f"FID, {evals['extractor'].iloc[0]} features, n={int(evals['n_samples'].iloc[0])}")
    fig.tight_layout()
    args.heatmap.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.heatmap, dpi=120)

    step_lrs, steps = sorted(evals["step_lr"].unique()), sorted(evals["n_steps_each"].unique())
    fig, axes = pyplot.subplots(len(steps), len(step_lrs), figsize=(2.2 * len(step_lrs), 1.0 * len(steps) + 0.6),
                                squeeze=False)
    for _, row in evals.iterrows():
        images, _ = load_samples(row["samples"])
        strip = torch.cat(list(images[: args.per_cell, 0]), dim=1)
        ax = axes[steps.index(row["n_steps_each"])][step_lrs.index(row["step_lr"])]
        ax.imshow(strip.numpy(), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"eps={row['step_lr']:g}, T={row['n_steps_each']}", fontsize=7)
    fig.tight_layout()
    fig.savefig(args.grid, dpi=120)

    best = evals.loc[evals["fid"].idxmin()]
    write_json(args.json, {
        "profile": args.profile, "measured_with": measured_with(evals),
        "variant": evals["variant"].iloc[0], "epoch": int(evals["epoch"].iloc[0]), "weights": evals["weights"].iloc[0],
        "best": {"step_lr": float(best["step_lr"]), "n_steps_each": int(best["n_steps_each"]), "fid": float(best["fid"])},
        "fid": {f"eps={r.step_lr:g},T={r.n_steps_each}": float(r.fid) for r in evals.itertuples()},
        "fid_at_largest_step_lr": float(evals[evals["step_lr"] == max(step_lrs)]["fid"].min()),
        # "snow noise": neighbouring-pixel differences far above the data's
        "total_variation": {f"eps={r.step_lr:g},T={r.n_steps_each}": float(r.total_variation) for r in evals.itertuples()},
        "reference_total_variation": float(evals["reference_total_variation"].iloc[0]),
        "poster": {"step_lr": 1e-5, "n_steps_each": 100, "claim": "large steps overshoot into snow noise"},
    })
    print(f"best FID {best['fid']:.3f} at epsilon={best['step_lr']:g}, T={int(best['n_steps_each'])}")
    return 0
