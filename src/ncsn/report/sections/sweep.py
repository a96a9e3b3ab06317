"""Sampler hyperparameters (the poster's Figure 1): FID over the step size epsilon x steps per level T."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout
from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import floor_sentence, measured_with, read_csv, read_json
from ncsn.verdicts import RULES, SNOW_FACTOR, Z, by_count, compare, gate, interval_text, optimum_verdict

POSTER_EPS, POSTER_T = 1e-5, 100


def _cell(cells: dict, step_lr: float, n_steps_each: int) -> dict | None:
    for c in cells.values():
        if abs(c["step_lr"] - step_lr) <= 1e-12 * max(1.0, step_lr) and c["n_steps_each"] == n_steps_each:
            return c
    return None


def _worse(a: dict, b: dict) -> bool:
    """FID of cell a is above cell b's beyond the noise."""
    return compare(a["fid"], a["fid_sd"], b["fid"], b["fid_sd"]) == 1


def _poster_cell_missing() -> Claim:
    return Claim(
        claim="Sampling is best with a small step size and many steps per level",
        poster=f"epsilon ~ {POSTER_EPS:g}, T = {POSTER_T}",
        measured=f"the sweep has no cell at epsilon = {POSTER_EPS:g}, T = {POSTER_T}",
        verdict="not comparable",
        note="Add the poster's cell to sweep.step_lrs / sweep.n_steps_each.",
    )


def _listed(group: list[dict]) -> str:
    return (
        ", ".join(f"eps {c['step_lr']:g} T {c['n_steps_each']}: {interval_text(c['fid'], c['fid_sd'])}" for c in group)
        or "none in the grid"
    )


def _larger_and_fewer(cells: dict) -> tuple[list[dict], list[dict]]:
    """The cells the poster's optimum is checked against: larger steps at its T (at least 10x its epsilon)
    and fewer steps per level at its epsilon."""
    larger = [c for c in cells.values() if c["n_steps_each"] == POSTER_T and c["step_lr"] >= 10 * POSTER_EPS * 0.999]
    fewer = [c for c in cells.values() if abs(c["step_lr"] - POSTER_EPS) < 1e-12 and c["n_steps_each"] < POSTER_T]
    return larger, fewer


def optimum_claim(summary: dict, config: dict) -> Claim:
    cells, best = summary["cells"], summary["best"]
    poster = _cell(cells, POSTER_EPS, POSTER_T)
    if poster is None:
        return _poster_cell_missing()
    tied = not _worse(poster, _cell(cells, best["step_lr"], best["n_steps_each"]))
    larger, fewer = _larger_and_fewer(cells)
    larger_worse = bool(larger) and all(_worse(c, poster) for c in larger)
    fewer_worse = bool(fewer) and all(_worse(c, poster) for c in fewer)
    return Claim(
        claim="Sampling is best with a small step size and many steps per level",
        poster=f"epsilon ~ {POSTER_EPS:g}, T = {POSTER_T}",
        measured=(
            f"lowest FID {interval_text(best['fid'], best['fid_sd'])} at epsilon = {best['step_lr']:g}, "
            f"T = {best['n_steps_each']}; the poster's cell {interval_text(poster['fid'], poster['fid_sd'])} "
            f"({'within the noise of' if tied else 'worse than'} the best). (a) {'yes' if tied else 'no'}; "
            f"(b) larger steps at T = {POSTER_T}: {_listed(larger)} - "
            f"{'all worse' if larger_worse else 'not all worse'}; "
            f"(c) fewer steps at epsilon = {POSTER_EPS:g}: {_listed(fewer)} - "
            f"{'all worse' if fewer_worse else 'not all worse'}"
        ),
        verdict=gate(config, optimum_verdict(tied, larger_worse, fewer_worse)),
        note=(
            "Rule: " + RULES["optimum"] + ". epsilon in the NCSN paper convention (alpha_i = epsilon "
            "sigma_i^2 / sigma_L^2, x += alpha_i/2 s + sqrt(alpha_i) z), as in the poster's update rule."
        ),
    )


def snow_claim(summary: dict, config: dict) -> Claim:
    cells = summary["cells"]
    best = _cell(cells, summary["best"]["step_lr"], summary["best"]["n_steps_each"])
    largest = max(c["step_lr"] for c in cells.values())
    ref_tv = summary["reference_total_variation"]
    at_largest = sorted((c for c in cells.values() if c["step_lr"] == largest), key=lambda c: c["n_steps_each"])
    rows, hits = [], 0
    for c in at_largest:
        speckled = c["total_variation"] - Z * c["total_variation_se"] > SNOW_FACTOR * ref_tv
        worse = _worse(c, best)
        hits = max(hits, int(speckled) + int(worse))
        rows.append(
            f"T {c['n_steps_each']}: pixel variation {c['total_variation']:.3f} ± "
            f"{Z * c['total_variation_se']:.3f}, FID {interval_text(c['fid'], c['fid_sd'])}"
        )
    return Claim(
        claim="Large steps overshoot into 'snow noise'",
        poster="large epsilon gives speckled samples",
        measured=(
            f"at epsilon = {largest:g}: {'; '.join(rows)}; test images' pixel variation {ref_tv:.3f} "
            f"(snow threshold {SNOW_FACTOR * ref_tv:.3f}); best cell FID "
            f"{interval_text(best['fid'], best['fid_sd'])}"
        ),
        verdict=gate(config, by_count(hits, 2)),
        note="Rule: " + RULES["snow"] + ".",
    )


def sweep_table(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epsilon": table["step_lr"].map("{:g}".format),
            "T": table["n_steps_each"],
            "FID [95%]": [
                interval_text(f, s) for f, s in zip(table["fid"], table.get("fid_sd", table["fid"] * float("nan")))
            ],
            "KID [95%]": [
                interval_text(k, s)
                for k, s in zip(table["kid_mean"], table.get("kid_sd", table["kid_mean"] * float("nan")))
            ],
            "pixel variation": table["total_variation"],
            "n_samples": table["n_samples"],
        }
    )


def sweep_text(summary: dict, config: dict) -> str:
    design = (
        "every configured epsilon at the sampler's T and every T at its epsilon (a cross, sweep.design)"
        if config["sweep"].get("design") == "cross"
        else "every configured epsilon and T"
    )
    return (
        f"<p>One checkpoint ({summary['variant']}, epoch {summary['epoch']}, {summary['weights']} weights) sampled "
        f"over {design}; {measured_with(summary)}.{floor_sentence(summary)} The poster's Figure 1 shows "
        "its grid as images only.</p>"
    )


def sweep_figures(results: Path) -> list[tuple[Path, str]]:
    return [
        (
            results / layout.experiment("figure1", "grid"),
            "Samples per cell: rows T (steps per noise level), columns epsilon.",
        ),
        (
            results / layout.experiment("figure1", "heatmap"),
            "FID per cell with the half-width of its 95% bootstrap interval.",
        ),
    ]


def sweep_section(results: Path, config: dict) -> Section | None:
    if "sweep" not in config:
        return None
    summary = read_json(results / layout.experiment("figure1", "json"))
    table = read_csv(results / layout.experiment("figure1", "csv"))
    return Section(
        "Sampler hyperparameters (Figure 1)",
        sweep_text(summary, config),
        figures=sweep_figures(results),
        tables=[("FID, KID and pixel variation per (epsilon, T)", sweep_table(table))],
        claims=[optimum_claim(summary, config), snow_claim(summary, config)],
    )
