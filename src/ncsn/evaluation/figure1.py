"""`python -m ncsn figure1`: Figure 1 of the poster - samples and an FID heatmap over the step size
epsilon and the steps per level T, for one model."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import seaborn as sns

from ncsn.evaluation.common import (
    evaluation_rows,
    image_grid_array,
    load_evaluations,
    measured_with,
    plt,
    save_figure,
    write_json,
)
from ncsn.sampling.sets import load_samples
from ncsn.stats import Z_95


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", nargs="+", required=True, type=Path)
    parser.add_argument(
        "--samples",
        nargs="+",
        type=Path,
        default=None,
        help="the sample set of each evaluation, in the same order (default: the path recorded in it)",
    )
    parser.add_argument("--per-cell", type=int, default=25, help="samples shown per (epsilon, T) cell")
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--heatmap", required=True, type=Path)
    parser.add_argument("--grid", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)


def heatmap(evals: pd.DataFrame, path: Path) -> None:
    """FID per (T, epsilon) cell, annotated with its 95% interval."""
    pyplot = plt()
    heat = evals.pivot_table(index="n_steps_each", columns="step_lr", values="fid")
    sd = evals.pivot_table(index="n_steps_each", columns="step_lr", values="fid_sd").reindex_like(heat)
    labels = heat.copy().astype(object)
    for t in heat.index:
        for e in heat.columns:
            v, d = heat.loc[t, e], sd.loc[t, e]
            if pd.isna(v):  # a cell the sweep's design leaves out (sweep.design: cross)
                labels.loc[t, e] = ""
            else:
                labels.loc[t, e] = f"{v:.3g}\n±{Z_95 * d:.2g}" if pd.notna(d) else f"{v:.3g}"
    fig, ax = pyplot.subplots(figsize=(1.5 * heat.shape[1] + 2.5, 0.9 * heat.shape[0] + 1.5))
    sns.heatmap(heat, annot=labels, fmt="", cmap="viridis_r", ax=ax, cbar_kws={"label": "FID"})
    ax.set_xticklabels([f"{e:g}" for e in heat.columns])
    ax.set_xlabel("epsilon (NCSN paper convention)")
    ax.set_ylabel("T (steps per noise level)")
    ax.set_title(f"FID ± 95% half-width, {evals['extractor'].iloc[0]} features, n={int(evals['n_samples'].iloc[0])}")
    save_figure(fig, path)


def sample_matrix(evals: pd.DataFrame, path: Path, per_cell: int = 25) -> None:
    """One image matrix: rows T, columns epsilon, each cell a square grid of `per_cell` samples."""
    pyplot = plt()
    step_lrs, steps = sorted(evals["step_lr"].unique()), sorted(evals["n_steps_each"].unique())
    side = max(1, int(per_cell**0.5))
    fig, axes = pyplot.subplots(
        len(steps), len(step_lrs), figsize=(2.3 * len(step_lrs) + 0.6, 2.4 * len(steps) + 0.4), squeeze=False
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)  # cells left out by sweep.design: cross stay blank
    for _, row in evals.iterrows():
        images, _ = load_samples(row["samples"])
        i, j = steps.index(row["n_steps_each"]), step_lrs.index(row["step_lr"])
        axes[i][j].imshow(image_grid_array(images, side * side, side), cmap="gray", vmin=0, vmax=1)
        axes[i][j].set_frame_on(True)
    for j, e in enumerate(step_lrs):
        axes[0][j].set_title(f"epsilon = {e:g}", fontsize=10)
    for i, t in enumerate(steps):
        axes[i][0].set_ylabel(f"T = {t}", fontsize=10)
    save_figure(fig, path, dpi=100)


def cell_key(step_lr: float, n_steps_each: int) -> str:
    return f"eps={step_lr:g},T={n_steps_each}"


def summary(evals: pd.DataFrame, profile: str, replicates: dict[str, dict] | None = None) -> dict:
    """The sweep's cells and its best cell. `replicates` (cell key -> {"fid_replicates", "kid_replicates"}:
    the bootstrap values, resample by resample) lets the report compare cells paired: every cell is drawn
    from the same initial noise and resampled with the same indices."""
    best = evals.loc[evals["fid"].idxmin()]
    replicates = replicates or {}
    cells = {
        cell_key(r.step_lr, r.n_steps_each): {
            "step_lr": float(r.step_lr),
            "n_steps_each": int(r.n_steps_each),
            "fid": float(r.fid),
            "fid_sd": float(r.fid_sd),
            "kid": float(r.kid_mean),
            "kid_sd": float(r.kid_sd),
            "total_variation": float(r.total_variation),
            "total_variation_se": float(r.total_variation_se),
            "n_samples": int(r.n_samples),
            **replicates.get(cell_key(r.step_lr, r.n_steps_each), {}),
        }
        for r in evals.itertuples()
    }
    first = evals.iloc[0]
    return {
        "profile": profile,
        "measured_with": measured_with(evals),
        "variant": first["variant"],
        "epoch": int(first["epoch"]),
        "weights": first["weights"],
        "best": {
            "step_lr": float(best["step_lr"]),
            "n_steps_each": int(best["n_steps_each"]),
            "fid": float(best["fid"]),
            "fid_sd": float(best["fid_sd"]),
        },
        "cells": cells,
        "fid": {k: v["fid"] for k, v in cells.items()},
        "fid_at_largest_step_lr": float(evals[evals["step_lr"] == evals["step_lr"].max()]["fid"].min()),
        # "snow noise": neighbouring-pixel differences far above the data's
        "total_variation": {k: v["total_variation"] for k, v in cells.items()},
        "reference_total_variation": float(first["reference_total_variation"]),
        "floor": {k: float(first[k]) for k in ("floor_fid", "floor_fid_sd", "floor_kid", "floor_kid_sd") if k in first},
        "poster": {"step_lr": 1e-5, "n_steps_each": 100, "claim": "large steps overshoot into snow noise"},
    }


def run(args: argparse.Namespace) -> int:
    evaluations = load_evaluations(args.evaluations, args.samples)
    evals = evaluation_rows(evaluations).sort_values(["n_steps_each", "step_lr"])
    replicates = {
        cell_key(ev["sample_info"]["step_lr"], ev["sample_info"]["n_steps_each"]): {
            key: [float(x) for x in ev[key]] for key in ("fid_replicates", "kid_replicates") if ev.get(key)
        }
        for ev in evaluations
    }
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    evals.to_csv(args.csv, index=False)
    heatmap(evals, args.heatmap)
    sample_matrix(evals, args.grid, args.per_cell)
    result = summary(evals, args.profile, replicates)
    write_json(args.json, result)
    best = result["best"]
    print(f"best FID {best['fid']:.3f} at epsilon={best['step_lr']:g}, T={best['n_steps_each']}")
    return 0
