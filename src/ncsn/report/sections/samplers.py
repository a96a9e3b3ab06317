"""Beyond the poster: how many score evaluations does a good sample need? FID against NFE per sampler."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout
from ncsn.report.html import Section
from ncsn.report.sections.common import floor_sentence, measured_with, read_csv, read_json
from ncsn.verdicts import deciding, interval_text

RULE = (
    "a sampler reaches the yardstick at the smallest NFE whose KID is not above the yardstick's beyond the "
    "noise: the 95% interval of the paired difference KID(budget) - KID(yardstick) reaches 0 (same initial "
    "noise, same bootstrap indices). 'Reaches' means no excess was seen; the excess it would have seen with "
    "80% power (MDE) is given with each answer"
)


def _answer(method: str, result: dict, baseline: dict) -> str:
    if result["first_nfe_within"] is None:
        return f"{method}: none of its budgets up to NFE {result['largest_nfe']} reaches it"
    speedup = baseline["nfe"] / result["first_nfe_within"]
    d = result.get("kid_difference_at_first")
    kid = (
        f"KID - yardstick {d['value']:.3g} [{d['low']:.3g}, {d['high']:.3g}]{'' if d['paired'] else ' (unpaired)'}, "
        f"MDE {d['minimum_detectable_excess']:.2g}; "
        if d
        else ""
    )
    return (
        f"{method}: NFE {result['first_nfe_within']} "
        f"({kid}FID {interval_text(result['fid_at_first'], result['fid_sd_at_first'])}, "
        f"{speedup:.3g}x fewer evaluations, {result['seconds_per_image_at_first']:.3g} s per image)"
    )


def samplers_text(summary: dict, config: dict) -> str:
    baseline = summary["baseline"]
    scale = (
        ""
        if deciding(config)
        else " At this profile's scale the yardstick is its own short sampler, so the answer checks the pipeline "
        "and says nothing about the poster's sampler."
    )
    answers = "; ".join(_answer(m, r, baseline) for m, r in summary["methods"].items())
    return (
        f"<p>The poster's sampler, annealed Langevin dynamics (ALD) over 10 levels, costs {baseline['nfe']} score "
        f"evaluations (NFE) per image; the samplers that followed NCSN claim the same quality for less. One "
        f"checkpoint ({summary['variant']}, epoch {summary['epoch']}, {summary['weights']} weights) sampled by "
        f"each method at every budget; {measured_with(summary)}.{floor_sentence(summary)} Yardstick: ALD at NFE "
        f"{baseline['nfe']}, "
        + (f"KID {interval_text(baseline['kid'], baseline['kid_sd'])}, " if "kid" in baseline else "")
        + f"FID {interval_text(baseline['fid'], baseline['fid_sd'])}, "
        f"{baseline['seconds_per_image']:.3g} s per image.{scale}</p>"
        f"<p><b>Which NFE reaches the yardstick?</b> {answers}. Rule: {RULE}. The methods other than ALD "
        "evaluate the U-Net between its trained noise levels (it takes sigma by value) and start from the "
        "uniform init perturbed at sigma_1.</p>"
    )


def samplers_table(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": table["method"],
            "NFE": table["nfe"].astype(int),
            "FID [95%]": [interval_text(f, s) for f, s in zip(table["fid"], table["fid_sd"])],
            "KID [95%]": [interval_text(k, s) for k, s in zip(table["kid_mean"], table["kid_sd"])],
            "s per image": table["seconds_per_image"],
            "n_samples": table["n_samples"],
        }
    )


def samplers_section(results: Path, config: dict) -> Section | None:
    if "samplers" not in config:
        return None
    summary = read_json(results / layout.experiment("samplers", "json"))
    table = read_csv(results / layout.experiment("samplers", "csv"))
    return Section(
        "Beyond the poster: faster samplers",
        samplers_text(summary, config),
        figures=[
            (
                results / layout.experiment("samplers", "png"),
                "FID against score evaluations per image (left, 95% intervals; "
                "band: the yardstick's interval) and wall time per image (right).",
            )
        ],
        tables=[("FID and KID per sampler and NFE", samplers_table(table))],
    )
