"""`python -m ncsn table1`: Table 1 of the poster (EMA stability) - FID of the raw and the EMA weights of
each MNIST variant at the evaluated epochs, beside the training losses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

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

PIXELS = 28 * 28
# Poster Table 1 (custom U-Net; FID with an unstated extractor and sample count).
POSTER = {1: (None, None), 5: (2.9746, 0.6112), 10: (11.3181, 0.3198), 15: (0.9717, 0.2249)}


VALUES = ["fid", "fid_sd", "kid_mean", "kid_sd"]
FLOOR = ["floor_fid", "floor_fid_sd", "floor_kid", "floor_kid_sd"]
LOSSES = [
    "train_loss",
    "heldout_loss_raw",
    "heldout_loss_ema",
    "heldout_loss_raw_se",
    "heldout_loss_ema_se",
    "heldout_loss_diff_se",
]


RUN = ["variant", "seed"]  # a training run: a variant trained from one seed
KEYS = [*RUN, "epoch"]


def build_table(evals: pd.DataFrame, metrics: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """One row per (variant, seed, epoch): FID / KID of the raw and EMA weights with their bootstrap
    standard deviations (`fid_sd_raw`, ...), the data floor at the same sample size, and the DSM losses."""
    values = [c for c in VALUES if c in evals]
    wide = evals.pivot_table(index=KEYS, columns="weights", values=values).reset_index()
    wide.columns = ["_".join(c for c in col if c) for col in wide.columns]
    floor = [c for c in FLOOR if c in evals]
    per_epoch = evals.groupby(KEYS)[["n_samples", *floor]].first().reset_index()
    losses = pd.concat([m.assign(variant=v, seed=seed) for (v, seed), m in metrics.items()], ignore_index=True)
    losses = losses[[*KEYS, *[c for c in LOSSES if c in losses]]]
    table = wide.merge(per_epoch, on=KEYS).merge(losses, on=KEYS, how="left")
    table["extractor"] = ",".join(sorted(evals["extractor"].unique()))
    return table.sort_values(KEYS).reset_index(drop=True)


def first_runs(table: pd.DataFrame, metrics: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """The rows of each variant's first training run (the first of its seeds in `metrics`' order)."""
    first = {}
    for variant, seed in metrics:
        first.setdefault(variant, seed)
    return table[[first.get(v) == s for v, s in zip(table["variant"], table["seed"])]]


def summarize(table: pd.DataFrame) -> dict:
    """Descriptive numbers per variant, of its first training run (the verdicts, with their noise rules,
    are the report's)."""
    out = {}
    for variant, t in table.groupby("variant"):
        raw, ema = t["fid_raw"], t["fid_ema"]
        out[variant] = {
            "seed": int(t["seed"].iloc[0]),
            "epochs": t["epoch"].tolist(),
            "fid_raw": raw.round(4).tolist(),
            "fid_ema": ema.round(4).tolist(),
            "fid_sd_raw": t["fid_sd_raw"].round(4).tolist() if "fid_sd_raw" in t else None,
            "fid_sd_ema": t["fid_sd_ema"].round(4).tolist() if "fid_sd_ema" in t else None,
            "epochs_where_ema_lower": int((ema < raw).sum()),
            "n_epochs": len(t),
            "fid_var_raw": float(raw.var(ddof=0)),
            "fid_var_ema": float(ema.var(ddof=0)),
            "ema_lowers_variance": bool(ema.var(ddof=0) < raw.var(ddof=0)),
        }
    return out


def _errorbar(ax, x, y, sd, style, label):
    yerr = None if sd is None else (Z_95 * sd).to_numpy()
    ax.errorbar(x, y, yerr=yerr, fmt=style, capsize=3, label=label)


def figure(table: pd.DataFrame, metrics: dict[str, pd.DataFrame], path: Path) -> None:
    """Top row: FID of raw and EMA weights at the evaluated epochs with 95% intervals, and the data floor
    (real test images scored the same way) as a band; bottom row: the DSM losses of every epoch
    (training, and held-out for raw and EMA weights with 95% intervals), per pixel, on a log axis."""
    pyplot = plt()
    variants = sorted(table["variant"].unique())
    fig, axes = pyplot.subplots(2, len(variants), figsize=(6 * len(variants), 7), squeeze=False)
    for column, variant in enumerate(variants):
        top, bottom = axes[0, column], axes[1, column]
        t = table[table["variant"] == variant]
        _errorbar(top, t["epoch"], t["fid_raw"], t.get("fid_sd_raw"), "o-", "raw weights")
        _errorbar(top, t["epoch"], t["fid_ema"], t.get("fid_sd_ema"), "s-", "EMA weights")
        if "floor_fid" in t and t["floor_fid"].notna().all():
            f, sd = float(t["floor_fid"].iloc[0]), float(t["floor_fid_sd"].iloc[0])
            top.axhspan(max(f - Z_95 * sd, f / 10), f + Z_95 * sd, color="0.85", label="data floor (real images)")
            top.axhline(f, color="0.5", lw=0.8)
        top.set_yscale("log")
        top.set_title(variant)
        top.set_ylabel(f"FID ({table['extractor'].iloc[0]} features, n={int(t['n_samples'].iloc[0])})")
        m = metrics[(variant, int(t["seed"].iloc[0]))]
        bottom.plot(m["epoch"], m["train_loss"] / PIXELS, ":", label="training")
        for key, style, label in [
            ("heldout_loss_raw", "o-", "held-out, raw"),
            ("heldout_loss_ema", "s-", "held-out, EMA"),
        ]:
            se = m.get(key + "_se")
            _errorbar(bottom, m["epoch"], m[key] / PIXELS, None if se is None else se / PIXELS, style, label)
        bottom.set_yscale("log")
        bottom.set_ylabel("DSM loss per pixel")
        for ax in (top, bottom):
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
    save_figure(fig, path)


def samples_figure(evals: pd.DataFrame, path: Path, per_set: int = 36) -> None:
    """Samples of the raw and the EMA weights side by side at each evaluated epoch (rows)."""
    pyplot = plt()
    rows = evals.sort_values(["variant", "epoch"])[["variant", "epoch"]].drop_duplicates().to_records(index=False)
    fig, axes = pyplot.subplots(len(rows), 2, figsize=(6, 3.1 * len(rows)), squeeze=False)
    for i, (variant, epoch) in enumerate(rows):
        for j, weights in enumerate(("raw", "ema")):
            match = evals[(evals["variant"] == variant) & (evals["epoch"] == epoch) & (evals["weights"] == weights)]
            ax = axes[i][j]
            ax.axis("off")
            if match.empty:
                continue
            images, _ = load_samples(match["samples"].iloc[0])
            side = int(per_set**0.5)
            ax.imshow(image_grid_array(images, side * side, side), cmap="gray", vmin=0, vmax=1)
            ax.set_title(
                f"{variant} epoch {epoch}, {'raw' if weights == 'raw' else 'EMA'} (FID {match['fid'].iloc[0]:.3g})",
                fontsize=9,
            )
    save_figure(fig, path, dpi=100)


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
        "--metrics",
        nargs="+",
        required=True,
        help="VARIANT:SEED=results/train/VARIANT/seed_SEED/metrics.csv per training run (the first seed of a "
        "variant first)",
    )
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--png", required=True, type=Path)
    parser.add_argument("--samples-png", type=Path, default=None, help="raw vs EMA sample grids per evaluated epoch")
    parser.add_argument("--json", required=True, type=Path)


def _metrics_item(item: str) -> tuple[tuple[str, int], pd.DataFrame]:
    run, path = item.split("=", 1)
    variant, seed = run.rsplit(":", 1)
    return (variant, int(seed)), pd.read_csv(path)


def run(args: argparse.Namespace) -> int:
    evals = evaluation_rows(load_evaluations(args.evaluations, args.samples))
    metrics = dict(_metrics_item(item) for item in args.metrics)
    table = build_table(evals, metrics)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    first = first_runs(table, metrics)
    figure(first, metrics, args.png)
    if args.samples_png:
        samples_figure(evals.merge(first[RUN].drop_duplicates(), on=RUN), args.samples_png)
    write_json(
        args.json,
        {
            "profile": args.profile,
            "measured_with": measured_with(evals),
            "sampler": evals[["step_lr", "n_steps_each"]].drop_duplicates().to_dict("records"),
            "variants": summarize(first),
            "poster": {
                "epochs": list(POSTER),
                "fid_raw": [v[0] for v in POSTER.values()],
                "fid_ema": [v[1] for v in POSTER.values()],
            },
        },
    )
    print(table.to_string(index=False))
    return 0
