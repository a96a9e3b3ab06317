"""Fashion-MNIST (the poster's Figure 2): do samples collapse onto one class, measured with a classifier."""

from __future__ import annotations

from pathlib import Path

from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import measured_with, read_csv, read_json, scale_note, verdict


def _first_collapse(v: dict) -> str:
    return "never" if v["first_collapsed_epoch"] is None else f"epoch {v['first_collapsed_epoch']}"


def fashion_claims(summary: dict, config: dict) -> list[Claim]:
    variants = summary["variants"]
    claims = []
    reference = config["fashion"]["variants"][0]
    if reference in variants:
        v = variants[reference]
        collapsed = v["first_collapsed_epoch"] is not None
        claims.append(Claim(
            claim=f"The reference network's samples collapse onto one class ({reference})",
            poster="Song & Ermon's network 'barely learned other classes at the beginning of training before collapsing'",
            measured=(f"classes >= 5% per epoch {v['epochs']}: {v['classes_covered']}; top-class share "
                      f"{v['top_share']}; first collapse: {_first_collapse(v)}"),
            verdict=verdict(config, collapsed),
            note=f"{summary['collapse_rule']}." + scale_note(config)))
    others = [name for name in config["fashion"]["variants"][1:] if name in variants]
    if reference in variants and others:
        def collapse_epoch(name):
            epoch = variants[name]["first_collapsed_epoch"]
            return float("inf") if epoch is None else epoch
        later = all(collapse_epoch(o) > collapse_epoch(reference) for o in others)
        never = collapse_epoch(reference) == float("inf")
        claims.append(Claim(
            claim="More capacity and dropout keep the samples diverse for longer",
            poster="a slightly bigger model with dropout 'helped maintaining stability for a longer time'",
            measured="; ".join(f"{name}: first collapse {_first_collapse(variants[name])}, entropy "
                               f"{variants[name]['entropy']}" for name in [reference, *others]),
            verdict="not comparable" if never else verdict(config, later),
            note=("Nothing collapsed, so there is no 'longer' to compare." if never else "") + scale_note(config)))
    return claims


def fashion_section(results: Path, config: dict) -> Section | None:
    folder = results / "experiments" / "figure2"
    if "fashion" not in config or not (folder / "figure2.json").is_file():
        return None
    summary = read_json(folder / "figure2.json")
    table = read_csv(folder / "figure2.csv")
    shares = [c for c in table.columns if c.startswith("share_")]
    table = table[["variant", "epoch", "weights", "classes_covered", "class_entropy", "top_share", "collapsed",
                   "fid", *shares]]
    text = (f"<p>Samples of each Fashion-MNIST variant at the configured checkpoints, classified by the domain "
            f"classifier (test accuracy {summary['classifier_test_accuracy']:.4f}); {measured_with(summary)}. "
            "The poster judged collapse by eye; here the class histogram, its entropy (log 10 = 2.30 nats is "
            "uniform) and the number of classes holding at least 5% of the samples decide it.</p>")
    return Section("Fashion-MNIST: class collapse (Figure 2)", text,
                   figures=[(folder / "figure2.png", "Samples and their class histograms per variant and epoch.")],
                   tables=[("Class histogram of the samples", table)], claims=fashion_claims(summary, config))
