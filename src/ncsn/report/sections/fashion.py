"""Fashion-MNIST (the poster's Figure 2): do samples collapse onto one class, measured with a classifier.

Four claims: the custom U-Net learned only 'shirt'; the reference network collapses; a bigger network with
dropout stays diverse for longer; other sampler settings do not undo the collapse. The first three are
shown by the poster at 30 000 / 40 000 iterations and are decided only on snapshots that reach them
(ncsn.verdicts RULES["poster_iterations"]); below, they read "not comparable" with what was reached."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ncsn import layout
from ncsn.plan import fashion_reference
from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import measured_with, read_csv, read_json
from ncsn.verdicts import (
    POSTER_FASHION_STEPS,
    RULES,
    UNET_CLASS,
    capacity_verdict,
    collapse_verdict,
    detectable_share_drop,
    gate,
    iterations_gate,
    proportion_lower,
    reaches,
    settings_verdict,
    share_power,
    share_power_text,
    share_state,
    unet_class_verdict,
)

FULL_PROFILE = (
    "config/config.yaml (the full profile) trains every Fashion-MNIST variant to the poster's 40 000 "
    "iterations (batch 128) and samples each at 30 000 and 40 000"
)


def _states(v: dict) -> list[str]:
    return [share_state(lo, hi) for lo, hi in zip(v["top_share_low"], v["top_share_high"])]


def _points(v: dict) -> list[str]:
    """A variant's snapshots: their points (epoch_e / step_n); summaries without them are keyed by epoch."""
    return v.get("points") or [layout.epoch_point(e) for e in v["epochs"]]


def _steps(v: dict) -> list[int | None] | None:
    """The optimizer steps of each snapshot; None for a summary that does not record them."""
    return v.get("steps")


def _snapshot(point: str, step: int | None) -> str:
    label = layout.point_label(point)
    return label if step is None or label == f"step {step}" else f"{label} ({step} steps)"


def _described(name: str, v: dict) -> str:
    steps = _steps(v) or [None] * len(v["top_share"])
    parts = [
        f"{_snapshot(p, s)}: top class {top} {share:.0%} [{lo:.0%}, {hi:.0%}], {n} classes >= 5%, entropy {h:.2f}"
        for p, s, top, share, lo, hi, n, h in zip(
            _points(v),
            steps,
            v["top_class"],
            v["top_share"],
            v["top_share_low"],
            v["top_share_high"],
            v["classes_covered"],
            v["entropy"],
        )
    ]
    return f"{name}: " + "; ".join(parts)


def _evidence(v: dict, indices: list[int] | None = None) -> dict:
    """The measurements of a variant's snapshots (all, or those at `indices`) for claims.json."""
    keep = range(len(v["top_share"])) if indices is None else indices
    steps = _steps(v)
    return {
        "points": [_points(v)[i] for i in keep],
        "iterations": None if steps is None else [steps[i] for i in keep],
        "top_class": [v["top_class"][i] for i in keep],
        "top_share": [v["top_share"][i] for i in keep],
        "top_share_interval": [[v["top_share_low"][i], v["top_share_high"][i]] for i in keep],
        "n_samples": [v["n_samples"][i] for i in keep],
        "state": [_states(v)[i] for i in keep],
    }


def _iterations(steps: list[int | None] | None, poster: int) -> tuple[str, dict]:
    """What the snapshots reach against the poster's iterations: a sentence and its evidence."""
    if steps is None:
        return (
            " Iterations not recorded by this summary: not checked against the poster's.",
            {"poster_iterations": poster, "iterations_reached": None},
        )
    known = [s for s in steps if s is not None]
    reached = max(known) if known else None
    evidence = {"poster_iterations": poster, "iterations_reached": reached}
    if any(reaches(steps, poster)):
        return f" Snapshots reach {reached} iterations (poster: {poster}).", evidence
    return (
        f" Not comparable: the snapshots stop at {reached} iterations, below the poster's {poster}; {FULL_PROFILE}.",
        evidence,
    )


def _gated(config: dict, verdict: str, steps: list[int | None] | None, poster: int) -> str:
    """The verdict of a deciding profile whose snapshots reach the poster's iterations."""
    return gate(config, verdict if steps is None else iterations_gate(verdict, steps, poster))


def _batch_note(config: dict, name: str) -> str:
    batch = config.get("variants", {}).get(name, {}).get("batch_size")
    if batch is None or batch == 128:
        return ""
    return f" Iterations at batch {batch}, the full profile's 128: {batch / 128:.2g}x the images per iteration."


