"""How a measured number becomes a verdict: the rules, written down before any run.

Every comparison uses the interval of each number it compares (FID / KID: the bootstrap standard
deviation over the sample set; held-out losses: the standard error over the batch; class shares: the
Wilson interval). Two numbers differ only when their difference is larger than 1.96 standard errors
of that difference; a difference inside the noise is not a difference. Each rule's text is shown in
the report next to the verdict it produced (`RULES`).

Only the profiles in `DECIDING_PROFILES` are sized to decide the poster's claims; the others
(`tiny`, `quick`) test the pipeline, and their verdicts are "not comparable" whatever they measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ncsn.stats import Z_95 as Z

DECIDING_PROFILES = ("laptop", "full")
# Snow: samples whose neighbouring-pixel variation exceeds the test images' by this factor.
SNOW_FACTOR = 1.5
# Collapse: one class holds at least this share of the samples.
COLLAPSE_SHARE = 0.5

RULES = {
    "difference": (
        "a and b differ when |a - b| > 1.96 sqrt(sd_a^2 + sd_b^2), sd being each number's bootstrap "
        "standard deviation (FID, KID) or standard error (loss); otherwise they are within the noise"
    ),
    "loss": (
        "EMA counts as lower at an epoch when the paired difference raw - EMA of the held-out DSM losses "
        "(same images, same noise) exceeds 1.96 of its standard errors. Reproduced: lower at every epoch "
        "of the poster's table; partly: at some; not reproduced: at none"
    ),
    "ema_fid": (
        "EMA counts as lower at an epoch when FID(raw) - FID(EMA) exceeds the noise of the difference. "
        "Reproduced: lower at every evaluated epoch of the poster's table that has an FID (5, 10, 15); "
        "partly: at some; not reproduced: at none"
    ),
    "stability": (
        "A spike is a rise of the FID between consecutive evaluated epochs (from epoch 5 on, the "
        "poster's range) beyond the noise of the difference. Reproduced: the raw weights spike at least "
        "once and the EMA weights never; partly: both spike, the raw weights more often; not "
        "reproduced: otherwise (no raw spike, or EMA spikes as often)"
    ),
    "optimum": (
        "Three checks: (a) the poster's cell (epsilon 1e-5, T 100) is within the noise of the best cell; "
        "(b) at T = 100 every epsilon of 10x the poster's or more is worse beyond the noise; (c) at "
        "epsilon = 1e-5 every T below 100 is worse beyond the noise. Reproduced: all three; partly: one "
        "or two; not reproduced: none"
    ),
    "snow": (
        f"At the largest epsilon, for some T: (a) the neighbouring-pixel variation exceeds {SNOW_FACTOR}x the "
        "test images' beyond its standard error and (b) the FID is worse than the best cell's beyond the "
        "noise. Reproduced: both; partly: one; not reproduced: neither"
    ),
    "collapse": (
        f"A sample set is collapsed when the 95% Wilson interval of its top-class share lies above "
        f"{COLLAPSE_SHARE:.0%}, diverse when it lies below, undecided otherwise. Reproduced: the "
        "reference network is collapsed at its last evaluated checkpoint; partly: collapsed earlier only, "
        "or undecided at the last; not reproduced: diverse at every checkpoint"
    ),
    "capacity": (
        "Bigger + dropout is more diverse at a checkpoint when its top-class share is lower than the "
        "reference network's beyond the noise (two-proportion z-test). Reproduced: the reference "
        "network collapses and, at a checkpoint where it is collapsed, bigger + dropout is not collapsed "
        "and more diverse; partly: more diverse at some checkpoint but the reference never collapses; "
        "not reproduced: never more diverse"
    ),
}


def deciding(config: dict) -> bool:
    return config["profile"] in DECIDING_PROFILES


def gate(config: dict, verdict: str) -> str:
    """The verdict of a deciding profile; "not comparable" for a pipeline check."""
    return verdict if deciding(config) else "not comparable"


def by_count(hits: int, total: int) -> str:
    """reproduced when every case holds, partly when some do, not reproduced when none does."""
    if total > 0 and hits == total:
        return "reproduced"
    return "partly reproduced" if hits > 0 else "not reproduced"


def compare(a: float, sd_a: float, b: float, sd_b: float, z: float = Z) -> int:
    """-1 when a < b beyond the noise, +1 when a > b beyond it, 0 inside it (or when the noise is unknown)."""
    se = math.sqrt(sd_a**2 + sd_b**2)
    if not math.isfinite(se) or not math.isfinite(a - b):
        return 0
    if se == 0:
        return (a > b) - (a < b)
    t = (a - b) / se
    return 1 if t > z else -1 if t < -z else 0


def paired_lower(difference: float, se: float, z: float = Z) -> bool:
    """A paired difference (e.g. raw - EMA) is positive beyond `z` standard errors."""
    return math.isfinite(se) and difference > z * se


def significant_rises(values: Sequence[float], sds: Sequence[float]) -> list[int]:
    """Indices i >= 1 where values[i] rises above values[i - 1] beyond the noise of the difference."""
    return [i for i in range(1, len(values)) if compare(values[i], sds[i], values[i - 1], sds[i - 1]) == 1]


def excess_spread(values: Sequence[float], sds: Sequence[float]) -> float:
    """Standard deviation of `values` beyond what their own noise explains: sqrt(max(0, var - mean sd^2)).
    The part of an FID's epoch-to-epoch variation that comes from training, not from sampling."""
    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    noise = sum(s**2 for s in sds) / n
    return math.sqrt(max(0.0, variance - noise))


