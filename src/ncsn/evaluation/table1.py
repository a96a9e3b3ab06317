"""`python -m ncsn table1`: Table 1 of the poster (EMA stability) - FID of the raw and the EMA weights of
each MNIST variant at the evaluated epochs, beside the training losses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ncsn.evaluation.common import evaluation_rows, load_evaluations, measured_with, plt, write_json

PIXELS = 28 * 28
# Poster Table 1 (custom U-Net; FID with an unstated extractor and sample count).
POSTER = {1: (None, None), 5: (2.9746, 0.6112), 10: (11.3181, 0.3198), 15: (0.9717, 0.2249)}


def build_table(evals: pd.DataFrame, metrics: dict[str, pd.DataFrame]) -> pd.DataFrame:
    wide = evals.pivot_table(index=["variant", "epoch"], columns="weights", values=["fid", "kid_mean"]).reset_index()
    wide.columns = ["_".join(c for c in col if c) for col in wide.columns]
    losses = pd.concat([m.assign(variant=v) for v, m in metrics.items()], ignore_index=True)
    losses = losses[["variant", "epoch", "train_loss", "heldout_loss_raw", "heldout_loss_ema"]]
    table = wide.merge(losses, on=["variant", "epoch"], how="left")
    n = evals.groupby(["variant", "epoch"])["n_samples"].first().reset_index()
    table = table.merge(n, on=["variant", "epoch"])
    table["extractor"] = ",".join(sorted(evals["extractor"].unique()))
    return table.sort_values(["variant", "epoch"]).reset_index(drop=True)


def summarize(table: pd.DataFrame) -> dict:
    out = {}
    for variant, t in table.groupby("variant"):
        raw, ema = t["fid_raw"], t["fid_ema"]
        out[variant] = {
            "epochs": t["epoch"].tolist(),
            "fid_raw": raw.round(4).tolist(), "fid_ema": ema.round(4).tolist(),
            "epochs_where_ema_lower": int((ema < raw).sum()), "n_epochs": len(t),
            "ema_lowers_fid_every_epoch": bool((ema < raw).all()),
            "fid_var_raw": float(raw.var(ddof=0)), "fid_var_ema": float(ema.var(ddof=0)),
            "ema_lowers_variance": bool(ema.var(ddof=0) < raw.var(ddof=0)),
            "mean_abs_epoch_change_raw": float(raw.diff().abs().mean()) if len(t) > 1 else None,
            "mean_abs_epoch_change_ema": float(ema.diff().abs().mean()) if len(t) > 1 else None,
        }
    return out


def figure(table: pd.DataFrame, metrics: dict[str, pd.DataFrame], path: Path) -> None:
    """Top row: FID of raw and EMA weights at the evaluated epochs; bottom row: the DSM losses of every
    epoch (training, and held-out for raw and EMA weights), per pixel, on a log axis."""
    pyplot = plt()
    variants = sorted(table["variant"].unique())
    fig, axes = pyplot.subplots(2, len(variants), figsize=(4.5 * len(variants), 7), squeeze=False)
    for column, variant in enumerate(variants):
        top, bottom = axes[0, column], axes[1, column]
        t = table[table["variant"] == variant]
        top.plot(t["epoch"], t["fid_raw"], "o-", label="raw weights")
        top.plot(t["epoch"], t["fid_ema"], "s-", label="EMA weights")
        top.set_title(variant)
        top.set_ylabel(f"FID ({table['extractor'].iloc[0]} features, n={int(t['n_samples'].iloc[0])})")
        m = metrics[variant]
        for key, style, label in [("train_loss", ":", "training"), ("heldout_loss_raw", "o-", "held-out, raw"),
                                  ("heldout_loss_ema", "s-", "held-out, EMA")]:
            bottom.plot(m["epoch"], m[key] / PIXELS, style, label=label)
        bottom.set_yscale("log")
        bottom.set_ylabel("DSM loss per pixel")
        for ax in (top, bottom):
            ax.set_xlabel("epoch")
            ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", nargs="+", required=True, type=Path)
    parser.add_argument("--metrics", nargs="+", required=True, help="VARIANT=results/train/VARIANT/metrics.csv")
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--png", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)


def run(args: argparse.Namespace) -> int:
    evals = evaluation_rows(load_evaluations(args.evaluations))
    metrics = {item.split("=", 1)[0]: pd.read_csv(item.split("=", 1)[1]) for item in args.metrics}
    table = build_table(evals, metrics)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    figure(table, metrics, args.png)
    write_json(args.json, {"profile": args.profile, "measured_with": measured_with(evals),
                           "sampler": evals[["step_lr", "n_steps_each"]].drop_duplicates().to_dict("records"),
                           "variants": summarize(table),
                           "poster": {"epochs": list(POSTER), "fid_raw": [v[0] for v in POSTER.values()],
                                      "fid_ema": [v[1] for v in POSTER.values()]}})
    print(table.to_string(index=False))
    return 0
