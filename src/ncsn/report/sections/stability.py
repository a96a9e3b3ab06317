"""MNIST stability (the poster's Table 1): DSM losses and FID of raw vs EMA weights per epoch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout, plan
from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import PIXELS, measured_with, read_csv, read_json, variants_of
from ncsn.stats import Z_95
from ncsn.verdicts import (
    RULES,
    by_count,
    compare,
    excess_spread,
    gate,
    interval_text,
    paired_lower,
    significant_rises,
    stability_verdict,
)

# The poster's Table 1 (custom U-Net on MNIST): epoch -> (FID raw, FID EMA, loss raw, loss EMA).
POSTER_TABLE1 = {
    1: (None, None, 0.4502, 0.3068),
    5: (2.9746, 0.6112, 0.2095, 0.1288),
    10: (11.3181, 0.3198, 0.1609, 0.1058),
    15: (0.9717, 0.2249, 0.1471, 0.0971),
}
POSTER_FID_RAW = [v[0] for v in POSTER_TABLE1.values() if v[0] is not None]
POSTER_FID_EMA = [v[1] for v in POSTER_TABLE1.values() if v[1] is not None]


def loss_table(results: Path, config: dict) -> pd.DataFrame:
    frames = []
    for name in variants_of(config, "mnist"):
        metrics = read_csv(results / layout.training_metrics(name, plan.first_seed(config, name)))
        metrics.insert(0, "variant", name)
        frames.append(metrics)
    table = pd.concat(frames, ignore_index=True)
    for column in ("train_loss", "heldout_loss_raw", "heldout_loss_ema"):
        table[column + "_per_dim"] = table[column] / PIXELS
    return table


POSTER_FID_EPOCHS = [e for e, v in POSTER_TABLE1.items() if v[0] is not None]


def loss_claims(table: pd.DataFrame, config: dict) -> list[Claim]:
    claims = []
    for name, rows in table.groupby("variant", sort=False):
        has_se = "heldout_loss_diff_se" in rows and rows["heldout_loss_diff_se"].notna().all()
        diff_se = rows["heldout_loss_diff_se"] if has_se else pd.Series(float("nan"), index=rows.index)
        lower = [paired_lower(r - e, se) for r, e, se in zip(rows.heldout_loss_raw, rows.heldout_loss_ema, diff_se)]
        rows = rows.assign(ema_lower=lower)
        judged = rows[rows.epoch.isin(POSTER_TABLE1)]
        per_epoch = "; ".join(
            f"epoch {int(r.epoch)}: EMA {r.heldout_loss_ema_per_dim:.4f} vs raw {r.heldout_loss_raw_per_dim:.4f}"
            + (
                f" (difference {(r.heldout_loss_raw - r.heldout_loss_ema) / PIXELS:+.4f} ± "
                f"{Z_95 * r.heldout_loss_diff_se / PIXELS:.4f})"
                if has_se
                else ""
            )
            for r in judged.itertuples()
        )
        claims.append(
            Claim(
                claim=f"EMA weights have a lower DSM loss than the raw weights at every epoch ({name})",
                poster="Loss (EMA) < Loss (Cust) at epochs 1, 5, 10, 15 (0.0971 vs 0.1471 at epoch 15)",
                measured=(
                    f"held-out loss per pixel, {per_epoch}. EMA lower beyond the noise at "
                    f"{int(judged.ema_lower.sum())}/{len(judged)} of the poster's epochs, "
                    f"{int(rows.ema_lower.sum())}/{len(rows)} of all epochs"
                ),
                verdict=gate(config, by_count(int(judged.ema_lower.sum()), len(judged))),
                note=(
                    "Rule: " + RULES["loss"] + ". The poster does not say how its loss is normalised; ours is the "
                    "NCSN-weighted DSM loss averaged over the 784 pixels on a fixed held-out batch of the test split."
                ),
            )
        )
    return claims


def _floor_text(t: pd.DataFrame) -> str:
    if "floor_fid" not in t or t["floor_fid"].isna().all():
        return "no data floor measured"
    row = t.iloc[0]
    return (
        f"data floor (real test images, same n) FID {interval_text(row.floor_fid, row.floor_fid_sd)}, "
        f"KID {interval_text(row.floor_kid, row.floor_kid_sd)}"
    )


def _with_fid_spread(t: pd.DataFrame) -> pd.DataFrame:
    """One variant's rows by epoch, with the FID standard deviations (NaN when not measured) and whether
    EMA's FID is lower than the raw one's beyond the noise."""
    t = t.sort_values("epoch")
    sd_raw = t["fid_sd_raw"] if "fid_sd_raw" in t else pd.Series(float("nan"), index=t.index)
    sd_ema = t["fid_sd_ema"] if "fid_sd_ema" in t else pd.Series(float("nan"), index=t.index)
    t = t.assign(sd_raw=sd_raw, sd_ema=sd_ema)
    t["ema_lower"] = [compare(e, se, r, sr) == -1 for e, se, r, sr in zip(t.fid_ema, t.sd_ema, t.fid_raw, t.sd_raw)]
    return t


def ema_fid_claim(name: str, t: pd.DataFrame, config: dict) -> Claim:
    judged = t[t.epoch.isin(POSTER_FID_EPOCHS)]
    pairs = "; ".join(
        f"epoch {int(r.epoch)}: raw {interval_text(r.fid_raw, r.sd_raw)}, EMA {interval_text(r.fid_ema, r.sd_ema)}"
        for r in t.itertuples()
    )
    return Claim(
        claim=f"EMA lowers the FID at every evaluated epoch ({name})",
        poster="FID (EMA) < FID (Cust) at epochs 5, 10, 15 (0.61 < 2.97, 0.32 < 11.32, 0.22 < 0.97)",
        measured=(
            f"EMA lower beyond the noise at {int(judged.ema_lower.sum())}/{len(judged)} of the poster's "
            f"epochs {judged.epoch.tolist()} and {int(t.ema_lower.sum())}/{len(t)} evaluated epochs. {pairs}"
        ),
        verdict=gate(config, by_count(int(judged.ema_lower.sum()), len(judged))) if len(judged) else "not comparable",
        note="Rule: "
        + RULES["ema_fid"]
        + "."
        + ("" if len(judged) else " None of the poster's epochs 5, 10, 15 was evaluated."),
    )


def _rises_text(found: list[int], epochs: list) -> str:
    return ", ".join(f"{epochs[i - 1]}->{epochs[i]}" for i in found) or "none"


def spike_claim(name: str, late: pd.DataFrame, config: dict) -> Claim:
    """The raw-vs-EMA spike claim over the epochs from the poster's first FID epoch on (at least two)."""
    raw_spikes = significant_rises(late.fid_raw.tolist(), late.sd_raw.tolist())
    ema_spikes = significant_rises(late.fid_ema.tolist(), late.sd_ema.tolist())
    epochs = late.epoch.tolist()
    return Claim(
        claim=f"The raw weights' FID spikes during training; the EMA weights' does not ({name})",
        poster="raw FID 2.97 -> 11.32 -> 0.97 at epochs 5, 10, 15 (the epoch-10 spike); EMA 0.61 -> 0.32 -> 0.22",
        measured=(
            f"rises beyond the noise over epochs {epochs}: raw {_rises_text(raw_spikes, epochs)}, EMA "
            f"{_rises_text(ema_spikes, epochs)}; epoch-to-epoch spread beyond the sampling noise: raw "
            f"{excess_spread(late.fid_raw.tolist(), late.sd_raw.tolist()):.3g}, EMA "
            f"{excess_spread(late.fid_ema.tolist(), late.sd_ema.tolist()):.3g}"
        ),
        verdict=gate(config, stability_verdict(len(raw_spikes), len(ema_spikes))),
        note=(
            "Rule: " + RULES["stability"] + ". One training run, evaluated at more epochs than the "
            "poster's: the claim is about how the raw weights move between snapshots of one run."
        ),
    )