def not_worse(value: float, sd: float, reference: float, reference_sd: float, z: float = Z) -> bool:
    """Not worse (higher) than the reference beyond the noise: value - reference is at most z standard
    errors of the difference (the samplers experiment's "reaches the poster's sampler")."""
    return value - reference <= z * math.sqrt(sd**2 + reference_sd**2)


def share_state(low: float, high: float, threshold: float = COLLAPSE_SHARE) -> str:
    """ "collapsed", "diverse" or "undecided" from the interval of the top-class share."""
    if low >= threshold:
        return "collapsed"
    return "diverse" if high < threshold else "undecided"


def proportion_lower(p_a: float, n_a: int, p_b: float, n_b: int, z: float = Z) -> bool:
    """Share p_a is lower than p_b beyond the noise (two-proportion z-test with the pooled share)."""
    pooled = (p_a * n_a + p_b * n_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return se > 0 and (p_b - p_a) / se > z


def optimum_verdict(tied_with_best: bool, larger_steps_worse: bool, fewer_steps_worse: bool) -> str:
    return by_count(sum([tied_with_best, larger_steps_worse, fewer_steps_worse]), 3)


def stability_verdict(raw_spikes: int, ema_spikes: int) -> str:
    if raw_spikes >= 1 and ema_spikes == 0:
        return "reproduced"
    if raw_spikes > ema_spikes >= 1:
        return "partly reproduced"
    return "not reproduced"


def collapse_verdict(states: Sequence[str]) -> str:
    if not states:
        return "not reproduced"
    if states[-1] == "collapsed":
        return "reproduced"
    if "collapsed" in states or states[-1] == "undecided":
        return "partly reproduced"
    return "not reproduced"


def capacity_verdict(
    reference_states: Sequence[str], other_states: Sequence[str], other_more_diverse: Sequence[bool]
) -> str:
    postponed = any(
        r == "collapsed" and o != "collapsed" and more
        for r, o, more in zip(reference_states, other_states, other_more_diverse)
    )
    if postponed:
        return "reproduced"
    return "partly reproduced" if any(other_more_diverse) else "not reproduced"


def interval_text(value: float, sd: float, digits: int = 3) -> str:
    """'12.3 [10.1, 14.5]': the value and its 95% interval."""
    if not math.isfinite(sd):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g} [{value - Z * sd:.{digits}g}, {value + Z * sd:.{digits}g}]"