# The poster shows its collapsed sets as images of one class: a top-class share of (about) 100%.
POSTER_COLLAPSED_SHARE = 1.0


def _collapse_power(ns: list[int]) -> tuple[str, dict]:
    """What sets of these sizes can tell (the smallest set bounds it), with the poster's effect, for a
    collapse claim: a sentence and its claims.json evidence."""
    power = share_power(min(ns))
    evidence = {
        "poster_effect": {"top_share": POSTER_COLLAPSED_SHARE, "what": "all samples of one class"},
        "minimum_detectable": power,
        # A set of one class (every count = n) is called collapsed whenever any count is, i.e. always.
        "power_at_poster_effect": 1.0 if math.isfinite(power["collapsed_from"]) else 0.0,
    }
    return f" {share_power_text(power)}; the poster's sets (one class, share 100%) are far above it.", evidence


def _drop_power(reference_shares: list[float], n: list[int], n_reference: list[int]) -> tuple[str, dict]:
    """For a comparison against a reference share per case: the smallest drop below it that the
    two-proportion test finds with 80% probability, per case."""
    drops = [detectable_share_drop(p, a, b) for p, a, b in zip(reference_shares, n, n_reference)]
    text = ", ".join("n/a" if math.isnan(d) else f"{d:.0%}" for d in drops)
    return (
        f" Power: a top-class share lower than the compared set's by {text} (points, per case) is found with 80% "
        "probability.",
        {"minimum_detectable_drop": drops, "power": 0.8},
    )


def unet_claim(name: str, v: dict, config: dict) -> Claim:
    """Claim 1: the custom U-Net only learned 'shirt', at its snapshots at or beyond the poster's iterations."""
    poster = POSTER_FASHION_STEPS[0]
    steps = _steps(v)
    cases = (
        list(range(len(v["top_share"]))) if steps is None else [i for i, ok in enumerate(reaches(steps, poster)) if ok]
    )
    states = _states(v)
    verdict = (
        unet_class_verdict([states[i] for i in cases], [v["top_class"][i] for i in cases])
        if cases
        else "not comparable"
    )
    sentence, reached = _iterations(steps, poster)
    power_text, power = _collapse_power([v["n_samples"][i] for i in cases] or v["n_samples"])
    return Claim(
        claim=f"The custom U-Net's samples collapse onto the class {UNET_CLASS} ({name})",
        poster="'Our custom U-Net only learned the \"shirt\" class'",
        measured=f"{_described(name, v)}; states: {', '.join(states)}.{sentence}",
        verdict=_gated(config, verdict, steps, poster),
        note="Rule: "
        + RULES["unet_class"]
        + ". "
        + RULES["poster_iterations"]
        + "."
        + _batch_note(config, name)
        + power_text,
        evidence={
            "variant": name,
            "target_class": UNET_CLASS,
            **reached,
            **power,
            "snapshots": _evidence(v),
            "decided_on": _evidence(v, cases),
            "rule_verdict": verdict,
        },
    )


def collapse_claim(reference: str, ref: dict, config: dict) -> Claim:
    ref_states = _states(ref)
    steps = _steps(ref)
    sentence, reached = _iterations(steps, POSTER_FASHION_STEPS[0])
    verdict = collapse_verdict(ref_states)
    power_text, power = _collapse_power(ref["n_samples"])
    return Claim(
        claim=f"The reference network's samples collapse onto one class ({reference})",
        poster=(
            "Song & Ermon's network 'barely learned other classes at the beginning of training before "
            "collapsing' (shown at 30 000 and 40 000 iterations)"
        ),
        measured=f"{_described(reference, ref)}; states: {', '.join(ref_states)}.{sentence}",
        verdict=_gated(config, verdict, steps, POSTER_FASHION_STEPS[0]),
        note="Rule: "
        + RULES["collapse"]
        + ". "
        + RULES["poster_iterations"]
        + "."
        + _batch_note(config, reference)
        + power_text,
        evidence={"variant": reference, **reached, **power, "snapshots": _evidence(ref), "rule_verdict": verdict},
    )


def _common(other: dict, ref: dict) -> tuple[list[int], list[int]]:
    """Indices of the snapshots both variants have (the same point), in the other variant's order."""
    ref_points = _points(ref)
    pairs = [(i, ref_points.index(p)) for i, p in enumerate(_points(other)) if p in ref_points]
    return [i for i, _ in pairs], [j for _, j in pairs]


