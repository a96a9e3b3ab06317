"""`python -m ncsn figure2`: Figure 2 of the poster - Fashion-MNIST samples of the custom U-Net, the reference
network and its bigger / dropout variants at their snapshots (epochs or optimizer steps), with the class
histogram of the samples (classifier predictions), its entropy and the number of classes holding at least 5%
of them; the top-class share (95% Wilson interval) against iterations, one line per network; and, with
--setting-evaluations, the reference network's last snapshot drawn at other sampler settings (epsilon, T)
beside the poster's sampler (the poster's "other parameters did not improve stability")."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pandas as pd
import torch

from ncsn import layout
from ncsn.errors import NcsnError
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
from ncsn.stats import wilson_interval
from ncsn.verdicts import COLLAPSE_SHARE, POSTER_FASHION_STEPS

POSTER = (
    "collapse onto one class (custom U-Net: 'shirt'); reference net collapses after briefly learning other "
    "classes (shown at 30 000 and 40 000 iterations); bigger + dropout stays stable longer (40 000); other "
    "sampler parameters (sigma, T, epsilon) did not improve stability"
)
# The class measures of a set that the JSON keeps (per snapshot, and per setting of the settings study).
MEASURES = ("top_share", "top_share_low", "top_share_high", "class_entropy", "fid")


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
        "--setting-evaluations",
        nargs="*",
        type=Path,
        default=[],
        help="the reference network's last snapshot at other sampler settings (fashion.other_settings)",
    )
    parser.add_argument(
        "--setting-samples",
        nargs="*",
        type=Path,
        default=None,
        help="the sample set of each setting evaluation, in the same order",
    )
    parser.add_argument(
        "--collapse-share",
        type=float,
        default=COLLAPSE_SHARE,
        help="call a sample set collapsed when one class holds at least this share",
    )
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--png", required=True, type=Path)
    parser.add_argument("--shares-png", required=True, type=Path, help="top-class share against iterations")
    parser.add_argument("--json", required=True, type=Path)


def _point(info: dict) -> str:
    """The checkpoint's point (epoch_<e> or step_<n>): the name of the checkpoint file that drew the set,
    else the completed epochs it records."""
    stem = Path(str(info.get("checkpoint", ""))).stem
    return stem if re.fullmatch(layout.POINT_PATTERN, stem) else layout.epoch_point(info["epoch"])


def class_table(raw: list[dict], collapse_share: float) -> pd.DataFrame:
    """One row per evaluated set: its evaluation columns, its checkpoint's point and optimizer steps
    (`point`, `step`), the share of each class (`share_<class>`) and whether one class holds at least
    `collapse_share` of the samples."""
    evals = evaluation_rows(raw)
    evals.insert(3, "point", [_point(ev["sample_info"]) for ev in raw])
    evals["step"] = pd.to_numeric(evals["step"], errors="coerce")
    hist = torch.tensor([ev["coverage"]["histogram"] for ev in raw])
    for i, name in enumerate(raw[0]["classes"]):
        evals[f"share_{name}"] = hist[:, i].numpy()
    evals["collapsed"] = evals["top_share"] >= collapse_share
    return evals.sort_values(["variant", "step", "epoch"], na_position="last").reset_index(drop=True)


def _histogram(ax, row: pd.Series, classes: list[str], collapse_share: float) -> None:
    """The class shares of one set with their Wilson 95% intervals, the collapse and coverage lines."""
    shares = [row[f"share_{c}"] for c in classes]
    n = int(row["n_samples"])
    bounds = [wilson_interval(int(round(share * n)), n) for share in shares]
    errors = [
        [share - lo for share, (lo, _) in zip(shares, bounds)],
        [hi - share for share, (_, hi) in zip(shares, bounds)],
    ]
    ax.bar(range(len(classes)), shares, yerr=errors, capsize=2, error_kw={"lw": 0.8})
    ax.axhline(collapse_share, color="firebrick", lw=0.8, ls=":")
    ax.axhline(0.05, color="gray", lw=0.8, ls="--")
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_title(f"entropy {row['class_entropy']:.2f} nats, {row['classes_covered']} classes >= 5%", fontsize=8)


def _title(row: pd.Series, setting: bool) -> str:
    steps = "" if pd.isna(row["step"]) else f", {int(row['step'])} steps"
    sampler = f", eps {row['step_lr']:g} T {int(row['n_steps_each'])}" if setting else ""
    return f"{row['variant']} {layout.point_label(row['point'])}{steps} ({row['weights']}){sampler}"


def plot(evals: pd.DataFrame, classes: list[str], path: Path, collapse_share: float = COLLAPSE_SHARE) -> None:
    """Per set (rows; the other sampler settings last): its first samples and its class histogram."""
    n = len(evals)
    fig, axes = plt().subplots(n, 2, figsize=(9, 2.0 * n), squeeze=False, gridspec_kw={"width_ratios": [1.2, 1]})
    for i, (_, row) in enumerate(evals.iterrows()):
        images, _ = load_samples(row["samples"])
        axes[i][0].imshow(image_grid_array(images, 32, 8), cmap="gray", vmin=0, vmax=1)
        axes[i][0].axis("off")
        axes[i][0].set_title(_title(row, bool(row.get("other_setting", False))), fontsize=8)
        _histogram(axes[i][1], row, classes, collapse_share)
    save_figure(fig, path)


def plot_shares(evals: pd.DataFrame, classes: list[str], path: Path, collapse_share: float = COLLAPSE_SHARE) -> None:
    """The top-class share (95% Wilson interval) against optimizer steps, one line per network, each point
    labelled with its top class; the collapse threshold and the poster's iterations as reference lines."""
    fig, ax = plt().subplots(figsize=(8, 4.2))
    known = evals.dropna(subset=["step"])
    for variant, t in known.groupby("variant", sort=False):
        errors = [t["top_share"] - t["top_share_low"], t["top_share_high"] - t["top_share"]]
        line = ax.errorbar(t["step"], t["top_share"], yerr=errors, marker="o", capsize=3, label=variant)
        for step, share, top in zip(t["step"], t["top_share"], t["top_class"]):
            ax.annotate(
                classes[int(top)],
                (step, share),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=6,
                color=line[0].get_color(),
            )
    ax.axhline(collapse_share, color="firebrick", lw=0.8, ls=":", label=f"collapse threshold ({collapse_share:.0%})")
    ax.axhline(1 / max(len(classes), 1), color="gray", lw=0.8, ls="--", label="uniform over the classes")
    steps = known["step"].tolist()
    if steps and max(steps) / max(min(steps), 1) > 20:
        ax.set_xscale("log")
    # The poster's iterations as lines where the snapshots come near them; named in the title where not (a
    # line far beyond the snapshots would squash them into a corner).
    shown = [p for p in POSTER_FASHION_STEPS if steps and p <= 2 * max(steps)]
    for poster in shown:
        ax.axvline(poster, color="black", lw=0.6, ls="-.")
    if shown:
        label = f"poster: {' / '.join(map(str, shown))} "
        ax.text(shown[0], 0.02, label, fontsize=7, ha="right", transform=ax.get_xaxis_transform())
    beyond = [p for p in POSTER_FASHION_STEPS if p not in shown]
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("iterations (optimizer steps)")
    ax.set_ylabel("top-class share")
    missing = len(evals) - len(known)
    notes = [f"{missing} set(s) without a recorded step count left out"] if missing else []
    notes += [f"the poster's {', '.join(map(str, beyond))} iterations lie beyond these snapshots"] if beyond else []
    note = f"\n({'; '.join(notes)})" if notes else ""
    ax.set_title(f"Share of the most frequent class per snapshot, 95% Wilson intervals{note}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    save_figure(fig, path)


def _number(value):
    """A JSON number: int where whole, None where missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value) if float(value).is_integer() else round(float(value), 4)


def summary(evals: pd.DataFrame, classes: list[str]) -> dict[str, dict]:
    """Per variant: the class measures at each snapshot (point, its epochs and optimizer steps) and the first
    collapsed snapshot (None if none)."""
    per = {}
    for variant, t in evals.groupby("variant"):
        collapsed = t[t["collapsed"]]
        first = collapsed.iloc[0] if len(collapsed) else None
        per[variant] = {
            "points": t["point"].tolist(),
            "epochs": t["epoch"].tolist(),
            "steps": [_number(s) for s in t["step"]],
            "classes_covered": t["classes_covered"].tolist(),
            "entropy": t["class_entropy"].round(4).tolist(),
            "top_class": [classes[c] for c in t["top_class"]],
            "top_share": t["top_share"].round(4).tolist(),
            "fid": t["fid"].round(4).tolist(),
            "top_share_low": t["top_share_low"].round(4).tolist(),
            "top_share_high": t["top_share_high"].round(4).tolist(),
            "n_samples": t["n_samples"].astype(int).tolist(),
            "first_collapsed_point": None if first is None else first["point"],
            "first_collapsed_step": None if first is None else _number(first["step"]),
        }
    return per


def _measures(row: pd.Series, classes: list[str]) -> dict:
    return {
        "step_lr": float(row["step_lr"]),
        "n_steps_each": int(row["n_steps_each"]),
        "top_class": classes[int(row["top_class"])],
        **{key: round(float(row[key]), 4) for key in MEASURES},
        "classes_covered": int(row["classes_covered"]),
        "n_samples": int(row["n_samples"]),
    }


def settings_summary(evals: pd.DataFrame, settings: pd.DataFrame, classes: list[str]) -> dict | None:
    """The other sampler settings of one snapshot beside the poster's sampler's set of that snapshot (the
    set of `evals` with the same variant, seed and point)."""
    if settings.empty:
        return None
    runs = settings[["variant", "seed", "point"]].drop_duplicates()
    if len(runs) != 1:
        raise NcsnError(f"the setting evaluations come from {len(runs)} snapshots; pass those of one snapshot")
    run = runs.iloc[0]
    same = (evals["variant"] == run["variant"]) & (evals["point"] == run["point"])
    baseline = evals[same & (evals["seed"].fillna(-1) == (-1 if pd.isna(run["seed"]) else run["seed"]))]
    if len(baseline) != 1:
        raise NcsnError(
            f"no single evaluation at the poster's sampler of {run['variant']} seed {run['seed']} "
            f"{run['point']} among --evaluations, beside which the other settings are judged"
        )
    return {
        "variant": run["variant"],
        "seed": _number(run["seed"]),
        "point": run["point"],
        "step": _number(baseline.iloc[0]["step"]),
        "baseline": _measures(baseline.iloc[0], classes),
        "settings": [_measures(row, classes) for _, row in settings.iterrows()],
    }


def run(args: argparse.Namespace) -> int:
    raw = load_evaluations(args.evaluations, args.samples)
    classes = raw[0]["classes"]
    evals = class_table(raw, args.collapse_share)
    settings = pd.DataFrame()
    if args.setting_evaluations:
        settings = class_table(load_evaluations(args.setting_evaluations, args.setting_samples), args.collapse_share)
        settings = settings.sort_values(["step_lr", "n_steps_each"]).reset_index(drop=True)
    table = pd.concat([evals.assign(other_setting=False), settings.assign(other_setting=True)], ignore_index=True)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    plot(table, classes, args.png, args.collapse_share)
    plot_shares(evals, classes, args.shares_png, args.collapse_share)
    write_json(
        args.json,
        {
            "profile": args.profile,
            "measured_with": measured_with(table),
            "classifier_test_accuracy": raw[0]["classifier_test_accuracy"],
            "classes": classes,
            "collapse_rule": f"one class holds >= {args.collapse_share:.0%} of the samples",
            "variants": summary(evals, classes),
            "other_settings": settings_summary(evals, settings, classes),
            "poster": POSTER,
        },
    )
    print(table[["variant", "point", "step", "step_lr", "n_steps_each", "classes_covered", "top_share"]].to_string())
    return 0
