"""Reading evaluation JSONs and writing an experiment's CSV + PNG + key-number JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from torchvision.utils import make_grid

from ncsn.errors import NcsnError

matplotlib.use("Agg")  # figures are files; no display is needed or wanted
import matplotlib.pyplot as pyplot  # noqa: E402  (after the backend is chosen)


def load_evaluations(paths: list[Path], samples: list[Path] | None = None) -> list[dict[str, Any]]:
    """The evaluation JSONs at `paths`. With `samples` (the job's declared sample sets, in the order of
    the evaluations) each evaluation's images are read from there instead of from the path recorded in
    it, after checking that both name the same set."""
    out = []
    for path in paths:
        try:
            out.append(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise NcsnError(f"evaluation {path} does not exist; run the evaluate rule for it first.") from None
    if samples is None:
        return out
    if len(samples) != len(out):
        raise NcsnError(f"{len(paths)} evaluations but {len(samples)} sample sets given; pass one --samples each.")
    for ev, path, given in zip(out, paths, samples):
        if Path(ev["samples"]).parts[-4:] != Path(given).parts[-4:]:
            raise NcsnError(
                f"{path} evaluates {ev['samples']}, but the sample set given in its place is {given}; pass "
                "--samples in the order of --evaluations."
            )
        ev["samples"] = str(given)
    return out


def _interval_columns(prefix: str, interval: dict | None) -> dict[str, float]:
    interval = interval or {}
    nan = float("nan")
    return {
        f"{prefix}_sd": interval.get("sd", nan),
        f"{prefix}_low": interval.get("low", nan),
        f"{prefix}_high": interval.get("high", nan),
    }


def _floor_columns(floor: dict | None) -> dict[str, float]:
    """The data floor (real test images scored like a sample set of the same size), if measured."""
    if not floor:
        return {}
    return {
        "floor_fid": floor["fid"]["value"],
        **_interval_columns("floor_fid", floor["fid"]),
        "floor_kid": floor["kid"]["value"],
        **_interval_columns("floor_kid", floor["kid"]),
    }


def _ald_nfe(info: dict[str, Any]) -> float:
    if info.get("n_levels") is None or info.get("n_steps_each") is None:
        return float("nan")
    return info["n_levels"] * info["n_steps_each"] + int(bool(info.get("denoise")))


def _per_image(info: dict[str, Any]) -> float:
    if info.get("seconds") is None or not info.get("n_samples"):
        return float("nan")
    return info["seconds"] / info["n_samples"]


def evaluation_rows(evaluations: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per evaluated sample set: what produced it, its numbers with their intervals (`*_sd`,
    `*_low`, `*_high`: bootstrap standard deviation and 95% interval) and the data floor (`floor_*`)."""
    rows = []
    for ev in evaluations:
        info = ev["sample_info"]
        tv = ev.get("total_variation_interval") or {}
        rows.append(
            {
                "variant": info["variant"],
                "seed": info.get("training_seed"),
                "epoch": info["epoch"],
                "step": info.get("step"),
                "weights": info["weights"],
                # the poster's sampler records epsilon and T; the samplers experiment its method and NFE
                "step_lr": info.get("step_lr"),
                "n_steps_each": info.get("n_steps_each"),
                "method": info.get("method", "ald_denoise" if info.get("denoise") else "ald"),
                "nfe": info.get("nfe", _ald_nfe(info)),
                "seconds_per_image": info.get("seconds_per_image", _per_image(info)),
                "fid": ev["fid"],
                **_interval_columns("fid", ev.get("fid_interval")),
                "kid_mean": ev["kid_mean"],
                **_interval_columns("kid", ev.get("kid_interval")),
                "kid_std": ev["kid_std"],
                **_floor_columns(ev.get("floor")),
                "n_samples": ev["n_samples"],
                "n_reference": ev["n_reference"],
                "kid_subset_size": ev["kid_subset_size"],
                "extractor": ev["extractor"],
                "extractor_name": ev["extractor_name"],
                "classes_covered": ev["coverage"]["classes_covered"],
                "class_entropy": ev["coverage"]["entropy"],
                "top_class": ev["coverage"]["top_class"],
                "top_share": ev["coverage"]["top_share"],
                "top_share_low": ev["coverage"].get("top_share_low"),
                "top_share_high": ev["coverage"].get("top_share_high"),
                "total_variation": ev.get("total_variation"),
                "total_variation_se": tv.get("se"),
                "reference_total_variation": ev.get("reference_total_variation"),
                "samples": ev["samples"],
            }
        )
    return pd.DataFrame(rows)


def measured_with(df: pd.DataFrame) -> dict[str, Any]:
    """What every number of an experiment used (the report must say it)."""
    return {
        "extractor": sorted(df["extractor"].unique().tolist()),
        "extractor_name": sorted(df["extractor_name"].unique().tolist()),
        "n_samples": sorted(int(n) for n in df["n_samples"].unique()),
        "n_reference": sorted(int(n) for n in df["n_reference"].unique()),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")


def plt():
    """matplotlib.pyplot on the file-only backend."""
    return pyplot


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt().close(fig)


def image_grid_array(images, count: int, nrow: int):
    """The first `count` uint8 images [N, 1, H, W] as one gray [H', W'] array in [0, 1], white gaps."""
    return make_grid(images[:count].float() / 255, nrow=nrow, padding=1, pad_value=1.0)[0].numpy()