def capacity_claim(name: str, other: dict, reference: str, ref: dict, config: dict) -> Claim:
    """Variant `name` against the reference variant, at the snapshots both have."""
    mine, theirs = _common(other, ref)
    o = {key: [other[key][i] for i in mine] for key in ("top_share", "top_share_low", "top_share_high", "n_samples")}
    r = {key: [ref[key][j] for j in theirs] for key in ("top_share", "top_share_low", "top_share_high", "n_samples")}
    more_diverse = [
        proportion_lower(po, no, pr, nr)
        for po, no, pr, nr in zip(o["top_share"], o["n_samples"], r["top_share"], r["n_samples"])
    ]
    points = [_points(other)[i] for i in mine]
    steps = None if _steps(other) is None else [_steps(other)[i] for i in mine]
    poster = POSTER_FASHION_STEPS[1]
    sentence, reached = _iterations(steps, poster)
    verdict = capacity_verdict(_states(r), _states(o), more_diverse)
    power_text, power = _drop_power(r["top_share"], o["n_samples"], r["n_samples"])
    return Claim(
        claim=f"More capacity and dropout keep the samples diverse for longer ({name} vs {reference})",
        poster=(
            "a slightly bigger model with dropout 'helped maintaining stability for a longer time' (shown at "
            "40 000 iterations)"
        ),
        measured=(
            f"{_described(name, other)}; states: {', '.join(_states(other))}; top-class share lower "
            f"than {reference}'s beyond the noise at "
            f"{[layout.point_label(p) for p, m in zip(points, more_diverse) if m] or 'none'}.{sentence}"
        ),
        verdict=_gated(config, verdict, steps, poster),
        note="Rule: "
        + RULES["capacity"]
        + ". "
        + RULES["poster_iterations"]
        + "."
        + _batch_note(config, name)
        + power_text,
        evidence={
            "variant": name,
            "reference": reference,
            **reached,
            **power,
            "common_points": points,
            "iterations": steps,
            "reference_state": _states(r),
            "state": _states(o),
            "more_diverse_than_reference": more_diverse,
            "snapshots": _evidence(other),
            "rule_verdict": verdict,
        },
    )


def _setting(s: dict) -> str:
    return (
        f"eps {s['step_lr']:g} T {s['n_steps_each']}: top class {s['top_class']} {s['top_share']:.0%} "
        f"[{s['top_share_low']:.0%}, {s['top_share_high']:.0%}], {s['classes_covered']} classes >= 5%"
    )


def settings_claim(study: dict, config: dict) -> Claim:
    """Claim 4: other (epsilon, T) on the reference network's last snapshot against the poster's sampler."""
    base, settings = study["baseline"], study["settings"]
    base_state = share_state(base["top_share_low"], base["top_share_high"])
    improves = [
        proportion_lower(s["top_share"], s["n_samples"], base["top_share"], base["n_samples"]) for s in settings
    ]
    states = [share_state(s["top_share_low"], s["top_share_high"]) for s in settings]
    verdict = settings_verdict(base_state, improves, states)
    where = _snapshot(study["point"], study.get("step"))
    power_text, power = _drop_power(
        [base["top_share"]] * len(settings), [s["n_samples"] for s in settings], [base["n_samples"]] * len(settings)
    )
    return Claim(
        claim=f"Other sampler settings do not undo the collapse ({study['variant']}, {where})",
        poster="'Experiments with other parameters (sigma, T, epsilon) did not improve stability'",
        measured=(
            f"poster's sampler, {_setting(base)} ({base_state}); "
            + "; ".join(
                f"{_setting(s)} ({state}{', lower beyond the noise' if better else ''})"
                for s, state, better in zip(settings, states, improves)
            )
        ),
        verdict=gate(config, verdict),
        note=(
            "Rule: " + RULES["other_settings"] + ". The poster names no iterations for this claim: it is decided "
            f"on the snapshot this profile reaches ({where}). Sigma is not varied: the reference network is "
            "conditioned on its trained noise levels, and the sampler takes the checkpoint's own schedule." + power_text
        ),
        evidence={
            **power,
            "variant": study["variant"],
            "point": study["point"],
            "iterations": study.get("step"),
            "baseline": {**base, "state": base_state},
            "settings": [
                {**s, "state": state, "lower_than_baseline": better}
                for s, state, better in zip(settings, states, improves)
            ],
            "rule_verdict": verdict,
        },
    )


