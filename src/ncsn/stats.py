"""Statistical constants and tests shared by the metrics, the figures and the verdicts (one definition each).

Differences: a difference of two measured numbers carries a standard deviation and a 95% normal interval
(`paired_difference` when the two sets share their noise and were resampled with the same indices,
`unpaired_difference` otherwise). Power: how large a true difference must be for such an interval to
exclude 0, and how large a set would be needed (`minimum_detectable_effect`, `power`, `n_for_power`);
they turn "not seen" into "not seen, and an effect of size X would have been seen with 80% probability".
Across training seeds: `sign_test`. Shares (a class histogram's top class): `wilson_interval`, and the
true shares a set of n samples tells apart from a threshold with a given power (`detectable_shares`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import numpy as np
from scipy import stats as _scipy_stats

# The two-sided 95% quantile of the standard normal, scipy.stats.norm.ppf(0.975) to 7 digits (the value
# every interval of the study has been written with; tests/test_verdicts.py checks it against scipy).
Z_95 = 1.959964


def normal_interval(value: float, sd: float, z: float = Z_95) -> dict[str, float]:
    """{"value", "sd", "low", "high"}: the value with its z-standard-deviation (95%) normal interval."""
    return {"value": float(value), "sd": float(sd), "low": float(value - z * sd), "high": float(value + z * sd)}


def paired_difference(
    a: float, a_replicates: Sequence[float], b: float, b_replicates: Sequence[float]
) -> dict[str, float]:
    """The difference a - b of two numbers measured on paired sets, with its 95% normal interval.

    Paired: replicate i of `a` and replicate i of `b` come from the same resample of two sets whose items
    correspond (raw and EMA samples drawn from the same initial and Langevin noise, resampled with the
    same indices: ncsn.metrics.fid.resample_indices). Noise shared by the two sets moves both replicates
    alike and cancels in their difference, so the standard deviation of the replicate differences
    (ddof=1) is the noise of a - b; sqrt(sd_a^2 + sd_b^2) would count that shared noise twice.
    """
    if len(a_replicates) != len(b_replicates):
        raise ValueError(
            f"paired replicates must come in equal numbers (resample i of one set with resample i of the "
            f"other), got {len(a_replicates)} and {len(b_replicates)}"
        )
    if len(a_replicates) < 2:
        raise ValueError(f"a standard deviation needs at least 2 paired replicates, got {len(a_replicates)}")
    differences = np.asarray(a_replicates, dtype=np.float64) - np.asarray(b_replicates, dtype=np.float64)
    return normal_interval(a - b, float(np.std(differences, ddof=1)))


def unpaired_difference(a: float, sd_a: float, b: float, sd_b: float) -> dict[str, float]:
    """The difference a - b of two independently measured numbers, with its 95% normal interval
    (sd = sqrt(sd_a^2 + sd_b^2): the noises of independent numbers add in variance)."""
    return normal_interval(a - b, math.sqrt(sd_a**2 + sd_b**2))


def difference(
    a: float,
    a_replicates: Sequence[float] | None,
    sd_a: float,
    b: float,
    b_replicates: Sequence[float] | None,
    sd_b: float,
) -> dict:
    """a - b with its 95% interval and whether it is paired: paired (`paired_difference`) when both numbers
    kept equally many (at least 2) bootstrap replicates, which the study's sets of one sampling seed and
    size do; otherwise from their own standard deviations (`unpaired_difference`)."""
    a_replicates, b_replicates = a_replicates or [], b_replicates or []
    if len(a_replicates) >= 2 and len(a_replicates) == len(b_replicates):
        return {**paired_difference(a, a_replicates, b, b_replicates), "paired": True}
    return {**unpaired_difference(a, sd_a, b, sd_b), "paired": False}


def two_sided_critical_value(alpha: float = 0.05) -> float:
    """z_{1 - alpha/2}: the two-sided z-test at level alpha rejects when |difference| / sd exceeds it."""
    return float(_scipy_stats.norm.ppf(1 - alpha / 2))


def minimum_detectable_effect(sd: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest true difference that the two-sided z-test at level `alpha` detects with probability
    `power`, when the difference is measured with standard deviation `sd`: (z_{1-alpha/2} + z_power) sd.

    The textbook formula counts the tail in the effect's direction only; the opposite tail adds
    Phi(-2 z_{1-alpha/2} - z_power) (1e-6 at the defaults), so `power` of this effect exceeds the
    requested power by that much.
    """
    return (two_sided_critical_value(alpha) + float(_scipy_stats.norm.ppf(power))) * sd


def power(effect: float, sd: float, alpha: float = 0.05) -> float:
    """The probability that the two-sided z-test at level `alpha` finds a difference (|measured| > z sd)
    when the true difference is `effect` and it is measured with standard deviation `sd` (normal noise):
    Phi(effect/sd - z) + Phi(-effect/sd - z), both tails (the second is a "difference" in the wrong
    direction, negligible unless the effect is tiny)."""
    if not sd > 0:
        raise ValueError(f"power needs a positive standard deviation, got {sd}")
    z = two_sided_critical_value(alpha)
    shift = effect / sd
    return float(_scipy_stats.norm.cdf(shift - z) + _scipy_stats.norm.cdf(-shift - z))


