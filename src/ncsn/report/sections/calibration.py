"""How far the FID / KID intervals can be trusted: the bootstrap of one set beside the real spread of
equally good sets (the calibration sets of the fid_reference rule: disjoint sets of real test images,
each of the evaluation's size, scored exactly like a sample set)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout, plan
from ncsn.report.html import Section
from ncsn.report.sections.common import read_json

TEXT = (
    "<p>Every FID and KID of this report carries a bootstrap interval over its sample set. To check that "
    "these intervals are not too narrow, the fid_reference rule scores disjoint sets of real test images "
    "(none of them a reference image; the first is the data floor's set), each of the evaluation's size, "
    "exactly like a sample set. Their spread is the real noise of a number at this sample size; the mean "
    "bootstrap standard deviation of the same sets is what the intervals assume. A ratio below 1 means "
    "overconfident intervals; <i>overconfident</i> is marked when the bootstrap lies below the 95% interval "
    "of the spread (chi-square, {k} sets). Real images are the best available stand-in for a sample set "
    "whose quality is known; a model's samples may spread differently.</p>"
)


def calibration_table(results: Path, config: dict) -> pd.DataFrame:
    rows = []
    for dataset, extractor in plan.fid_references(config):
        calibrated = read_json(results / layout.fid_reference(dataset, extractor)).get("calibration")
        if not calibrated:
            continue
        for metric in ("fid", "kid"):
            c = calibrated[metric]
            rows.append(
                {
                    "dataset": dataset,
                    "metric": metric.upper(),
                    "sets": calibrated["n_sets"],
                    "images per set": calibrated["n_samples"],
                    "mean over sets": c["mean"],
                    "spread (sd over sets)": c["spread_sd"],
                    "spread 95% interval": f"[{c['spread_sd_low']:.3g}, {c['spread_sd_high']:.3g}]",
                    "bootstrap sd (mean)": c["bootstrap_sd"],
                    "bootstrap / spread": c["ratio"],
                    "overconfident": c["overconfident"],
                }
            )
    return pd.DataFrame(rows)


def calibration_section(results: Path, config: dict) -> Section | None:
    if "evaluation" not in config:
        return None
    table = calibration_table(results, config)
    if table.empty:
        return None
    text = TEXT.format(k=int(table["sets"].iloc[0]))
    caption = "Calibration of the bootstrap intervals: real spread of FID / KID over disjoint real-image sets"
    return Section("Measurement noise", text, tables=[(caption, table)])
