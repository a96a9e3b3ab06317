"""MNIST stability (the poster's Table 1) as a report section: the DSM losses of every training run, the
poster's numbers beside ours, the paired differences and the figures, around the claims decided in
ncsn.report.sections.table1_claims."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout, plan
from ncsn.report.html import Section
from ncsn.report.sections.common import PIXELS, measured_with, read_csv, read_json, variants_of
from ncsn.report.sections.table1_claims import POSTER_TABLE1, convention_claims, fid_claims, loss_claims
from ncsn.verdicts import interval_text

# ---- losses ---------------------------------------------------------------------------------------------


def loss_table(results: Path, config: dict) -> pd.DataFrame:
    """The training metrics of every training run of every MNIST variant (with its seed), losses also per
    pixel."""
    frames = []
    for name in variants_of(config, "mnist"):
        for seed in plan.seeds(config, name):
            metrics = read_csv(results / layout.training_metrics(name, seed))
            metrics.insert(0, "seed", seed)
            metrics.insert(0, "variant", name)
            frames.append(metrics)
    table = pd.concat(frames, ignore_index=True)
    for column in ("train_loss", "heldout_loss_raw", "heldout_loss_ema", "heldout_loss_ema_warmup"):
        if column in table:
            table[column + "_per_dim"] = table[column] / PIXELS
    return table


# ---- tables, text, section ------------------------------------------------------------------------------


def _with_interval(value: float, sd: float) -> str:
    return "–" if pd.isna(value) else interval_text(value, sd)


def side_by_side(fid: pd.DataFrame) -> pd.DataFrame:
    """The poster's Table 1 rows beside ours (values with their 95% intervals; differences paired), one row
    per (variant, training seed, evaluated epoch)."""
    nan = float("nan")
    warmup = "kid_mean_ema_warmup" in fid
    rows = []
    for r in fid.sort_values([c for c in ("variant", "seed", "epoch") if c in fid]).to_dict("records"):
        poster = POSTER_TABLE1.get(int(r["epoch"]), (None, None, None, None))
        row = {
            "variant": r["variant"],
            "seed": r.get("seed"),
            "epoch": int(r["epoch"]),
            "poster FID (Cust)": poster[0],
            "FID raw [95%]": _with_interval(r["fid_raw"], r.get("fid_sd_raw", nan)),
            "poster FID (EMA)": poster[1],
            "FID EMA [95%]": _with_interval(r["fid_ema"], r.get("fid_sd_ema", nan)),
            "FID raw - EMA [95%, paired]": _with_interval(
                r.get("fid_diff_raw_ema", nan), r.get("fid_diff_raw_ema_sd", nan)
            ),
            "KID raw [95%]": _with_interval(r.get("kid_mean_raw", nan), r.get("kid_sd_raw", nan)),
            "KID EMA [95%]": _with_interval(r.get("kid_mean_ema", nan), r.get("kid_sd_ema", nan)),
            "KID raw - EMA [95%, paired]": _with_interval(
                r.get("kid_diff_raw_ema", nan), r.get("kid_diff_raw_ema_sd", nan)
            ),
        }
        if warmup:
            row["KID EMA warm-up [95%]"] = _with_interval(r["kid_mean_ema_warmup"], r.get("kid_sd_ema_warmup", nan))
            row["KID raw - EMA warm-up [95%, paired]"] = _with_interval(
                r.get("kid_diff_raw_ema_warmup", nan), r.get("kid_diff_raw_ema_warmup_sd", nan)
            )
        row.update(
            {
                "poster loss (Cust)": poster[2],
                "loss raw / pixel": r["heldout_loss_raw"] / PIXELS,
                "poster loss (EMA)": poster[3],
                "loss EMA / pixel": r["heldout_loss_ema"] / PIXELS,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _json_value(change: dict, key: str) -> float:
    return float("nan") if change.get(key) is None else change[key]


def consecutive_table(summary: dict) -> pd.DataFrame:
    """The paired FID / KID changes between consecutive evaluated epochs (table1.json), with intervals."""
    return pd.DataFrame(
        [
            {
                "variant": c["variant"],
                "seed": c["seed"],
                "weights": c["weights"],
                "epochs": f"{c['epoch_from']} -> {c['epoch_to']}",
                "KID change [95%]": _with_interval(_json_value(c, "kid_change"), _json_value(c, "kid_change_sd")),
                "FID change [95%]": _with_interval(_json_value(c, "fid_change"), _json_value(c, "fid_change_sd")),
                "paired": c["paired"],
            }
            for c in summary.get("consecutive_epochs") or []
        ]
    )


LOSS_COLUMNS = [
    "variant",
    "seed",
    "epoch",
    "step",
    "train_loss_per_dim",
    "heldout_loss_raw_per_dim",
    "heldout_loss_ema_per_dim",
    "heldout_loss_ema_warmup_per_dim",
    "seconds",
]

TRAINING_TEXT = (
    "<p>The custom U-Net is trained with denoising score matching over the geometric noise schedule; "
    "every configured epoch keeps the raw weights, their exponential moving average (EMA, the poster's "
    "'EMA' column; 'Cust' is the raw weights) and an EMA with warm-up (decay min(rate, (1+n)/(10+n)) at "
    "update n). Losses are the DSM loss on a fixed held-out batch of the test split, divided by the "
    "number of pixels, with 95% intervals over the batch; raw - EMA is paired (same images, same noise). "
    "Each training seed is a separate run; the claims judge every (seed, epoch) case.</p>"
)


def fid_text(summary: dict) -> str:
    sampler = summary["sampler"][0]
    return (
        f"<p>FID / KID: {measured_with(summary)}; samples by annealed Langevin with epsilon = "
        f"{sampler['step_lr']:g} (NCSN paper convention) and T = {sampler['n_steps_each']} steps per level. "
        "Intervals: FID and KID ± 1.96 bootstrap standard deviations over the sample set.</p>"
        "<p>The image claims are decided on KID: KID is unbiased, so at a few hundred samples it measures the "
        "distance, while FID at n = 100-200 on 128-D features is mostly small-sample bias (compare the data "
        "floor); FID stays in the tables as a description. Differences are paired: the raw, EMA and warm-up "
        "EMA sets of a checkpoint, and the sets of one run's epochs, share their initial and Langevin noise "
        "and their bootstrap resamples, so the interval of a difference comes from the per-resample "
        "differences, in which the shared noise cancels. Each case is judged against the poster's effect "
        "translated into our units (its ratio applied to our raw value), with the minimum detectable effect "
        "(80% power) and the power for the poster's effect beside it.</p>"
        "<p>Each training seed is a separate run (Table 1 has a row per seed and epoch). Across seeds a claim's "
        "verdict comes from the per-case rule over every (seed, epoch); the sign test over the seeds' "
        "differences is reported beside it, but it cannot reach p < 0.05 with fewer than 6 seeds (with 3 "
        "seeds the smallest p is 0.25), so the decision is the per-case rule.</p>"
    )


def fid_figures(results: Path) -> list[tuple[Path, str]]:
    return [
        (
            results / layout.experiment("table1", "samples"),
            "Samples of the raw (left) and the EMA weights (right) at each evaluated epoch.",
        ),
        (
            results / layout.experiment("table1", "png"),
            "Top: FID of the raw and the EMA weights with 95% bootstrap intervals; "
            "the grey band is the data floor (real test images scored the same "
            "way, same number of images). Bottom: held-out DSM losses of every "
            "epoch, per pixel.",
        ),
    ]


def stability_section(results: Path, config: dict) -> Section:
    losses = loss_table(results, config)
    tables = [("DSM loss per epoch, MNIST variants (per pixel)", losses[[c for c in LOSS_COLUMNS if c in losses]])]
    claims = loss_claims(losses, config)
    text, figures, fid = TRAINING_TEXT, [], None
    if "evaluation" in config:
        summary = read_json(results / layout.experiment("table1", "json"))
        fid = read_csv(results / layout.experiment("table1", "csv"))
        tables.insert(0, ("Table 1: the poster's numbers beside ours", side_by_side(fid)))
        changes = consecutive_table(summary)
        if not changes.empty:
            tables.insert(
                1, ("Paired changes between consecutive evaluated epochs (KID decides, FID describes)", changes)
            )
        figures = fid_figures(results)
        text += fid_text(summary)
        claims += fid_claims(fid, summary, config)
    claims += convention_claims(losses, fid, config)
    return Section("MNIST: stability and EMA (Table 1)", text, figures=figures, tables=tables, claims=claims)
