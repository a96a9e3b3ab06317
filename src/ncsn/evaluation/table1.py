"""`python -m ncsn table1`: Table 1 of the poster (EMA stability) - FID of the raw and the EMA weights of
each MNIST variant at the evaluated epochs, beside the training losses.

Paired differences: the raw, EMA and warm-up-EMA sets of one checkpoint are drawn from the same initial
and Langevin noise, sets of different epochs of one training run too, and every set of equal size and
sampling seed is bootstrapped with the same resample indices. So raw - EMA at an epoch, and the change of
one weights type between consecutive evaluated epochs, get their standard deviation from the per-resample
differences (ncsn.stats.paired_difference), in which the shared noise cancels. table1.csv holds, per
(variant, seed, epoch), `{fid,kid}_diff_{a}_{b}` = a - b with `..._sd`; table1.json holds the consecutive
epochs' changes under "consecutive_epochs". Evaluations without replicates (older files) leave the sd NaN
(null in the JSON).
"""

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
from ncsn.stats import Z_95, paired_difference

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
    "heldout_loss_ema_warmup",
    "heldout_loss_ema_warmup_se",
    "heldout_loss_diff_ema_warmup_se",
]


RUN = ["variant", "seed"]  # a training run: a variant trained from one seed
KEYS = [*RUN, "epoch"]
# Metric name in the columns -> (its value, its replicates) in an evaluation JSON.
PAIRED_METRICS = {"fid": ("fid", "fid_replicates"), "kid": ("kid_mean", "kid_replicates")}
# The weights pairs a - b of one checkpoint whose paired differences Table 1 keeps (when both were sampled).
WEIGHT_PAIRS = [("raw", "ema"), ("raw", "ema_warmup"), ("ema", "ema_warmup")]
NAN = float("nan")


def evaluation_sets(evaluations: list[dict]) -> dict[tuple, dict]:
    """Each evaluation JSON by (variant, training seed, epoch, weights)."""
    out = {}
    for ev in evaluations:
        info = ev["sample_info"]
        out[(info["variant"], info.get("training_seed"), int(info["epoch"]), info["weights"])] = ev
    return out


def paired_sets(a: dict, b: dict) -> bool:
    """Two evaluated sets whose replicates pair resample by resample: both keep their replicates, in equal
    numbers, for sets of the same size drawn with the same sampling seed and scored against the same
    reference (so resample i of one used the indices of resample i of the other, and image j of one was
    drawn with the noise of image j of the other)."""
    same = ("n_samples", "n_reference", "extractor_name", "n_bootstrap")
    return (
        all(len(ev.get(key) or []) >= 2 for ev in (a, b) for key in ("fid_replicates", "kid_replicates"))
        and len(a["fid_replicates"]) == len(b["fid_replicates"])
        and len(a["kid_replicates"]) == len(b["kid_replicates"])
        and all(a.get(key) == b.get(key) for key in same)
        and a["sample_info"].get("seed") == b["sample_info"].get("seed")
    )


def difference(a: dict | None, b: dict | None, metric: str) -> tuple[float, float]:
    """(a - b, its paired standard deviation) of one metric ("fid" / "kid") of two evaluated sets: NaN
    when a set is missing, the sd NaN when the two are not paired (`paired_sets`)."""
    if a is None or b is None:
        return NAN, NAN
    value, replicates = PAIRED_METRICS[metric]
    if not paired_sets(a, b):
        return float(a[value] - b[value]), NAN
    d = paired_difference(a[value], a[replicates], b[value], b[replicates])
    return d["value"], d["sd"]


def paired_columns(table: pd.DataFrame, sets: dict[tuple, dict]) -> pd.DataFrame:
    """`{fid,kid}_diff_{a}_{b}` (a - b) and `..._sd` (paired) per row, for every pair of WEIGHT_PAIRS whose
    weights were both sampled somewhere; raw - EMA always (NaN without them)."""
    sampled = {key[3] for key in sets}
    table = table.copy()
    for a, b in WEIGHT_PAIRS:
        if (a, b) != ("raw", "ema") and not {a, b} <= sampled:
            continue
        for metric in PAIRED_METRICS:
            found = [
                difference(sets.get((v, s, int(e), a)), sets.get((v, s, int(e), b)), metric)
                for v, s, e in zip(table["variant"], table["seed"], table["epoch"])
            ]
            column = f"{metric}_diff_{a}_{b}"
            table[column] = [d for d, _ in found]
            table[column + "_sd"] = [sd for _, sd in found]
    return table


