"""MNIST stability (the poster's Table 1): DSM losses and FID / KID of raw vs EMA weights per epoch.

The image claims are decided on KID: it is unbiased, so at the few hundred samples of a CPU profile its
interval is about the distance, while FID at n = 100-200 on 128-D features is mostly the small-sample
bias (the data floor shows how much). FID stays in the tables as a description. Every difference that
decides is paired: raw, EMA and warm-up-EMA sets of one checkpoint, and the sets of consecutive epochs of
one training run, share their sampling noise and their bootstrap resamples (ncsn.evaluation.table1). Each
case (training seed x epoch) is judged by ncsn.verdicts.decide_effect against the poster's effect
translated into our units, and a claim's verdict comes from its cases (effect_verdict).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ncsn import layout, plan
from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import PIXELS, measured_with, read_csv, read_json, variants_of
from ncsn.stats import Z_95, minimum_detectable_effect, n_for_power, power, sign_test
from ncsn.verdicts import (
    ABSENT,
    RULES,
    STRENGTH,
    best_verdict,
    by_count,
    compare,
    decide_effect,
    effect_verdict,
    excess_spread,
    gate,
    interval_text,
    ordering_verdict,
    paired_lower,
    significant_rises,
    spike_outcome,
    stability_verdict,
    strongest,
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
POSTER_FID_EPOCHS = [e for e, v in POSTER_TABLE1.items() if v[0] is not None]
# The poster's raw-FID spike, epoch 5 -> 10: 2.97 -> 11.32, x3.8.
SPIKE_RATIO = POSTER_TABLE1[10][0] / POSTER_TABLE1[5][0]
SPIKE_POSTER = "raw FID 2.97 -> 11.32 -> 0.97 at epochs 5, 10, 15 (the epoch-10 spike); EMA 0.61 -> 0.32 -> 0.22"
# The epochs at which the poster's EMA is already below the raw weights (losses; FID from epoch 5).
CONVENTION_EPOCHS = (1, 5)
CONVENTIONS = {
    "ema": ("EMA", "heldout_loss_ema", "heldout_loss_diff_se"),
    "ema_warmup": ("EMA with warm-up", "heldout_loss_ema_warmup", "heldout_loss_diff_ema_warmup_se"),
}

KID_NOTE = (
    "Decided on KID, not FID: KID is unbiased, while FID at a few hundred samples on 128-D features is "
    "mostly small-sample bias (compare the data floor); FID is shown as a description. "
)


def seeds_note(n_seeds: int) -> str:
    """How the claims decide across training seeds, and what the sign test beside them can say."""
    smallest = min(1.0, 2 * 0.5**n_seeds)
    return (
        "Across training seeds the verdict comes from the per-case rule over every (seed, epoch); the sign "
        "test over the seeds' differences is reported beside it"
        + (
            f", but with {n_seeds} seeds no outcome can reach p < 0.05 (the smallest p is {smallest:.2g}). "
            if smallest >= 0.05
            else ". "
        )
    )


def _num(x) -> float | None:
    """A JSON number (None for NaN / missing)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _fmt(x, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def effect_case(value: float, sd: float, poster_effect: float, paired: bool, n: int | None = None, **where) -> dict:
    """One case of a directional claim (signed so that > 0 is the claim): its outcome by `decide_effect`,
    with the 95% interval, the minimum detectable effect at this noise and the power for the poster's
    effect, as JSON values (`where`: the seed, epoch(s) and weights it was measured at). With the set size
    `n` of the sample sets behind it, a case below 80% power also says which set size would reach 80%
    (`n_for_80_power`, sd taken to shrink as 1/sqrt(n)) and what that costs against this one."""
    known = math.isfinite(sd) and sd > 0
    extra = {}
    if known and n and poster_effect > 0 and power(poster_effect, sd) < 0.8:
        needed = n_for_power(poster_effect, sd, n)
        extra = {"n": int(n), "n_for_80_power": int(needed), "sampling_cost_factor": _num(needed / n)}
    return {
        **extra,
        **where,
        "difference": _num(value),
        "sd": _num(sd),
        "interval": [_num(value - Z_95 * sd), _num(value + Z_95 * sd)],
        "paired": bool(paired),
        "poster_effect": _num(poster_effect),
        "minimum_detectable_effect": _num(minimum_detectable_effect(sd)) if known else None,
        "power": _num(power(poster_effect, sd)) if known else None,
        "outcome": decide_effect(value, sd, poster_effect),
    }


def _set_size(row: dict) -> int | None:
    """The images per sample set of a Table 1 row (None when the table does not say)."""
    n = row.get("n_samples")
    return int(n) if n is not None and pd.notna(n) else None


def case_text(case: dict, scale: float = 1.0) -> str:
    """'seed 0, epoch 5: 0.012 [0.004, 0.02] vs the poster's 0.01: present (MDE 0.007, power 0.93)'."""
    where = []
    if case.get("seed") is not None:
        where.append(f"seed {case['seed']}")
    if "epoch_from" in case:
        where.append(f"{case['epoch_from']}->{case['epoch_to']}")
    elif "epoch" in case:
        where.append(f"epoch {case['epoch']}")

    def s(x):
        return None if x is None else x * scale

    low, high = case["interval"]
    needed = (
        f"; 80% power at n ~ {case['n_for_80_power']}, {case['sampling_cost_factor']:.1f}x this set's sampling"
        if "n_for_80_power" in case
        else ""
    )
    return (
        f"{', '.join(where)}: {_fmt(s(case['difference']))} [{_fmt(s(low))}, {_fmt(s(high))}]"
        f"{'' if case['paired'] else ' (unpaired)'} vs the poster's {_fmt(s(case['poster_effect']))}: "
        f"{case['outcome']} (MDE {_fmt(s(case['minimum_detectable_effect']), 2)}, power "
        f"{_fmt(case['power'], 2)}{needed})"
    )


def evidence(metric: str, cases: list[dict], headline: dict, **extra) -> dict:
    """A claim's evidence: the headline case's difference, interval, poster's effect, MDE and power, every
    case, and what else the claim measured."""
    return {
        "metric": metric,
        "difference": headline["difference"],
        "interval": headline["interval"],
        "paired": all(c["paired"] for c in cases),
        "poster_effect": headline["poster_effect"],
        "minimum_detectable_effect": headline["minimum_detectable_effect"],
        "power": headline["power"],
        "headline": {k: headline[k] for k in ("seed", "epoch", "epoch_from", "epoch_to", "weights") if k in headline},
        "cases": cases,
        **extra,
    }


def headline_case(cases: list[dict]) -> dict:
    """The case a claim's evidence leads with: the first training seed's last case."""
    return [c for c in cases if c.get("seed") == cases[0].get("seed")][-1]


def sign_tests(cases: list[dict], key: str = "epoch") -> list[dict]:
    """Per value of `key` (an epoch) measured in at least 2 training seeds: the sign test over the seeds'
    differences (ncsn.stats.sign_test)."""
    out = []
    for value in dict.fromkeys(c.get(key) for c in cases):
        differences = [c["difference"] for c in cases if c.get(key) == value and c["difference"] is not None]
        seeds = {c.get("seed") for c in cases if c.get(key) == value}
        if len(seeds) >= 2:
            out.append({key: value, **sign_test(differences)})
    return out


def sign_text(tests: list[dict], key: str = "epoch") -> str:
    if not tests:
        return ""
    return (
        " Sign test over the seeds: "
        + "; ".join(f"{key} {t[key]}: {t['positive']}/{t['n']} positive, p = {t['p_value']:.2g}" for t in tests)
        + "."
    )


def runs_of(frame: pd.DataFrame) -> list[tuple[int | None, pd.DataFrame]]:
    """(training seed, its rows) of a table; one run of unknown seed when the table has no seeds."""
    if "seed" not in frame or frame["seed"].isna().all():
        return [(None, frame)]
    return [(int(s), frame[frame["seed"] == s]) for s in pd.unique(frame["seed"].dropna())]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(float("nan"), index=frame.index)


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


def _loss_difference(r: pd.Series, loss: str, diff_se: str) -> tuple[float, float, bool]:
    """(raw - EMA loss, its standard error, paired?): the paired SE where recorded, else the unpaired one."""
    value = r["heldout_loss_raw"] - r[loss]
    se = r.get(diff_se, float("nan"))
    if pd.notna(se):
        return value, se, True
    return value, math.hypot(r.get("heldout_loss_raw_se", float("nan")), r.get(loss + "_se", float("nan"))), False


def loss_cases(rows: pd.DataFrame, loss: str, diff_se: str, epochs) -> list[dict]:
    """Per (seed, epoch of `epochs`): raw - EMA of the held-out loss per pixel against the poster's relative
    reduction at that epoch applied to our raw loss."""
    cases = []
    for seed, run in runs_of(rows):
        for _, r in run[run.epoch.isin(epochs)].sort_values("epoch").iterrows():
            _, _, poster_raw, poster_ema = POSTER_TABLE1[int(r.epoch)]
            value, se, paired = _loss_difference(r, loss, diff_se)
            effect = r["heldout_loss_raw"] * (1 - poster_ema / poster_raw)
            if not effect > 0:
                continue
            where = {"seed": seed, "epoch": int(r.epoch)}
            cases.append(effect_case(value / PIXELS, se / PIXELS, effect / PIXELS, paired, **where))
    return cases


def loss_claims(table: pd.DataFrame, config: dict) -> list[Claim]:
    claims = []
    for name, rows in table.groupby("variant", sort=False):
        cases = loss_cases(rows, "heldout_loss_ema", "heldout_loss_diff_se", list(POSTER_TABLE1))
        everywhere = [
            paired_lower(r - e, se)
            for r, e, se in zip(rows.heldout_loss_raw, rows.heldout_loss_ema, _column(rows, "heldout_loss_diff_se"))
        ]
        lower = sum(c["outcome"] not in (ABSENT, "inconclusive") for c in cases)
        seeds = len(runs_of(rows))
        tests = sign_tests(cases)
        verdict = gate(config, effect_verdict([c["outcome"] for c in cases])) if cases else "not comparable"
        claims.append(
            Claim(
                claim=f"EMA weights have a lower DSM loss than the raw weights at every epoch ({name})",
                poster="Loss (EMA) < Loss (Cust) at epochs 1, 5, 10, 15 (0.0971 vs 0.1471 at epoch 15)",
                measured=(
                    "held-out loss per pixel, raw - EMA (paired) per case: "
                    + "; ".join(case_text(c) for c in cases)
                    + f". EMA lower beyond the noise at {lower}/{len(cases)} of the poster's epochs"
                    + (f" over {seeds} training seeds" if seeds > 1 else "")
                    + f", {sum(everywhere)}/{len(rows)} of all epochs."
                    + sign_text(tests)
                ),
                verdict=verdict,
                note=(
                    "Rule: " + RULES["loss_effect"] + ". The poster's losses are not in our normalisation (it "
                    "does not say how its loss is normalised; ours is the NCSN-weighted DSM loss averaged over "
                    "the 784 pixels on a fixed held-out batch of the test split), so its effect enters as its "
                    "relative reduction 1 - EMA/raw (0.32, 0.39, 0.34, 0.34 at epochs 1, 5, 10, 15) times "
                    "our raw loss. " + (seeds_note(seeds) if seeds > 1 else "")
                ),
                evidence=(
                    evidence("held-out DSM loss per pixel", cases, headline_case(cases), sign_tests=tests)
                    if cases
                    else {}
                ),
            )
        )
    return claims


# ---- FID / KID ------------------------------------------------------------------------------------------


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
    EMA's FID is lower than the raw one's beyond the noise (unpaired)."""
    t = t.sort_values([c for c in ("seed", "epoch") if c in t])
    t = t.assign(sd_raw=_column(t, "fid_sd_raw"), sd_ema=_column(t, "fid_sd_ema"))
    t["ema_lower"] = [compare(e, se, r, sr) == -1 for e, se, r, sr in zip(t.fid_ema, t.sd_ema, t.fid_raw, t.sd_raw)]
    return t


def kid_difference(r: dict, a: str, b: str) -> tuple[float, float, bool]:
    """(KID(a) - KID(b), its sd, paired?) of one table row: the paired sd where the table has it, else
    sqrt(sd_a^2 + sd_b^2) (wider: it counts the shared noise twice)."""
    column = f"kid_diff_{a}_{b}"
    value = r.get(column, float("nan"))
    if pd.isna(value):
        value = r.get(f"kid_mean_{a}", float("nan")) - r.get(f"kid_mean_{b}", float("nan"))
    sd = r.get(column + "_sd", float("nan"))
    if pd.notna(sd):
        return value, sd, True
    return value, math.hypot(r.get(f"kid_sd_{a}", float("nan")), r.get(f"kid_sd_{b}", float("nan"))), False


def _fid_description(r: dict, with_seed: bool) -> str:
    d = r.get("fid_diff_raw_ema", float("nan"))
    sd = r.get("fid_diff_raw_ema_sd", float("nan"))
    paired = f", raw - EMA {interval_text(d, sd)}" if pd.notna(d) else ""
    return (
        (f"seed {int(r['seed'])}, " if with_seed else "")
        + f"epoch {int(r['epoch'])}: raw {interval_text(r['fid_raw'], r.get('fid_sd_raw', float('nan')))}, "
        f"EMA {interval_text(r['fid_ema'], r.get('fid_sd_ema', float('nan')))}{paired}"
    )


def ema_kid_claim(name: str, t: pd.DataFrame, config: dict) -> Claim:
    """EMA lowers the FID (decided on KID): per (seed, poster epoch 5 / 10 / 15 evaluated)."""
    judged = t[t.epoch.isin(POSTER_FID_EPOCHS)]
    cases, left_out = [], []
    for seed, run in runs_of(judged):
        for r in run.sort_values("epoch").to_dict("records"):
            epoch, raw = int(r["epoch"]), r["kid_mean_raw"]
            poster_raw, poster_ema = POSTER_TABLE1[epoch][:2]
            if not raw > 0:
                left_out.append(f"seed {seed} epoch {epoch}" if seed is not None else f"epoch {epoch}")
                continue
            value, sd, paired = kid_difference(r, "raw", "ema")
            effect = raw * (1 - poster_ema / poster_raw)
            case = effect_case(value, sd, effect, paired, n=_set_size(r), seed=seed, epoch=epoch)
            case["fid_difference"] = _num(r.get("fid_diff_raw_ema", r["fid_raw"] - r["fid_ema"]))
            case["fid_difference_sd"] = _num(r.get("fid_diff_raw_ema_sd"))
            cases.append(case)
    seeds = len(runs_of(t))
    tests = sign_tests(cases)
    if cases:
        verdict = gate(config, effect_verdict([c["outcome"] for c in cases]))
    else:
        verdict = "not comparable"
    present = sum(c["outcome"] not in (ABSENT, "inconclusive") for c in cases)
    measured = (
        "KID(raw) - KID(EMA), paired, per case: "
        + ("; ".join(case_text(c) for c in cases) or "no case")
        + f". EMA lower beyond the noise at {present}/{len(cases)} cases"
        + (f" ({seeds} training seeds)" if seeds > 1 else "")
        + "."
        + sign_text(tests)
        + (f" Left out (KID(raw) not above 0: no effect in our units): {', '.join(left_out)}." if left_out else "")
        + " FID (description): "
        + "; ".join(_fid_description(r, seeds > 1) for r in t.to_dict("records"))
    )
    note = (
        "Rule: " + RULES["ema_kid"] + ". The poster's effect in our units: its ratio "
        "FID_raw / FID_EMA at the epoch (4.87, 35.4, 4.32 at epochs 5, 10, 15) applied to our raw KID, "
        "KID(raw) (1 - 1/ratio), assuming the ratio carries over from FID to KID (both are squared "
        "distances in feature space). " + (seeds_note(seeds) if seeds > 1 else "")
    )
    if judged.empty:
        note += " None of the poster's epochs 5, 10, 15 was evaluated."
    return Claim(
        claim=f"EMA lowers the FID at every evaluated epoch ({name})",
        poster="FID (EMA) < FID (Cust) at epochs 5, 10, 15 (0.61 < 2.97, 0.32 < 11.32, 0.22 < 0.97)",
        measured=measured,
        verdict=verdict,
        note=note,
        evidence=evidence("KID", cases, headline_case(cases), sign_tests=tests) if cases else {},
    )


def consecutive_changes(summary: dict, name: str) -> dict[tuple, tuple[float, float]]:
    """(seed, weights, epoch_from, epoch_to) -> (KID change, its paired sd) from table1.json."""
    out = {}
    for c in summary.get("consecutive_epochs") or []:
        if c["variant"] == name:
            sd = c.get("kid_change_sd")
            out[(c["seed"], c["weights"], c["epoch_from"], c["epoch_to"])] = (
                c["kid_change"],
                float("nan") if sd is None else sd,
            )
    return out


def kid_change(changes: dict, seed, weights: str, earlier: dict, later: dict) -> tuple[float, float, bool]:
    """(KID(later) - KID(earlier), its sd, paired?) of one weights type: paired from table1.json where it
    is, else from the table's values and their unpaired sds."""
    found = changes.get((seed, weights, int(earlier["epoch"]), int(later["epoch"])))
    if found is not None and found[0] is not None and math.isfinite(found[1]):
        return found[0], found[1], True
    value = later[f"kid_mean_{weights}"] - earlier[f"kid_mean_{weights}"]
    return value, math.hypot(later[f"kid_sd_{weights}"], earlier[f"kid_sd_{weights}"]), False


def spike_cases(late: pd.DataFrame, changes: dict) -> list[dict]:
    """Per training seed: the rises of raw and EMA between consecutive evaluated epochs (from epoch 5 on),
    each against the poster's spike in our units, and the seed's outcome (ncsn.verdicts.spike_outcome)."""
    out = []
    for seed, run in runs_of(late):
        records = run.sort_values("epoch").to_dict("records")
        rises = {"raw": [], "ema": []}
        for earlier, later in zip(records, records[1:]):
            effect = earlier["kid_mean_raw"] * (SPIKE_RATIO - 1)
            if not effect > 0:
                continue
            for weights, found in rises.items():
                value, sd, paired = kid_change(changes, seed, weights, earlier, later)
                where = {"seed": seed, "epoch_from": int(earlier["epoch"]), "epoch_to": int(later["epoch"])}
                found.append(effect_case(value, sd, effect, paired, n=_set_size(earlier), weights=weights, **where))
        if not rises["raw"]:
            continue
        raw = strongest([c["outcome"] for c in rises["raw"]])
        ema = strongest([c["outcome"] for c in rises["ema"]])
        # the raw weights' largest rise, and the EMA weights' rise over the same epochs
        top = max(rises["raw"], key=lambda c: c["difference"] if c["difference"] is not None else -math.inf)
        beside = rises["ema"][rises["raw"].index(top)]
        contrast = (top["difference"] or 0.0) - (beside["difference"] or 0.0)
        out.append(
            {
                "seed": seed,
                "raw": raw,
                "ema": ema,
                "outcome": spike_outcome(raw, ema),
                "largest_raw_rise": top,
                "ema_rise_beside_it": beside,
                "difference": contrast,
                "rises": rises["raw"] + rises["ema"],
            }
        )
    return out


def _spike_seed_text(case: dict) -> str:
    top, beside = case["largest_raw_rise"], case["ema_rise_beside_it"]
    ema = [c for c in case["rises"] if c["weights"] == "ema"]
    strongest_ema = min(ema, key=lambda c: STRENGTH.index(c["outcome"]))
    return (
        (f"seed {case['seed']}: " if case["seed"] is not None else "")
        + f"largest raw rise {case_text({**top, 'seed': None})}; EMA over the same epochs "
        f"{_fmt(beside['difference'])} ({beside['outcome']}); strongest EMA rise "
        f"{case_text({**strongest_ema, 'seed': None})} -> {case['outcome']}"
    )


def spike_kid_claim(name: str, late: pd.DataFrame, summary: dict, config: dict) -> Claim:
    """The raw weights spike, the EMA weights do not (decided on KID), per training seed."""
    cases = spike_cases(late, consecutive_changes(summary, name))
    seeds = len(cases)
    tests = []
    if seeds >= 2:
        tests = [{"seeds": seeds, **sign_test([c["difference"] for c in cases])}]
    verdict = gate(config, effect_verdict([c["outcome"] for c in cases])) if cases else "not comparable"
    epochs = sorted(int(e) for e in late.epoch.unique())
    rises = [r for c in cases for r in c["rises"]]
    headline = cases[0]["largest_raw_rise"] if cases else None
    sign = (
        f" Sign test over the seeds of (largest raw rise - EMA rise beside it): {tests[0]['positive']}/"
        f"{tests[0]['n']} positive, p = {tests[0]['p_value']:.2g}."
        if tests
        else ""
    )
    return Claim(
        claim=f"The raw weights' FID spikes during training; the EMA weights' does not ({name})",
        poster=SPIKE_POSTER,
        measured=(
            f"KID change between consecutive evaluated epochs {epochs}, paired, later - earlier: "
            + ("; ".join(_spike_seed_text(c) for c in cases) or "no pair with KID(raw) above 0")
            + "."
            + sign
        ),
        verdict=verdict,
        note=(
            "Rule: " + RULES["spike"] + ". " + KID_NOTE + f"The poster's spike in our units: its ratio "
            f"{SPIKE_RATIO:.2f} (raw FID 2.97 -> 11.32) applied to our raw KID at the earlier epoch, "
            "KID(raw) (ratio - 1). Every change is listed in the table of consecutive epochs. "
            + (seeds_note(seeds) if seeds > 1 else "")
        ),
        evidence=(
            evidence(
                "KID",
                rises,
                headline,
                seeds=[{k: c[k] for k in ("seed", "raw", "ema", "outcome", "difference")} for c in cases],
                sign_tests=tests,
            )
            if cases
            else {}
        ),
    )


def fid_only_claims(name: str, t: pd.DataFrame, config: dict) -> list[Claim]:
    """A table without KID (written before KID was measured): the earlier unpaired FID rules."""
    judged = t[t.epoch.isin(POSTER_FID_EPOCHS)]
    pairs = "; ".join(
        f"epoch {int(r.epoch)}: raw {interval_text(r.fid_raw, r.sd_raw)}, EMA {interval_text(r.fid_ema, r.sd_ema)}"
        for r in t.itertuples()
    )
    claims = [
        Claim(
            claim=f"EMA lowers the FID at every evaluated epoch ({name})",
            poster="FID (EMA) < FID (Cust) at epochs 5, 10, 15 (0.61 < 2.97, 0.32 < 11.32, 0.22 < 0.97)",
            measured=(
                f"EMA lower beyond the noise at {int(judged.ema_lower.sum())}/{len(judged)} of the poster's "
                f"epochs {judged.epoch.tolist()} and {int(t.ema_lower.sum())}/{len(t)} evaluated epochs. {pairs}"
            ),
            verdict=(
                gate(config, by_count(int(judged.ema_lower.sum()), len(judged))) if len(judged) else "not comparable"
            ),
            note="Rule (a table without KID): "
            + RULES["ema_fid"]
            + "."
            + ("" if len(judged) else " None of the poster's epochs 5, 10, 15 was evaluated."),
        )
    ]
    late = t[t.epoch >= min(POSTER_FID_EPOCHS)]
    if len(late) > 1:
        raw_spikes = significant_rises(late.fid_raw.tolist(), late.sd_raw.tolist())
        ema_spikes = significant_rises(late.fid_ema.tolist(), late.sd_ema.tolist())
        epochs = late.epoch.tolist()

        def rises(found):
            return ", ".join(f"{epochs[i - 1]}->{epochs[i]}" for i in found) or "none"

        claims.append(
            Claim(
                claim=f"The raw weights' FID spikes during training; the EMA weights' does not ({name})",
                poster=SPIKE_POSTER,
                measured=(
                    f"rises beyond the noise over epochs {epochs}: raw {rises(raw_spikes)}, EMA {rises(ema_spikes)}; "
                    f"epoch-to-epoch spread beyond the sampling noise: raw "
                    f"{excess_spread(late.fid_raw.tolist(), late.sd_raw.tolist()):.3g}, EMA "
                    f"{excess_spread(late.fid_ema.tolist(), late.sd_ema.tolist()):.3g}"
                ),
                verdict=gate(config, stability_verdict(len(raw_spikes), len(ema_spikes))),
                note="Rule (a table without KID): " + RULES["stability"] + ". One training run.",
            )
        )
    return claims


def final_fid_claim(name: str, t: pd.DataFrame, how: str) -> Claim:
    seed, first = runs_of(t)[0]
    last = first.sort_values("epoch").iloc[-1]
    return Claim(
        claim=f"With EMA the FID drops to 0.22 ({name})",
        poster="FID (EMA) 0.2249 at epoch 15",
        measured=(
            f"FID (EMA) {interval_text(last.fid_ema, last.sd_ema)} at epoch {int(last.epoch)}"
            + (f" (training seed {seed})" if seed is not None else "")
            + f"; {_floor_text(t)}"
        ),
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
        if "kid_mean_raw" not in t or "kid_mean_ema" not in t:
            claims += fid_only_claims(name, t, config)
        else:
            claims.append(ema_kid_claim(name, t, config))
            late = t[t.epoch >= min(POSTER_FID_EPOCHS)]
            if any(len(run) > 1 for _, run in runs_of(late)):
                claims.append(spike_kid_claim(name, late, summary, config))
        claims.append(final_fid_claim(name, t, how))
    return claims


# ---- the EMA convention ---------------------------------------------------------------------------------


def convention_claim(name: str, losses: pd.DataFrame, fid: pd.DataFrame | None, config: dict) -> Claim | None:
    """Which EMA convention (constant decay, or with warm-up) puts EMA below raw at epochs 1 and 5, as the
    poster's Table 1 does. None without the warm-up EMA's losses or without both epochs."""
    if "heldout_loss_ema_warmup" not in losses or losses["heldout_loss_ema_warmup"].isna().all():
        return None
    if not set(CONVENTION_EPOCHS) <= set(int(e) for e in losses.epoch):
        return None
    kid_rows = []
    if fid is not None and "kid_diff_raw_ema_warmup" in fid:  # KID only where both conventions were sampled
        kid_rows = fid[fid.epoch == CONVENTION_EPOCHS[-1]].sort_values(["seed", "epoch"]).to_dict("records")
    per_convention, texts = {}, []
    for weights, (label, loss, diff_se) in CONVENTIONS.items():
        cases = [{**c, "metric": "loss"} for c in loss_cases(losses, loss, diff_se, CONVENTION_EPOCHS)]
        for r in kid_rows:
            epoch, raw = int(r["epoch"]), r["kid_mean_raw"]
            value, sd, paired = kid_difference(r, "raw", weights)
            poster_raw, poster_ema = POSTER_TABLE1[epoch][:2]
            if raw > 0 and pd.notna(value):
                where = {"seed": int(r["seed"]), "epoch": epoch, "metric": "KID"}
                effect = raw * (1 - poster_ema / poster_raw)
                cases.append(effect_case(value, sd, effect, paired, n=_set_size(r), **where))
        verdict = ordering_verdict([c["outcome"] for c in cases])
        holds = sum(c["outcome"] not in (ABSENT, "inconclusive") for c in cases)
        per_convention[weights] = {"label": label, "verdict": verdict, "holds": holds, "cases": cases}
        texts.append(
            f"{label}: EMA below raw beyond the noise at {holds}/{len(cases)} cases ({verdict}): "
            + "; ".join(f"{c['metric']} {case_text(c)}" for c in cases)
        )
    best = best_verdict([c["verdict"] for c in per_convention.values()])
    fitting = [c["label"] for c in per_convention.values() if c["verdict"] == "reproduced"]
    rate = config.get("variants", {}).get(name, {}).get("ema_rate")
    cases = [{**c, "convention": w} for w, found in per_convention.items() for c in found["cases"]]
    # the evidence leads with the best convention's first case (epoch 1 of the first seed)
    leading = next(w for w, c in per_convention.items() if c["verdict"] == best)
    return Claim(
        claim=f"Which EMA convention fits the poster's orderings at epochs 1 and 5 ({name})",
        poster="EMA already below raw at epoch 1 (loss 0.3068 vs 0.4502) and at epoch 5 (loss 0.1288 vs 0.2095, "
        "FID 0.61 vs 2.97)",
        measured=(
            " | ".join(texts)
            + f". Reproducing the poster's ordering: {', '.join(fitting) or 'neither convention'}"
            + (f" (EMA rate {rate:g})" if rate is not None else "")
            + "."
        ),
        verdict=gate(config, best),
        note=(
            "Rule: " + RULES["ema_convention"] + ". Held-out losses are paired (same images, same noise); "
            "KID at epoch 5 enters only where both EMAs were sampled (evaluation.weights), paired through the "
            "shared sampling noise. A constant-decay EMA whose first update copies the weights averages the "
            "early, poor weights for about 1/(1 - rate) updates; the warm-up EMA forgets them faster."
        ),
        evidence=evidence(
            "held-out DSM loss per pixel (and KID at epoch 5 where sampled)",
            cases,
            per_convention[leading]["cases"][0],
            conventions={w: {"verdict": c["verdict"], "holds": c["holds"]} for w, c in per_convention.items()},
            fitting=[w for w, c in per_convention.items() if c["verdict"] == "reproduced"],
        ),
    )


def convention_claims(losses: pd.DataFrame, fid: pd.DataFrame | None, config: dict) -> list[Claim]:
    claims = []
    for name, rows in losses.groupby("variant", sort=False):
        variant_fid = None if fid is None else fid[fid.variant == name]
        claim = convention_claim(name, rows, variant_fid, config)
        if claim is not None:
            claims.append(claim)
    return claims


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
