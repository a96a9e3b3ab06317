"""The per-variant metrics CSV: one row per trained epoch."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ncsn.torch_files import write_text_atomic

COLUMNS = [
    "epoch",
    "step",
    "train_loss",
    "heldout_loss_raw",
    "heldout_loss_ema",
    "heldout_loss_raw_se",
    "heldout_loss_ema_se",
    "heldout_loss_diff_se",
    "seconds",
]


def write_metrics(rows: list[dict[str, float]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row.get(k, "") for k in COLUMNS} for row in rows)
    write_text_atomic(buffer.getvalue(), path)