def _json_number(x: float) -> float | None:
    return None if pd.isna(x) else float(x)


def consecutive_epochs(sets: dict[tuple, dict]) -> list[dict]:
    """Per (variant, seed, weights), the change of FID and KID from each evaluated epoch to the next
    (later - earlier) with its paired standard deviation (null when the sets are not paired)."""
    runs: dict[tuple, list[int]] = {}
    for variant, seed, epoch, weights in sets:
        runs.setdefault((variant, seed, weights), []).append(epoch)
    out = []
    order = sorted(runs, key=lambda run: (str(run[0]), -1 if run[1] is None else run[1], str(run[2])))
    for variant, seed, weights in order:
        epochs = runs[(variant, seed, weights)]
        epochs = sorted(epochs)
        for earlier, later in zip(epochs, epochs[1:]):
            a, b = sets[(variant, seed, later, weights)], sets[(variant, seed, earlier, weights)]
            row = {"variant": variant, "seed": seed, "weights": weights, "epoch_from": earlier, "epoch_to": later}
            for metric in PAIRED_METRICS:
                d, sd = difference(a, b, metric)
                row[f"{metric}_change"], row[f"{metric}_change_sd"] = _json_number(d), _json_number(sd)
            row["paired"] = paired_sets(a, b)
            out.append(row)
    return out


def build_table(
    evals: pd.DataFrame, metrics: dict[tuple[str, int], pd.DataFrame], sets: dict[tuple, dict] | None = None
) -> pd.DataFrame:
    """One row per (variant, seed, epoch): FID / KID of the raw and EMA weights with their bootstrap
    standard deviations (`fid_sd_raw`, ...), the data floor at the same sample size, the DSM losses, and
    (with `sets`, the evaluations by `evaluation_sets`) the paired differences of `paired_columns`."""
    values = [c for c in VALUES if c in evals]
    wide = evals.pivot_table(index=KEYS, columns="weights", values=values).reset_index()
    wide.columns = ["_".join(c for c in col if c) for col in wide.columns]
    floor = [c for c in FLOOR if c in evals]
    per_epoch = evals.groupby(KEYS)[["n_samples", *floor]].first().reset_index()
    losses = pd.concat([m.assign(variant=v, seed=seed) for (v, seed), m in metrics.items()], ignore_index=True)
    losses = losses[[*KEYS, *[c for c in LOSSES if c in losses]]]
    table = wide.merge(per_epoch, on=KEYS).merge(losses, on=KEYS, how="left")
    table["extractor"] = ",".join(sorted(evals["extractor"].unique()))
    if sets is not None:
        table = paired_columns(table, sets)
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
        if "fid_ema_warmup" in t:
            _errorbar(top, t["epoch"], t["fid_ema_warmup"], t.get("fid_sd_ema_warmup"), "^--", "EMA with warm-up")
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
            ("heldout_loss_ema_warmup", "^--", "held-out, EMA with warm-up"),
        ]:
            if key not in m:
                continue
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
    evaluations = load_evaluations(args.evaluations, args.samples)
    evals = evaluation_rows(evaluations)
    sets = evaluation_sets(evaluations)
    metrics = dict(_metrics_item(item) for item in args.metrics)
    table = build_table(evals, metrics, sets)
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
            # FID / KID changes between consecutive evaluated epochs of every training run, paired
            "consecutive_epochs": consecutive_epochs(sets),
            "poster": {
                "epochs": list(POSTER),
                "fid_raw": [v[0] for v in POSTER.values()],
                "fid_ema": [v[1] for v in POSTER.values()],
            },
        },
    )
    print(table.to_string(index=False))
    return 0
