"""Sampler hyperparameters (the poster's Figure 1): FID over the step size epsilon x steps per level T."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ncsn import layout
from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import floor_sentence, measured_with, read_csv, read_json
from ncsn.report.sections.effect_cases import effect_case, evidence, short_number
from ncsn.stats import difference
from ncsn.verdicts import (
    ABSENT,
    INCONCLUSIVE,
    PRESENT,
    PRESENT_SMALLER,
    RULES,
    SNOW_FACTOR,
    SWEEP_EFFECT_RATIO,
    Z,
    effect_verdict,
    gate,
    interval_text,
    snow_outcome,
    strongest,
)

DECIDING_METRIC = (
    "KID decides (unbiased at every set size); FID, biased upward at a few hundred samples, is shown as a description"
)
EFFECT_SOURCE = (
    "the poster's Figure 1 is images only; 'poster_effect' holds the effect of interest fixed before any run "
    "(ncsn.verdicts.SWEEP_EFFECT_RATIO of the compared cell's KID)"
)

POSTER_EPS, POSTER_T = 1e-5, 100


def _cell(cells: dict, step_lr: float, n_steps_each: int) -> dict | None:
    for c in cells.values():
        if abs(c["step_lr"] - step_lr) <= 1e-12 * max(1.0, step_lr) and c["n_steps_each"] == n_steps_each:
            return c
    return None


def _kid_difference(a: dict, b: dict) -> tuple[float, float, bool]:
    """KID(a) - KID(b) with its standard deviation: paired when both cells kept their bootstrap replicates
    (same initial noise, same resample indices), unpaired from their own standard deviations otherwise."""
    nan = float("nan")
    d = difference(
        a["kid"], a.get("kid_replicates"), a.get("kid_sd", nan), b["kid"], b.get("kid_replicates"), b.get("kid_sd", nan)
    )
    return d["value"], d["sd"], d["paired"]


def _effect_of_interest(than: dict) -> float:
    """The effect a sweep comparison is decided against (RULES["sweep_effect"]): a KID higher than the compared
    cell's by SWEEP_EFFECT_RATIO of it (of its standard deviation, where the KID lies within it of 0)."""
    return SWEEP_EFFECT_RATIO * max(than["kid"], than.get("kid_sd", 0.0), 1e-12)


def _label(c: dict) -> str:
    return f"eps {c['step_lr']:g} T {c['n_steps_each']}"


def _worse_case(cell: dict, than: dict, check: str) -> dict:
    """The case "cell is worse than `than`" (KID(cell) - KID(than) > 0 is the claim)."""
    value, sd, paired = _kid_difference(cell, than)
    return effect_case(
        value,
        sd,
        _effect_of_interest(than),
        paired,
        n=cell.get("n_samples"),
        check=check,
        cell=_label(cell),
        compared_with=_label(than),
    )


# "No cell beats the poster's": the outcome of "the best cell is lower than the poster's" read for the claim.
_NOT_BEATEN = {PRESENT: ABSENT, PRESENT_SMALLER: PRESENT_SMALLER, ABSENT: PRESENT, INCONCLUSIVE: INCONCLUSIVE}


def _optimum_case(poster: dict, best: dict) -> dict:
    """Check (a): the poster's cell is not beaten by the cell of lowest KID by the effect of interest."""
    if best is poster:
        return {
            "check": "a",
            "cell": _label(poster),
            "compared_with": _label(best),
            "outcome": PRESENT,
            "difference": 0.0,
            "interval": [0.0, 0.0],
            "paired": True,
            "poster_effect": None,
            "minimum_detectable_effect": None,
            "power": None,
        }
    case = _worse_case(poster, best, "a")
    return {**case, "outcome": _NOT_BEATEN[case["outcome"]]}


def _case_line(case: dict) -> str:
    low, high = case["interval"]
    return (
        f"{case['cell']} - {case['compared_with']}: {short_number(case['difference'])} "
        f"[{short_number(low)}, {short_number(high)}]{'' if case['paired'] else ' (unpaired)'}, effect of interest "
        f"{short_number(case['poster_effect'])}: {case['outcome']} (MDE "
        f"{short_number(case['minimum_detectable_effect'], 2)}, power {short_number(case['power'], 2)})"
    )


def _poster_cell_missing() -> Claim:
    return Claim(
        claim="Sampling is best with a small step size and many steps per level",
        poster=f"epsilon ~ {POSTER_EPS:g}, T = {POSTER_T}",
        measured=f"the sweep has no cell at epsilon = {POSTER_EPS:g}, T = {POSTER_T}",
        verdict="not comparable",
        note="Add the poster's cell to sweep.step_lrs / sweep.n_steps_each.",
    )