def fashion_claims(summary: dict, config: dict) -> list[Claim]:
    variants = summary["variants"]
    names = config["fashion"]["variants"]
    arch = {name: config.get("variants", {}).get(name, {}).get("arch") for name in names}
    reference = fashion_reference(config)
    claims = [unet_claim(name, variants[name], config) for name in names if arch[name] == "unet" and name in variants]
    if reference in variants and arch[reference] != "unet":
        ref = variants[reference]
        claims.append(collapse_claim(reference, ref, config))
        claims += [
            capacity_claim(name, variants[name], reference, ref, config)
            for name in names
            if name != reference and arch[name] != "unet" and name in variants and _common(variants[name], ref)[0]
        ]
    if summary.get("other_settings") and summary["other_settings"]["settings"]:
        claims.append(settings_claim(summary["other_settings"], config))
    return claims


def _interval(table: pd.DataFrame) -> list[str]:
    return [
        f"{s:.0%} [{lo:.0%}, {hi:.0%}]"
        for s, lo, hi in zip(table["top_share"], table["top_share_low"], table["top_share_high"])
    ]


def _class_columns(table: pd.DataFrame, classes: list[str] | None) -> dict:
    """The columns every class-histogram table shows: set size, top class with its share, coverage, FID."""
    return {
        "n": table["n_samples"],
        "top class": [classes[int(c)] if classes else c for c in table["top_class"]],
        "top class share [95%]": _interval(table),
        "classes >= 5%": table["classes_covered"],
        "entropy (nats)": table["class_entropy"],
        "FID": table["fid"],
    }


def fashion_table(table: pd.DataFrame, classes: list[str] | None = None) -> pd.DataFrame:
    shares = [c for c in table.columns if c.startswith("share_")]
    points = table["point"] if "point" in table else [layout.epoch_point(e) for e in table["epoch"]]
    return pd.DataFrame(
        {
            "variant": table["variant"],
            "snapshot": [layout.point_label(p) for p in points],
            "iterations": table["step"].astype("Int64") if "step" in table else None,
            "weights": table["weights"],
            **_class_columns(table, classes),
            "class shares": [
                ", ".join(f"{c[len('share_') :]} {row[c]:.0%}" for c in shares) for _, row in table.iterrows()
            ],
        }
    )


def settings_table(table: pd.DataFrame, classes: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": table["variant"],
            "snapshot": [layout.point_label(p) for p in table["point"]],
            "iterations": table["step"].astype("Int64"),
            "epsilon": table["step_lr"],
            "T": table["n_steps_each"],
            **_class_columns(table, classes),
        }
    )


def fashion_text(summary: dict) -> str:
    reached = {
        name: max((s for s in v.get("steps") or [] if s is not None), default=None)
        for name, v in summary["variants"].items()
    }
    reach = ", ".join(f"{name} {steps}" for name, steps in reached.items() if steps is not None)
    return (
        f"<p>Samples of each Fashion-MNIST variant at its configured snapshots, classified by the domain "
        f"classifier (test accuracy {summary['classifier_test_accuracy']:.4f}); {measured_with(summary)}. "
        "The poster judged collapse by eye; here the class histogram decides it: the share of the most "
        "frequent class with its 95% Wilson interval, the entropy (log 10 = 2.30 nats is uniform) and the "
        "number of classes holding at least 5% of the samples.</p>"
        f"<p>The poster shows its samples at {POSTER_FASHION_STEPS[0]} and {POSTER_FASHION_STEPS[1]} "
        "iterations (optimizer steps); the claims it shows there are decided only on snapshots that reach "
        f"them.{f' Iterations reached here: {reach}.' if reach else ''}</p>"
    )


def fashion_section(results: Path, config: dict) -> Section | None:
    if "fashion" not in config:
        return None
    summary = read_json(results / layout.experiment("figure2", "json"))
    table = read_csv(results / layout.experiment("figure2", "csv"))
    classes = summary.get("classes")
    other = table["other_setting"].astype(bool) if "other_setting" in table else pd.Series(False, index=table.index)
    tables = [("Class histogram of the samples", fashion_table(table[~other], classes))]
    if other.any():
        tables.append(("Other sampler settings on one snapshot", settings_table(table[other], classes)))
    return Section(
        "Fashion-MNIST: class collapse (Figure 2)",
        fashion_text(summary),
        figures=[
            (
                results / layout.experiment("figure2", "shares"),
                "Share of the most frequent class (95% Wilson interval) against iterations, one line per "
                "network, each point labelled with its class; dotted: the collapse threshold of 50%.",
            ),
            (
                results / layout.experiment("figure2", "png"),
                "Samples and their class histograms (95% Wilson intervals; dotted: the collapse threshold of "
                "50%) per variant and snapshot, then the other sampler settings.",
            ),
        ],
        tables=tables,
        claims=fashion_claims(summary, config),
    )
