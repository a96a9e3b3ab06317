"""How a measured number becomes a verdict: the rules, written down before any run.

Every comparison uses the interval of each number it compares (FID / KID: the bootstrap standard
deviation over the sample set; held-out losses: the standard error over the batch; class shares: the
Wilson interval). Two numbers differ only when their difference is larger than 1.96 standard errors
of that difference; a difference inside the noise is not a difference. The standard error of a
difference depends on how the two numbers were measured:

- unpaired (`compare`, ncsn.stats.unpaired_difference): independent sets, sqrt(sd_a^2 + sd_b^2);
- paired (`paired_lower`, ncsn.stats.paired_difference): sets that share their noise item by item, such
  as the raw and EMA samples of one checkpoint (same initial and Langevin noise) or the held-out losses
  of raw and EMA weights (same images, same noise); the standard deviation of the per-resample (or
  per-item) differences, in which the shared noise cancels.

A directional claim with a size (the poster's effect) is decided per case by `decide_effect`, whose
outcomes tell "present" from "absent" (the interval excludes the poster's effect) and from
"inconclusive" (the interval covers both 0 and the poster's effect: this measurement cannot tell);
`effect_verdict` turns the cases of a claim (epochs, seeds) into its verdict, and `decide_across_seeds`
decides the direction of a difference across training seeds with a sign test. Each rule's text is shown
in the report next to the verdict it produced (`RULES`).

Only the profiles in `DECIDING_PROFILES` are sized to decide the poster's claims; the others
(`tiny`, `quick`) test the pipeline, and their verdicts are "not comparable" whatever they measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

from ncsn.stats import Z_95 as Z
from ncsn.stats import detectable_shares, sign_test

DECIDING_PROFILES = ("laptop", "full")
# Snow: samples whose neighbouring-pixel variation exceeds the test images' by this factor.
SNOW_FACTOR = 1.5
# Figure 1 (images only): the effect of interest of a comparison between sweep cells, as a fraction of the
# compared cell's KID (RULES["sweep_effect"]).
SWEEP_EFFECT_RATIO = 0.5
# Collapse: one class holds at least this share of the samples.
COLLAPSE_SHARE = 0.5
# Figure 2: the poster shows its Fashion-MNIST samples at 30 000 and 40 000 iterations (optimizer steps); the
# custom U-Net's class and the reference network's collapse from the first, bigger + dropout at the second.
POSTER_FASHION_STEPS = (30000, 40000)
UNET_CLASS = "Shirt"  # the class the poster's custom U-Net "only learned" (Fashion-MNIST's class 6)

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
        "Decided on paired KID differences between cells (same initial noise, same bootstrap indices), each "
        "case by the effect rule: (a) the cell of lowest KID is not lower than the poster's cell (epsilon "
        "1e-5, T 100) by the effect of interest (a lower best cell beyond the noise but by less reads "
        "'present, smaller'); (b) at T = 100 every epsilon of 10x the poster's or more is worse than the "
        "poster's cell; (c) at epsilon = 1e-5 every T below 100 is worse than it. Reproduced: every case "
        "present; partly: some present; inconclusive: none present, some inconclusive; not reproduced: "
        "every case absent"
    ),
    "snow": (
        f"At the largest epsilon, per T: (a) the neighbouring-pixel variation exceeds {SNOW_FACTOR}x the "
        "test images' beyond its standard error and (b) the KID is worse than the lowest-KID cell's (paired "
        "difference, effect rule). Present: both, with (b) of the effect's size; present, smaller: one of "
        "the two, or both with a smaller (b); inconclusive: neither seen and (b) inconclusive; absent: "
        "neither. The claim takes the strongest T"
    ),
    "sweep_effect": (
        "The poster's Figure 1 has no numbers, so the effect of interest was fixed before any run: a KID higher "
        "than the compared cell's by half of that cell's KID (SWEEP_EFFECT_RATIO); 'inconclusive' means the "
        "interval of the difference covers both 0 and that effect"
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
    "poster_iterations": (
        f"A Figure 2 claim is decided only on snapshots at or beyond the iterations (optimizer steps) at which "
        f"the poster shows it: {POSTER_FASHION_STEPS[0]} for the custom U-Net's class and the reference "
        f"network's collapse, {POSTER_FASHION_STEPS[1]} for bigger + dropout. Where a profile's snapshots stop "
        "below, the claim reads 'not comparable' whatever they show (the iterations reached are stated)"
    ),
    "unet_class": (
        f"Each snapshot of the custom U-Net at or beyond {POSTER_FASHION_STEPS[0]} iterations is collapsed, "
        "diverse or undecided by the collapse rule (95% Wilson interval of its top-class share against "
        f"{COLLAPSE_SHARE:.0%}). Reproduced: collapsed onto {UNET_CLASS} at every one; partly: collapsed at some, "
        f"but not onto {UNET_CLASS} at every one (another class, or not collapsed at some); inconclusive: "
        "collapsed at none and undecided at some; not reproduced: diverse at every one"
    ),
    "other_settings": (
        "On the reference network's last snapshot, another sampler setting (epsilon, T) improves diversity "
        "when its top-class share is lower than the poster's sampler's beyond the noise (two-proportion "
        "z-test, 95%). Reproduced: the poster's sampler's set is collapsed and no other setting improves it; "
        "partly: some setting improves it, but its set is still collapsed; not reproduced: some setting "
        "improves it to a set that is not collapsed; inconclusive: the poster's sampler's set is not "
        "collapsed (there is no collapse for another setting to undo)"
    ),
    "paired_difference": (
        "Paired sets (raw and EMA samples of one checkpoint: same initial and Langevin noise, image i of "
        "one drawn with the noise of image i of the other) are resampled with the same bootstrap indices; "
        "the standard deviation of a - b is that of the per-resample differences, in which the shared "
        "noise cancels. The 95% interval of a - b is a - b +- 1.96 times it"
    ),
    "effect": (
        "One case of a directional claim, d signed so that d > 0 is the claim (e.g. FID(raw) - FID(EMA)), "
        "judged by the 95% interval of d against 0 and the poster's effect E > 0. Present: the interval "
        "lies above 0 and reaches E; present, smaller: it lies above 0 and below E (an effect, smaller "
        "than the poster's); absent: it covers 0 and lies below E, or lies below 0 (the opposite "
        "direction); inconclusive: it covers both 0 and E (this measurement cannot tell them apart)"
    ),
    "effect_cases": (
        "A claim over several cases (epochs, seeds). Reproduced: present at every case; partly: present "
        "(of the poster's size or smaller) at some case, but not of the poster's size at all; not "
        "reproduced: absent at every case; inconclusive: present at none and inconclusive at some"
    ),
    "across_seeds": (
        "Across training seeds: one paired difference per seed, signed so that > 0 is the claim, and a "
        "two-sided exact sign test (zero differences dropped). Present: p < 0.05 with more positive "
        "differences; absent: p < 0.05 with more negative ones (the opposite direction); inconclusive: "
        "otherwise. Below 6 seeds with a nonzero difference no outcome reaches p < 0.05"
    ),
    "ema_kid": (
        "Decided on KID (unbiased at a few hundred samples; FID at n = 100-200 on 128-D features is mostly "
        "small-sample bias and is shown as a description). One case per (training seed, poster epoch 5 / "
        "10 / 15 that was evaluated): d = KID(raw) - KID(EMA), paired (same noise, same resamples), judged "
        "by the effect rule against the poster's effect in our units, KID(raw) (1 - FID_EMA / FID_raw of "
        "the poster at that epoch); a case whose KID(raw) is not above 0 has no effect in our units and is "
        "left out. Verdict over the cases by the effect_cases rule"
    ),
    "spike": (
        "Decided on KID, per training seed, over its consecutive evaluated epochs from epoch 5 on (the "
        "poster's range): each rise d = KID(later) - KID(earlier), paired, of the raw and of the EMA weights "
        "is judged by the effect rule against the poster's spike in our units, KID(raw, earlier) "
        "(11.32 / 2.97 - 1) (the same size for both weights). Per weights the strongest outcome over the "
        "rises counts (present > present, smaller > inconclusive > absent). Per seed: present = a raw rise "
        "present and every EMA rise absent; present, smaller = a raw rise present with an EMA rise present, "
        "smaller, or a raw rise present, smaller with every EMA rise absent; absent = every raw rise absent, "
        "or an EMA rise present, or both present, smaller (no contrast); inconclusive = otherwise. Verdict "
        "over the seeds by the effect_cases rule"
    ),
    "loss_effect": (
        "One case per (training seed, poster epoch 1 / 5 / 10 / 15 in the training metrics): d = held-out "
        "loss(raw) - loss(EMA), paired (same images, same noise: the standard error of the per-image "
        "differences), judged by the effect rule against the poster's relative reduction applied to our raw "
        "loss, loss(raw) (1 - loss_EMA / loss_raw of the poster at that epoch). Verdict over the cases by "
        "the effect_cases rule"
    ),
    "ema_convention": (
        "For each EMA convention (constant decay m from the first update; warm-up decay min(m, (1+n)/(10+n)) "
        "at update n), one case per (training seed, epoch 1 and 5) of the paired held-out loss difference "
        "raw - EMA and, where that EMA was sampled, per (seed, epoch 5) of the paired KID difference, each "
        "judged by the effect rule against the poster's relative reduction at that epoch applied to our raw "
        "value. The ordering holds at a case when the difference is above 0 beyond the noise (present or "
        "present, smaller: the claim is an ordering, not a size). Per convention: reproduced = holds at "
        "every case; partly = at some; inconclusive = at none, some inconclusive; not reproduced = absent "
        "at every case. The claim's verdict is the best convention's (both are reported; nothing is tuned)"
    ),
}

# Outcomes of one case of a directional claim (`decide_effect`).
PRESENT = "present"
PRESENT_SMALLER = "present, smaller"
ABSENT = "absent"
INCONCLUSIVE = "inconclusive"
EFFECT_OUTCOMES = (PRESENT, PRESENT_SMALLER, ABSENT, INCONCLUSIVE)


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


def decide_effect(value: float, sd: float, poster_effect: float, z: float = Z) -> str:
    """One case of a directional claim, from the 95% interval [value - z sd, value + z sd] of the measured
    difference and the poster's effect, both signed so that a positive number is the claim (e.g.
    value = FID(raw) - FID(EMA) for "EMA lowers the FID"):

    - "present": the interval lies above 0 and reaches the poster's effect;
    - "present, smaller": it lies above 0 and below the poster's effect, excluding both: there is an
      effect in the claim's direction, but smaller than the poster's;
    - "absent": it covers 0 and lies below the poster's effect (an effect of the poster's size is
      excluded, none is seen), or it lies below 0 (the opposite direction);
    - "inconclusive": it covers both 0 and the poster's effect: at this noise the measurement cannot tell
      "no effect" from "the poster's effect" (ncsn.stats.n_for_power says how large a set could).

    `poster_effect` must be in the units of `value` (the same metric, extractor and set size); where the
    poster's number is not comparable, pass the smallest effect of interest fixed before the run. An
    unknown noise (NaN sd) decides nothing: "inconclusive".
    """
    if not (math.isfinite(poster_effect) and poster_effect > 0):
        raise ValueError(f"the poster's effect must be positive in the claim's direction, got {poster_effect}")
    if not (math.isfinite(value) and math.isfinite(sd)):
        return INCONCLUSIVE
    low, high = value - z * sd, value + z * sd
    if low > 0:
        return PRESENT if high >= poster_effect else PRESENT_SMALLER
    return ABSENT if high < poster_effect else INCONCLUSIVE


def effect_verdict(outcomes: Sequence[str]) -> str:
    """The verdict of a claim over several cases (epochs, seeds), from each case's `decide_effect`:

    - "reproduced": every case is "present" (of the poster's size);
    - "partly reproduced": some case is present ("present" or "present, smaller"), but not every case is
      "present" (the claim holds somewhere, or everywhere with a smaller effect);
    - "inconclusive": no case is present and some case is inconclusive (whether the claim holds
      anywhere is not decided by this noise);
    - "not reproduced": every case is absent.

    A claim without cases is the caller's to label ("not comparable"): refused here.
    """
    if not outcomes:
        raise ValueError("a claim needs at least one decided case")
    unknown = set(outcomes) - set(EFFECT_OUTCOMES)
    if unknown:
        raise ValueError(f"unknown case outcomes {sorted(unknown)}; expected some of {EFFECT_OUTCOMES}")
    if all(o == PRESENT for o in outcomes):
        return "reproduced"
    if any(o in (PRESENT, PRESENT_SMALLER) for o in outcomes):
        return "partly reproduced"
    return INCONCLUSIVE if INCONCLUSIVE in outcomes else "not reproduced"


def decide_across_seeds(differences: Sequence[float], alpha: float = 0.05) -> str:
    """The direction of a difference across training seeds (one paired difference per seed, signed so
    that > 0 is the claim), by the two-sided exact sign test (ncsn.stats.sign_test): "present" when
    p < alpha with more positive differences, "absent" when p < alpha with more negative ones (the
    opposite direction), "inconclusive" otherwise. The sign test uses each seed's direction only, so
    it cannot tell a smaller effect from none; with fewer than 6 nonzero differences it is always
    "inconclusive" at alpha = 0.05."""
    test = sign_test(differences)
    if test["p_value"] >= alpha:
        return INCONCLUSIVE
    return PRESENT if test["positive"] > test["negative"] else ABSENT


# The order of strength of a case's outcomes, strongest first (`strongest`).
STRENGTH = (PRESENT, PRESENT_SMALLER, INCONCLUSIVE, ABSENT)
# Verdicts from the best to the worst for the poster (`best_verdict`).
VERDICT_ORDER = ("reproduced", "partly reproduced", INCONCLUSIVE, "not reproduced")


def strongest(outcomes: Sequence[str]) -> str:
    """The strongest of several `decide_effect` outcomes (present > present, smaller > inconclusive >
    absent): whether some rise of a series is a spike."""
    if not outcomes:
        raise ValueError("no outcome to choose from")
    return min(outcomes, key=STRENGTH.index)


def spike_outcome(raw: str, ema: str) -> str:
    """One training seed of "the raw weights spike, the EMA weights do not" (RULES["spike"]), from the
    strongest outcome of the raw weights' rises and the strongest of the EMA weights' rises."""
    if raw == ABSENT or ema == PRESENT:
        return ABSENT
    if raw == PRESENT and ema == ABSENT:
        return PRESENT
    if (raw == PRESENT and ema == PRESENT_SMALLER) or (raw == PRESENT_SMALLER and ema == ABSENT):
        return PRESENT_SMALLER
    if raw == PRESENT_SMALLER and ema == PRESENT_SMALLER:
        return ABSENT  # both rise beyond the noise, neither by the poster's spike: no contrast
    return INCONCLUSIVE


def ordering_verdict(outcomes: Sequence[str]) -> str:
    """`effect_verdict` for a claim about an ordering (not a size): "present, smaller" counts as present."""
    return effect_verdict([PRESENT if o == PRESENT_SMALLER else o for o in outcomes])


def best_verdict(verdicts: Sequence[str]) -> str:
    """The best of several verdicts for the poster (reproduced > partly > inconclusive > not reproduced)."""
    return min(verdicts, key=VERDICT_ORDER.index)


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


def proportion_lower_power(p_a: float, n_a: int, p_b: float, n_b: int, z: float = Z) -> float:
    """The probability that `proportion_lower` finds share a lower than share b, when the true shares are
    p_a and p_b and each is measured on its own set (n_a, n_b items): exact, summed over every pair of
    counts (binomial probabilities), not a normal approximation."""
    k_a, k_b = np.arange(n_a + 1)[:, None], np.arange(n_b + 1)[None, :]
    share_a, share_b = k_a / n_a, k_b / n_b
    pooled = (k_a + k_b) / (n_a + n_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = (se > 0) & ((share_b - share_a) / np.where(se > 0, se, 1) > z)
    weight = stats.binom.pmf(k_a, n_a, p_a) * stats.binom.pmf(k_b, n_b, p_b)
    return float((weight * lower).sum())


def detectable_share_drop(p_b: float, n_a: int, n_b: int, power: float = 0.8) -> float:
    """The smallest drop d below a true share p_b that `proportion_lower` finds with probability `power`
    (share a = p_b - d measured on n_a items, share b on n_b); NaN when even a share of 0 is not found
    that often."""
    if proportion_lower_power(0.0, n_a, p_b, n_b) < power:
        return float("nan")
    if proportion_lower_power(p_b, n_a, p_b, n_b) >= power:
        return 0.0
    p_a = optimize.brentq(lambda p: proportion_lower_power(p, n_a, p_b, n_b) - power, 0.0, p_b, xtol=1e-4)
    return float(p_b - p_a)


def share_power(n: int, power: float = 0.8) -> dict[str, float]:
    """What a set of n samples can tell about its top-class share (`share_state`): the smallest true share
    called collapsed, and the largest called diverse, with probability `power`."""
    shares = detectable_shares(n, COLLAPSE_SHARE, power)
    return {"n": n, "power": power, "collapsed_from": shares["above_from"], "diverse_under": shares["below_under"]}


def share_power_text(power: dict) -> str:
    return (
        f"Power: with {power['n']} samples, a true top-class share of {power['collapsed_from']:.0%} or more is "
        f"called collapsed, and one of {power['diverse_under']:.0%} or less diverse, with "
        f"{power['power']:.0%} probability"
    )


def snow_outcome(speckled: bool, worse: str) -> str:
    """One T of the snow claim (RULES["snow"]): speckled beyond the noise, and the effect-rule outcome of
    "its KID is worse than the lowest-KID cell's"."""
    if speckled:
        return PRESENT if worse == PRESENT else PRESENT_SMALLER
    if worse in (PRESENT, PRESENT_SMALLER):
        return PRESENT_SMALLER
    return INCONCLUSIVE if worse == INCONCLUSIVE else ABSENT


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


def reaches(steps: Sequence[float | None], poster_steps: int) -> list[bool]:
    """Per snapshot: taken at or beyond the poster's iterations (an unknown count reaches nothing)."""
    return [step is not None and math.isfinite(step) and step >= poster_steps for step in steps]


def iterations_gate(verdict: str, steps: Sequence[float | None], poster_steps: int) -> str:
    """The verdict where some snapshot reaches the poster's iterations; "not comparable" where none does."""
    return verdict if any(reaches(steps, poster_steps)) else "not comparable"


def unet_class_verdict(states: Sequence[str], top_classes: Sequence[str], target: str = UNET_CLASS) -> str:
    """The custom U-Net's class claim over its snapshots at the poster's iterations (RULES["unet_class"])."""
    if not states:
        raise ValueError("a claim needs at least one decided case")
    if all(s == "collapsed" and c == target for s, c in zip(states, top_classes, strict=True)):
        return "reproduced"
    if "collapsed" in states:
        return "partly reproduced"
    return INCONCLUSIVE if "undecided" in states else "not reproduced"


def settings_verdict(baseline_state: str, improves: Sequence[bool], states: Sequence[str]) -> str:
    """Claim 4 of Figure 2 (RULES["other_settings"]): the state of the poster's sampler's set, and per other
    setting whether its top-class share is lower beyond the noise and its own state."""
    if baseline_state != "collapsed":
        return INCONCLUSIVE
    rescued = [state for better, state in zip(improves, states, strict=True) if better]
    if any(state != "collapsed" for state in rescued):
        return "not reproduced"
    return "partly reproduced" if rescued else "reproduced"


def interval_text(value: float, sd: float, digits: int = 3) -> str:
    """'12.3 [10.1, 14.5]': the value and its 95% interval."""
    if not math.isfinite(sd):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g} [{value - Z * sd:.{digits}g}, {value + Z * sd:.{digits}g}]"
