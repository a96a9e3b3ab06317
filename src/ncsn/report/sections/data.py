"""The datasets the study used, as the data rule verified them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout, plan
from ncsn.report.html import Section
from ncsn.report.sections.common import read_json


def data_section(results: Path, config: dict) -> Section:
    rows = []
    for dataset in config["data"]["datasets"]:
        summary = read_json(results / layout.dataset_summary(dataset))
        rows.append(
            {
                "dataset": dataset,
                "source": summary["source"],
                "train images": summary["train"]["n_images"],
                "test images": summary["test"]["n_images"],
                "train label counts": " ".join(map(str, summary["train"]["label_counts"])),
            }
        )
    for dataset in plan.classifier_datasets(config):
        acc = read_json(results / layout.classifier_summary(dataset)).get("test_accuracy")
        for row in rows:
            if row["dataset"] == dataset:
                row["domain classifier test accuracy"] = acc
    text = (
        "<p>Every IDX file was checked against fixed MD5 sums of its decompressed bytes and read through "
        "torchvision's dataset classes. The domain classifier (a small CNN trained on the training split) "
        "supplies the features of the CPU-scale FID / KID and the class of every generated sample; its "
        "test accuracy is shown where it was trained.</p>"
    )
    return Section("Data", text, tables=[("Datasets used", pd.DataFrame(rows))])
