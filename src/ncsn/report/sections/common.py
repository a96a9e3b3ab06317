"""What every section builder shares: reading results, and how a claim's verdict is decided."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

PIXELS = 28 * 28


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def verdict(config: dict, holds: bool) -> str:
    """A claim about paper-scale training can only be confirmed or refuted by the paper-scale profile."""
    if config["profile"] != "full":
        return "not comparable"
    return "reproduced" if holds else "not reproduced"


def scale_note(config: dict) -> str:
    if config["profile"] == "full":
        return ""
    return (f" Profile '{config['profile']}' trains for a few hundred optimiser steps on a subset and samples with "
            "few steps, so it tests the pipeline, not the claim; run the full profile (make full) to decide it.")


def measured_with(summary: dict) -> str:
    """'domain features, 100 samples vs 500 reference images' from an experiment JSON's measured_with."""
    m = summary["measured_with"]
    extractors = "/".join(m["extractor"])
    samples = "/".join(map(str, m["n_samples"]))
    reference = "/".join(map(str, m["n_reference"]))
    return f"{extractors} features, {samples} samples vs {reference} reference images"


def variants_of(config: dict, dataset: str) -> list[str]:
    return [name for name, v in config["variants"].items() if v["dataset"] == dataset]
