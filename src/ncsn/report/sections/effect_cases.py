"""The cases of a directional claim of the poster, measured here: each difference (signed so that > 0 is
the claim) with its interval, the poster's effect in our units, the minimum detectable effect and power
at this noise, and the outcome ncsn.verdicts.decide_effect gives it; how a case reads in the report and
what a claim's evidence in claims.json holds."""

from __future__ import annotations

import math

import pandas as pd

from ncsn.stats import Z_95, minimum_detectable_effect, n_for_power, power, sign_test
from ncsn.verdicts import decide_effect


def seeds_note(n_seeds: int) -> str:
    """How the claims decide across training seeds, and what the sign test beside them can say."""
    smallest = min(1.0, 2 * 0.5**n_seeds)
    return (
        "Across training seeds the verdict comes from the per-case rule over every (seed, epoch); the sign "
        "test over the seeds' differences is reported beside it"
        + (
            f", but with {n_seeds} seeds no outcome can reach p < 0.05 (the smallest p is {smallest:.2g}). "
            if smallest >= 0.05
            else ". "
        )
    )


def json_number(x) -> float | None:
    """A JSON number (None for NaN / missing)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def short_number(x, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def effect_case(value: float, sd: float, poster_effect: float, paired: bool, n: int | None = None, **where) -> dict:
    """One case of a directional claim (signed so that > 0 is the claim): its outcome by `decide_effect`,
    with the 95% interval, the minimum detectable effect at this noise and the power for the poster's
    effect, as JSON values (`where`: the seed, epoch(s) and weights it was measured at). With the set size
    `n` of the sample sets behind it, a case below 80% power also says which set size would reach 80%
    (`n_for_80_power`, sd taken to shrink as 1/sqrt(n)) and what that costs against this one."""
    known = math.isfinite(sd) and sd > 0
    extra = {}
    if known and n and poster_effect > 0 and power(poster_effect, sd) < 0.8:
        needed = n_for_power(poster_effect, sd, n)
        extra = {"n": int(n), "n_for_80_power": int(needed), "sampling_cost_factor": json_number(needed / n)}
    return {
        **extra,
        **where,
        "difference": json_number(value),
        "sd": json_number(sd),
        "interval": [json_number(value - Z_95 * sd), json_number(value + Z_95 * sd)],
        "paired": bool(paired),
        "poster_effect": json_number(poster_effect),
        "minimum_detectable_effect": json_number(minimum_detectable_effect(sd)) if known else None,
        "power": json_number(power(poster_effect, sd)) if known else None,
        "outcome": decide_effect(value, sd, poster_effect),
    }


def row_set_size(row: dict) -> int | None:
    """The images per sample set of a Table 1 row (None when the table does not say)."""
    n = row.get("n_samples")
    return int(n) if n is not None and pd.notna(n) else None


def case_text(case: dict, scale: float = 1.0) -> str:
    """'seed 0, epoch 5: 0.012 [0.004, 0.02] vs the poster's 0.01: present (MDE 0.007, power 0.93)'."""
    where = []
    if case.get("seed") is not None:
        where.append(f"seed {case['seed']}")
    if "epoch_from" in case:
        where.append(f"{case['epoch_from']}->{case['epoch_to']}")
    elif "epoch" in case:
        where.append(f"epoch {case['epoch']}")

    def s(x):
        return None if x is None else x * scale

    low, high = case["interval"]
    needed = (
        f"; 80% power at n ~ {case['n_for_80_power']}, {case['sampling_cost_factor']:.1f}x this set's sampling"
        if "n_for_80_power" in case
        else ""
    )
    return (
        f"{', '.join(where)}: {short_number(s(case['difference']))} [{short_number(s(low))}, {short_number(s(high))}]"
        f"{'' if case['paired'] else ' (unpaired)'} vs the poster's {short_number(s(case['poster_effect']))}: "
        f"{case['outcome']} (MDE {short_number(s(case['minimum_detectable_effect']), 2)}, power "
        f"{short_number(case['power'], 2)}{needed})"
    )


def evidence(metric: str, cases: list[dict], headline: dict, **extra) -> dict:
    """A claim's evidence: the headline case's difference, interval, poster's effect, MDE and power, every
    case, and what else the claim measured."""
    return {
        "metric": metric,
        "difference": headline["difference"],
        "interval": headline["interval"],
        "paired": all(c["paired"] for c in cases),
        "poster_effect": headline["poster_effect"],
        "minimum_detectable_effect": headline["minimum_detectable_effect"],
        "power": headline["power"],
        "headline": {k: headline[k] for k in ("seed", "epoch", "epoch_from", "epoch_to", "weights") if k in headline},
        "cases": cases,
        **extra,
    }


def headline_case(cases: list[dict]) -> dict:
    """The case a claim's evidence leads with: the first training seed's last case."""
    return [c for c in cases if c.get("seed") == cases[0].get("seed")][-1]


def sign_tests(cases: list[dict], key: str = "epoch") -> list[dict]:
    """Per value of `key` (an epoch) measured in at least 2 training seeds: the sign test over the seeds'
    differences (ncsn.stats.sign_test)."""
    out = []
    for value in dict.fromkeys(c.get(key) for c in cases):
        differences = [c["difference"] for c in cases if c.get(key) == value and c["difference"] is not None]
        seeds = {c.get("seed") for c in cases if c.get(key) == value}
        if len(seeds) >= 2:
            out.append({key: value, **sign_test(differences)})
    return out


def sign_text(tests: list[dict], key: str = "epoch") -> str:
    if not tests:
        return ""
    return (
        " Sign test over the seeds: "
        + "; ".join(f"{key} {t[key]}: {t['positive']}/{t['n']} positive, p = {t['p_value']:.2g}" for t in tests)
        + "."
    )


def runs_of(frame: pd.DataFrame) -> list[tuple[int | None, pd.DataFrame]]:
    """(training seed, its rows) of a table; one run of unknown seed when the table has no seeds."""
    if "seed" not in frame or frame["seed"].isna().all():
        return [(None, frame)]
    return [(int(s), frame[frame["seed"] == s]) for s in pd.unique(frame["seed"].dropna())]


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(float("nan"), index=frame.index)