def n_for_power(effect: float, sd_at_n: float, n: int, power: float = 0.8, alpha: float = 0.05) -> int:
    """The smallest set size at which a true difference `effect` reaches `power` (two-sided z-test at
    level alpha), from the standard deviation `sd_at_n` the difference has at set size `n`.

    Assumes the standard deviation scales as 1/sqrt(size), sd(m) = sd_at_n sqrt(n / m), as it does for a
    mean of independent items and, to leading order, for FID and KID of a sample set. Where the set is
    small against the feature dimension, terms of order 1/n add to their sd and shrink faster than
    1/sqrt(n), so the size found from a small set is an over-estimate (on the safe side).
    Solves minimum_detectable_effect(sd(m)) = |effect|: m = n ((z_{1-alpha/2} + z_power) sd_at_n / effect)^2,
    rounded up.
    """
    if effect == 0 or not math.isfinite(effect):
        raise ValueError(f"no set size detects a true difference of {effect}")
    if not sd_at_n > 0 or n < 1:
        raise ValueError(f"n_for_power needs a positive standard deviation and size, got {sd_at_n} at n={n}")
    ratio = minimum_detectable_effect(sd_at_n, power, alpha) / abs(effect)
    return math.ceil(n * ratio**2)


def sign_test(differences: Sequence[float]) -> dict[str, float | int]:
    """The two-sided exact binomial sign test that positive and negative differences are equally likely
    (scipy.stats.binomtest on the count of positive differences; zero differences are dropped).

    For decisions across training seeds: one difference per seed, each a paired difference of the same
    claim. Makes no assumption about the differences' distribution or scale, only that seeds are
    independent. Returns {"p_value", "positive", "negative", "zeros", "n" (nonzero differences),
    "smallest_p_value"}: the smallest p-value any outcome could reach with this n, 2 * 0.5^n; below
    6 nonzero differences it exceeds 0.05 and no outcome is significant at 5% (3 seeds: at best 0.25).
    """
    values = [float(d) for d in differences]
    if any(math.isnan(v) for v in values):
        raise ValueError("a sign test needs every difference measured, got NaN")
    positive = sum(v > 0 for v in values)
    negative = sum(v < 0 for v in values)
    n = positive + negative
    p_value = float(_scipy_stats.binomtest(positive, n, 0.5, alternative="two-sided").pvalue) if n else 1.0
    return {
        "p_value": p_value,
        "positive": positive,
        "negative": negative,
        "zeros": len(values) - n,
        "n": n,
        "smallest_p_value": min(1.0, 2 * 0.5**n),
    }


def calibration_summary(values: Sequence[float], bootstrap_sds: Sequence[float]) -> dict:
    """How the bootstrap standard deviation of one set compares with the real spread of the same number
    over disjoint, equally good sets (`values`, one per set; `bootstrap_sds`, each set's own bootstrap sd).

    Returns the values, the spread across sets (sd, ddof=1) with its 95% interval from the chi-square
    distribution of a sample variance (normal values assumed), the mean bootstrap sd, and their ratio
    bootstrap / spread: below 1 the bootstrap is overconfident (its intervals too narrow), and it is so
    beyond the noise of this check (`overconfident`) when the mean bootstrap sd lies below the lower end
    of the spread's 95% interval.
    """
    values = [float(v) for v in values]
    k = len(values)
    if k < 2 or len(bootstrap_sds) != k:
        raise ValueError(f"need >= 2 sets with one bootstrap sd each, got {k} values and {len(bootstrap_sds)} sds")
    spread = float(statistics.stdev(values))
    low = spread * math.sqrt((k - 1) / _scipy_stats.chi2.ppf(0.975, k - 1))
    high = spread * math.sqrt((k - 1) / _scipy_stats.chi2.ppf(0.025, k - 1))
    bootstrap = float(statistics.fmean(bootstrap_sds))
    return {
        "values": values,
        "mean": float(statistics.fmean(values)),
        "spread_sd": spread,
        "spread_sd_low": low,
        "spread_sd_high": high,
        "bootstrap_sd": bootstrap,
        "ratio": bootstrap / spread if spread > 0 else float("nan"),
        "overconfident": bool(bootstrap < low),
    }


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial share (sound near 0 and 1, unlike the normal one), by scipy."""
    if n <= 0:
        return (0.0, 1.0)
    ci = _scipy_stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def detectable_shares(n: int, threshold: float, power: float = 0.8, confidence: float = 0.95) -> dict[str, float]:
    """Which true shares a set of n items places on either side of `threshold` with probability `power`,
    when a share counts as above the threshold if its Wilson interval lies wholly at or above it, and as
    below if the interval lies wholly below it (ncsn.verdicts.share_state).

    Exact: with k0 the fewest successes whose interval lies at or above the threshold, a true share p is
    called above with probability P(Bin(n, p) >= k0) = I_p(k0, n - k0 + 1) (the regularized incomplete
    beta function), so the smallest share called above with probability `power` is the beta quantile
    Beta(k0, n - k0 + 1).ppf(power); likewise below the threshold with k1 the most successes whose
    interval lies below it. Returns {"n", "threshold", "power", "above_from", "below_under"}; a side that
    no count reaches at this n is NaN.
    """
    if n < 1:
        raise ValueError(f"detectable_shares needs at least one item, got n={n}")
    bounds = [wilson_interval(k, n, confidence) for k in range(n + 1)]
    above = [k for k, (low, _) in enumerate(bounds) if low >= threshold]
    below = [k for k, (_, high) in enumerate(bounds) if high < threshold]
    above_from = float(_scipy_stats.beta.ppf(power, above[0], n - above[0] + 1)) if above else float("nan")
    below_under = float(_scipy_stats.beta.ppf(1 - power, below[-1] + 1, n - below[-1])) if below else float("nan")
    return {"n": n, "threshold": threshold, "power": power, "above_from": above_from, "below_under": below_under}
