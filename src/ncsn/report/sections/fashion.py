"""Fashion-MNIST (the poster's Figure 2): do samples collapse onto one class, measured with a classifier."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout
from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import measured_with, read_csv, read_json
from ncsn.verdicts import RULES, capacity_verdict, collapse_verdict, gate, proportion_lower, share_state


def _states(v: dict) -> list[str]:
    return [share_state(lo, hi) for lo, hi in zip(v["top_share_low"], v["top_share_high"])]


def _described(name: str, v: dict, classes: list[str] | None = None) -> str:
    parts = [
        f"epoch {e}: top class {top} {share:.0%} [{lo:.0%}, {hi:.0%}], {n} classes >= 5%, entropy {h:.2f}"
        for e, top, share, lo, hi, n, h in zip(
            v["epochs"],
            v["top_class"],
            v["top_share"],
            v["top_share_low"],
            v["top_share_high"],
            v["classes_covered"],
            v["entropy"],
        )
    ]
    return f"{name}: " + "; ".join(parts)


def collapse_claim(reference: str, ref: dict, config: dict) -> Claim:
    ref_states = _states(ref)
    return Claim(
        claim=f"The reference network's samples collapse onto one class ({reference})",
        poster="Song & Ermon's network 'barely learned other classes at the beginning of training before collapsing'",
        measured=f"{_described(reference, ref)}; states: {', '.join(ref_states)}",
        verdict=gate(config, collapse_verdict(ref_states)),
        note="Rule: " + RULES["collapse"] + ".",
    )


def capacity_claim(name: str, other: dict, reference: str, ref: dict, config: dict) -> Claim:
    """Variant `name` against the reference variant, evaluated at the same epochs."""
    more_diverse = [
        proportion_lower(po, no, pr, nr)
        for po, no, pr, nr in zip(other["top_share"], other["n_samples"], ref["top_share"], ref["n_samples"])
    ]
    return Claim(
        claim=f"More capacity and dropout keep the samples diverse for longer ({name} vs {reference})",
        poster="a slightly bigger model with dropout 'helped maintaining stability for a longer time'",
        measured=(
            f"{_described(name, other)}; states: {', '.join(_states(other))}; top-class share lower "
            f"than {reference}'s beyond the noise at epochs "
            f"{[e for e, m in zip(other['epochs'], more_diverse) if m] or 'none'}"
        ),
        verdict=gate(config, capacity_verdict(_states(ref), _states(other), more_diverse)),
        note="Rule: " + RULES["capacity"] + ".",
    )


def fashion_claims(summary: dict, config: dict) -> list[Claim]:
    variants = summary["variants"]
    reference = config["fashion"]["variants"][0]
    if reference not in variants:
        return []
    ref = variants[reference]
    return [collapse_claim(reference, ref, config)] + [
        capacity_claim(name, variants[name], reference, ref, config)
        for name in config["fashion"]["variants"][1:]
        if name in variants and variants[name]["epochs"] == ref["epochs"]
    ]


def fashion_table(table: pd.DataFrame) -> pd.DataFrame:
    shares = [c for c in table.columns if c.startswith("share_")]
    return pd.DataFrame(
        {
            "variant": table["variant"],
            "epoch": table["epoch"],
            "weights": table["weights"],
            "n": table["n_samples"],
            "top class share [95%]": [
                f"{s:.0%} [{lo:.0%}, {hi:.0%}]"
                for s, lo, hi in zip(table["top_share"], table["top_share_low"], table["top_share_high"])
            ],
            "classes >= 5%": table["classes_covered"],
            "entropy (nats)": table["class_entropy"],
            "FID": table["fid"],
            "class shares": [
                ", ".join(f"{c[len('share_') :]} {row[c]:.0%}" for c in shares) for _, row in table.iterrows()
            ],
        }
    )


def fashion_text(summary: dict) -> str:
    return (
        f"<p>Samples of each Fashion-MNIST variant at the configured checkpoints, classified by the domain "
        f"classifier (test accuracy {summary['classifier_test_accuracy']:.4f}); {measured_with(summary)}. "
        "The poster judged collapse by eye; here the class histogram decides it: the share of the most "
        "frequent class with its 95% Wilson interval, the entropy (log 10 = 2.30 nats is uniform) and the "
        "number of classes holding at least 5% of the samples.</p>"
    )


def fashion_section(results: Path, config: dict) -> Section | None:
    if "fashion" not in config:
        return None
    summary = read_json(results / layout.experiment("figure2", "json"))
    table = read_csv(results / layout.experiment("figure2", "csv"))
    return Section(
        "Fashion-MNIST: class collapse (Figure 2)",
        fashion_text(summary),
        figures=[
            (
                results / layout.experiment("figure2", "png"),
                "Samples and their class histograms (95% Wilson intervals; "
                "dotted: the collapse threshold of 50%) per variant and epoch.",
            )
        ],
        tables=[("Class histogram of the samples", fashion_table(table))],
        claims=fashion_claims(summary, config),
    )