def final_fid_claim(name: str, t: pd.DataFrame, how: str) -> Claim:
    last = t.iloc[-1]
    return Claim(
        claim=f"With EMA the FID drops to 0.22 ({name})",
        poster="FID (EMA) 0.2249 at epoch 15",
        measured=f"FID (EMA) {interval_text(last.fid_ema, last.sd_ema)} at epoch {int(last.epoch)}; {_floor_text(t)}",
        verdict="not comparable",
        note=(
            "The poster states neither its feature extractor nor its number of samples, so its absolute FID "
            f"cannot be set beside ours ({how}); the data floor is what real images score here."
        ),
    )


def fid_claims(table: pd.DataFrame, summary: dict, config: dict) -> list[Claim]:
    claims = []
    how = measured_with(summary)
    for name, rows in table.groupby("variant", sort=False):
        t = _with_fid_spread(rows)
        claims.append(ema_fid_claim(name, t, config))
        late = t[t.epoch >= min(POSTER_FID_EPOCHS)]
        if len(late) > 1:
            claims.append(spike_claim(name, late, config))
        claims.append(final_fid_claim(name, t, how))
    return claims


def _with_interval(value: float, sd: float) -> str:
    return "–" if pd.isna(value) else interval_text(value, sd)


def side_by_side(fid: pd.DataFrame) -> pd.DataFrame:
    """The poster's Table 1 rows beside ours (values with their 95% intervals), one row per evaluated epoch."""
    rows = []
    for r in fid.itertuples():
        poster = POSTER_TABLE1.get(int(r.epoch), (None, None, None, None))
        rows.append(
            {
                "variant": r.variant,
                "epoch": int(r.epoch),
                "poster FID (Cust)": poster[0],
                "FID raw [95%]": _with_interval(r.fid_raw, getattr(r, "fid_sd_raw", float("nan"))),
                "poster FID (EMA)": poster[1],
                "FID EMA [95%]": _with_interval(r.fid_ema, getattr(r, "fid_sd_ema", float("nan"))),
                "KID raw [95%]": _with_interval(r.kid_mean_raw, getattr(r, "kid_sd_raw", float("nan"))),
                "KID EMA [95%]": _with_interval(r.kid_mean_ema, getattr(r, "kid_sd_ema", float("nan"))),
                "poster loss (Cust)": poster[2],
                "loss raw / pixel": r.heldout_loss_raw / PIXELS,
                "poster loss (EMA)": poster[3],
                "loss EMA / pixel": r.heldout_loss_ema / PIXELS,
            }
        )
    return pd.DataFrame(rows)


