"""One builder per section of the report, in the poster's order. Each reads only files in results/."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from ncsn.report import provenance
from ncsn.report.html import Section


def _read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def data_section(results: Path, config: dict) -> Section:
    rows = []
    for dataset in config["data"]["datasets"]:
        summary = _read_json(results / "data" / f"{dataset}.json")
        rows.append({"dataset": dataset, "source": summary["source"],
                     "train images": summary["train"]["n_images"], "test images": summary["test"]["n_images"],
                     "train label counts": " ".join(map(str, summary["train"]["label_counts"]))})
    text = ("<p>Every IDX file was checked against fixed MD5 sums of its decompressed bytes and read through "
            "torchvision's dataset classes.</p>")
    return Section("Data", text, tables=[("Datasets used", pd.DataFrame(rows))])


def provenance_section(results: Path, config: dict) -> Section:
    versions = provenance.package_versions()
    text = (f"<p>Code version <code>{html.escape(provenance.git_revision())}</code>; "
            f"{html.escape(provenance.device_description())}; master seed {config['seed']}.</p>"
            f"<h3>Config</h3><pre>{html.escape(yaml.safe_dump(config, sort_keys=False))}</pre>")
    packages = pd.DataFrame({"package": list(versions), "version": list(versions.values())})
    costs = provenance.rule_costs(results / "benchmarks")
    return Section("Provenance", text, tables=[("Package versions", packages),
                                              ("Wall time and peak memory per job (Snakemake benchmark files)", costs)])


# Sections in the poster's order; provenance last.
BUILDERS = [data_section, provenance_section]