def _larger_and_fewer(cells: dict) -> tuple[list[dict], list[dict]]:
    """The cells the poster's optimum is checked against: larger steps at its T (at least 10x its epsilon)
    and fewer steps per level at its epsilon."""
    larger = [c for c in cells.values() if c["n_steps_each"] == POSTER_T and c["step_lr"] >= 10 * POSTER_EPS * 0.999]
    fewer = [c for c in cells.values() if abs(c["step_lr"] - POSTER_EPS) < 1e-12 and c["n_steps_each"] < POSTER_T]
    return larger, fewer


def _lowest_kid(cells: dict) -> dict:
    return min(cells.values(), key=lambda c: c["kid"])


def optimum_claim(summary: dict, config: dict) -> Claim:
    cells = summary["cells"]
    poster = _cell(cells, POSTER_EPS, POSTER_T)
    if poster is None:
        return _poster_cell_missing()
    best = _lowest_kid(cells)
    larger, fewer = _larger_and_fewer(cells)
    cases = [_optimum_case(poster, best)]
    cases += [_worse_case(c, poster, "b") for c in larger] + [_worse_case(c, poster, "c") for c in fewer]
    by_check = {k: [c for c in cases if c["check"] == k] for k in "abc"}
    text = "; ".join(
        f"({k}) " + ("; ".join(_case_line(c) for c in group) if group else "no cell in the grid")
        for k, group in by_check.items()
    )
    return Claim(
        claim="Sampling is best with a small step size and many steps per level",
        poster=f"epsilon ~ {POSTER_EPS:g}, T = {POSTER_T} (images only: the poster gives no number)",
        measured=(
            f"lowest KID {interval_text(best['kid'], best.get('kid_sd', float('nan')))} at {_label(best)}; the "
            f"poster's cell {interval_text(poster['kid'], poster.get('kid_sd', float('nan')))}. KID differences "
            f"[95%]: {text}"
        ),
        verdict=gate(config, effect_verdict([c["outcome"] for c in cases])),
        note=(
            "Rule: " + RULES["optimum"] + ". " + RULES["sweep_effect"] + ". epsilon in the NCSN paper convention "
            "(alpha_i = epsilon sigma_i^2 / sigma_L^2, x += alpha_i/2 s + sqrt(alpha_i) z), as in the poster's "
            "update rule."
        ),
        evidence=evidence("KID", cases, cases[0], deciding_metric_why=DECIDING_METRIC, effect_source=EFFECT_SOURCE),
    )


def snow_claim(summary: dict, config: dict) -> Claim:
    cells = summary["cells"]
    best = _lowest_kid(cells)
    largest = max(c["step_lr"] for c in cells.values())
    ref_tv = summary["reference_total_variation"]
    at_largest = sorted((c for c in cells.values() if c["step_lr"] == largest), key=lambda c: c["n_steps_each"])
    rows, outcomes, cases = [], [], []
    for c in at_largest:
        speckled = c["total_variation"] - Z * c["total_variation_se"] > SNOW_FACTOR * ref_tv
        case = {**_worse_case(c, best, "worse"), "speckled": bool(speckled)}
        cases.append(case)
        outcomes.append(snow_outcome(speckled, case["outcome"]))
        rows.append(
            f"T {c['n_steps_each']}: pixel variation {c['total_variation']:.3f} ± "
            f"{Z * c['total_variation_se']:.3f} ({'speckled' if speckled else 'not speckled'}), KID difference "
            f"to the best cell {_case_line(case)}"
        )
    return Claim(
        claim="Large steps overshoot into 'snow noise'",
        poster="large epsilon gives speckled samples (images only: the poster gives no number)",
        measured=(
            f"at epsilon = {largest:g}: {'; '.join(rows)}; test images' pixel variation {ref_tv:.3f} "
            f"(snow threshold {SNOW_FACTOR * ref_tv:.3f}); lowest KID "
            f"{interval_text(best['kid'], best.get('kid_sd', float('nan')))} at {_label(best)}"
        ),
        verdict=gate(config, effect_verdict([strongest(outcomes)])),
        note="Rule: " + RULES["snow"] + ". " + RULES["sweep_effect"] + ".",
        evidence=evidence(
            "KID and pixel variation",
            cases,
            cases[-1],
            deciding_metric_why=DECIDING_METRIC,
            effect_source=EFFECT_SOURCE,
            outcomes=outcomes,
        ),
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
        f"its grid as images only. {DECIDING_METRIC}; every cell is drawn from the same initial noise and "
        "resampled with the same bootstrap indices, so cells are compared paired.</p>"
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