LOSS_COLUMNS = [
    "variant",
    "epoch",
    "step",
    "train_loss_per_dim",
    "heldout_loss_raw_per_dim",
    "heldout_loss_ema_per_dim",
    "seconds",
]

TRAINING_TEXT = (
    "<p>The custom U-Net is trained with denoising score matching over the geometric noise schedule; "
    "every configured epoch keeps the raw weights and their exponential moving average (EMA, the poster's "
    "'EMA' column; 'Cust' is the raw weights). Losses are the DSM loss on a fixed held-out batch of the "
    "test split, divided by the number of pixels, with 95% intervals over the batch.</p>"
)


def fid_text(summary: dict) -> str:
    sampler = summary["sampler"][0]
    return (
        f"<p>FID / KID: {measured_with(summary)}; samples by annealed Langevin with epsilon = "
        f"{sampler['step_lr']:g} (NCSN paper convention) and T = {sampler['n_steps_each']} steps per level. "
        "Intervals: FID and KID ± 1.96 bootstrap standard deviations over the sample set.</p>"
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
    text, figures = TRAINING_TEXT, []
    if "evaluation" in config:
        summary = read_json(results / layout.experiment("table1", "json"))
        fid = read_csv(results / layout.experiment("table1", "csv"))
        tables.insert(0, ("Table 1: the poster's numbers beside ours", side_by_side(fid)))
        figures = fid_figures(results)
        text += fid_text(summary)
        claims += fid_claims(fid, summary, config)
    return Section("MNIST: stability and EMA (Table 1)", text, figures=figures, tables=tables, claims=claims)
