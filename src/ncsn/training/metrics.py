"""The per-variant metrics CSV: one row per trained epoch.

Held-out DSM losses (see loop.heldout_row): `_raw`, `_ema` and `_ema_warmup` are the means over the fixed
held-out batch of the raw, EMA and warm-up EMA weights, `_se` their standard errors, and
`heldout_loss_diff_se` / `heldout_loss_diff_ema_warmup_se` the standard errors of the paired differences
raw - EMA and raw - warm-up EMA."""

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
    "heldout_loss_ema_warmup",
    "heldout_loss_ema_warmup_se",
    "heldout_loss_diff_ema_warmup_se",
    "seconds",
]


def write_metrics(rows: list[dict[str, float]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: row.get(k, "") for k in COLUMNS} for row in rows)
    write_text_atomic(buffer.getvalue(), path)
