"""`python -m ncsn samplers`: sample quality against the number of score evaluations (NFE), one line
per sampler, and the question the poster's users ask first: which NFE reaches the quality of the
poster's sampler (annealed Langevin, 1000 evaluations) within its interval?

Decided on KID (unbiased at a few hundred samples), each budget against the yardstick as a paired
difference: every sampler starts from the same initial noise and every set is resampled with the same
bootstrap indices, so image i of one set corresponds to image i of the other."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ncsn.errors import NcsnError
from ncsn.evaluation.common import evaluation_rows, load_evaluations, measured_with, plt, save_figure, write_json
from ncsn.stats import Z_95, difference, minimum_detectable_effect

Replicates = dict[tuple[str, int], list[float]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", nargs="+", required=True, type=Path)
    parser.add_argument(
        "--baseline-nfe",
        type=int,
        default=1000,
        help="NFE of the study's own annealed Langevin sampler (L x T; the poster's: 10 x 100)",
    )
    parser.add_argument("--profile", default="")
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--png", required=True, type=Path)
    parser.add_argument("--json", required=True, type=Path)


def kid_difference(row, reference: pd.Series, replicates: Replicates) -> dict[str, float | bool]:
    """KID(row) - KID(reference): paired when both sets kept equally many bootstrap replicates, unpaired
    (their own standard deviations) otherwise; with its 95% interval and the excess the comparison would
    detect with 80% power."""
    mine = replicates.get((row.method, int(row.nfe)), [])
    theirs = replicates.get((reference["method"], int(reference["nfe"])), [])
    d = difference(row.kid_mean, mine, row.kid_sd, reference["kid_mean"], theirs, reference["kid_sd"])
    return {**d, "minimum_detectable_excess": minimum_detectable_effect(d["sd"])}


def first_within(rows: pd.DataFrame, reference: pd.Series, replicates: Replicates | None = None) -> dict[str, dict]:
    """Per method: the smallest NFE whose KID is not above the reference's beyond the noise of their
    difference (its 95% interval reaches 0), None if none is."""
    out = {}
    for method, group in rows.groupby("method", sort=False):
        group = group.sort_values("nfe")
        differences = [(r, kid_difference(r, reference, replicates or {})) for r in group.itertuples()]
        hit = [(r, d) for r, d in differences if d["low"] <= 0]
        first, d = hit[0] if hit else (None, None)
        out[method] = {
            "first_nfe_within": int(first.nfe) if first else None,
            "fid_at_first": float(first.fid) if first else None,
            "fid_sd_at_first": float(first.fid_sd) if first else None,
            "kid_at_first": float(first.kid_mean) if first else None,
            "kid_difference_at_first": d,
            "seconds_per_image_at_first": float(first.seconds_per_image) if first else None,
            "largest_nfe": int(group["nfe"].max()),
            "kid_differences": {int(r.nfe): diff for r, diff in differences},
        }
    return out


def figure(rows: pd.DataFrame, reference: pd.Series, path: Path) -> None:
    pyplot = plt()
    fig, (ax_fid, ax_time) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    for method, group in rows.groupby("method", sort=False):
        group = group.sort_values("nfe")
        ax_fid.errorbar(group["nfe"], group["fid"], yerr=Z_95 * group["fid_sd"], marker="o", capsize=3, label=method)
        ax_time.plot(group["nfe"], group["seconds_per_image"], marker="o", label=method)
    low, high = reference["fid"] - Z_95 * reference["fid_sd"], reference["fid"] + Z_95 * reference["fid_sd"]
    ax_fid.axhspan(low, high, color="tab:blue", alpha=0.12, label=f"ALD {int(reference['nfe'])} NFE, 95% interval")
    if "floor_fid" in rows and pd.notna(rows["floor_fid"].iloc[0]):
        ax_fid.axhline(rows["floor_fid"].iloc[0], color="grey", ls="--", lw=1, label="data floor")
    for ax in (ax_fid, ax_time):
        ax.set_xscale("log")
        ax.set_xlabel("score evaluations per image (NFE)")
    ax_fid.set_yscale("log")
    ax_fid.set_ylabel(f"FID ({rows['extractor'].iloc[0]} features, n={int(rows['n_samples'].iloc[0])})")
    ax_time.set_ylabel("wall seconds per image")
    ax_fid.legend(fontsize=8)
    ax_fid.set_title("Quality against cost (95% bootstrap intervals)")
    ax_time.set_title("Wall time on this machine")
    save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    evaluations = load_evaluations(args.evaluations)
    rows = evaluation_rows(evaluations).sort_values(["method", "nfe"])
    replicates = {
        (row.method, int(row.nfe)): [float(x) for x in ev.get("kid_replicates") or []]
        for row, ev in zip(evaluation_rows(evaluations).itertuples(), evaluations)
    }
    base = rows[(rows["method"] == "ald") & (rows["nfe"] == args.baseline_nfe)]
    if base.empty:
        raise NcsnError(
            f"the samplers experiment needs the study's own sampler as its yardstick: add method 'ald' "
            f"and NFE {args.baseline_nfe} (n_levels x sampler.n_steps_each) to samplers.methods / "
            f"samplers.nfe."
        )
    reference = base.iloc[0]
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.csv, index=False)
    figure(rows, reference, args.png)
    summary = {
        "profile": args.profile,
        "measured_with": measured_with(rows),
        "variant": reference["variant"],
        "epoch": int(reference["epoch"]),
        "weights": reference["weights"],
        "baseline": {
            "method": "ald",
            "nfe": args.baseline_nfe,
            "fid": float(reference["fid"]),
            "fid_sd": float(reference["fid_sd"]),
            "kid": float(reference["kid_mean"]),
            "kid_sd": float(reference["kid_sd"]),
            "seconds_per_image": float(reference["seconds_per_image"]),
        },
        "methods": first_within(rows, reference, replicates),
        "floor": {k: float(reference[k]) for k in ("floor_fid", "floor_fid_sd") if k in reference},
    }
    write_json(args.json, summary)
    for method, result in summary["methods"].items():
        print(
            f"{method}: first within the interval of ALD at NFE {args.baseline_nfe}: NFE {result['first_nfe_within']}"
        )
    return 0
