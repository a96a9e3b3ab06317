"""What every section builder shares: reading results, and how a claim's verdict is decided."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ncsn.verdicts import deciding, interval_text

PIXELS = 28 * 28


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def scale_note(config: dict) -> str:
    """Said once, at the top of the report: whether this profile's verdicts decide the poster's claims."""
    if deciding(config):
        return ""
    return (
        f"Profile '{config['profile']}' trains for a few hundred optimiser steps on a subset and samples with "
        "few steps: it tests the pipeline, not the claims, so its image verdicts read 'not comparable'. "
        "Run the laptop profile (make laptop, a few hours on a 2-core CPU) or the full one to decide them."
    )


def measured_with(summary: dict) -> str:
    """'domain features, 100 samples vs 500 reference images' from an experiment JSON's measured_with."""
    m = summary["measured_with"]
    extractors = "/".join(m["extractor"])
    samples = "/".join(map(str, m["n_samples"]))
    reference = "/".join(map(str, m["n_reference"]))
    return f"{extractors} features, {samples} samples vs {reference} reference images"


def floor_sentence(summary: dict) -> str:
    """' Data floor at this sample size: FID ...' when the experiment JSON measured one, else ''."""
    floor = summary.get("floor") or {}
    if not floor:
        return ""
    return f" Data floor at this sample size: FID {interval_text(floor['floor_fid'], floor['floor_fid_sd'])}."


def variants_of(config: dict, dataset: str) -> list[str]:
    return [name for name, v in config["variants"].items() if v["dataset"] == dataset]
