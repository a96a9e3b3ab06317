"""Paired differences, power and the bootstrap's calibration, on features whose answer is known."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch_fidelity.metric_fid import fid_features_to_statistics

from ncsn import verdicts
from ncsn.metrics.fid import fid_from_features, fid_kid_intervals, resample_indices
from ncsn.stats import (
    Z_95,
    detectable_shares,
    difference,
    minimum_detectable_effect,
    n_for_power,
    paired_difference,
    power,
    sign_test,
    unpaired_difference,
    wilson_interval,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small tensors: threads only add overhead

N_BOOTSTRAP = 100
SEED = 7


def _normal(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture(scope="module")
def shared_noise_sets():
    """Set A: 200 x 16 features, off the reference by 1 along the first axis; set B: A moved by 0.1 more
    along that axis, image by image (as the EMA samples of a checkpoint follow the raw samples drawn from
    the same noise). FID(B) - FID(A) = 2 * 0.1 * (mean offset ~ 1) + 0.1^2 ~ 0.21; its paired noise is the
    resampled mean's, 2 * 0.1 / sqrt(200) ~ 0.014 (15 sd), while each FID's own bootstrap sd is ~ 0.17,
    so the unpaired interval of the difference (sd ~ 0.25) covers 0 (0.85 sd)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module-scoped, so set up before the one_torch_thread fixture
    try:
        reference = _normal(1000, 16, 1)
        a = _normal(200, 16, 2)
        a[:, 0] += 1.0
        b = a.clone()
        b[:, 0] += 0.1
        scores = [fid_kid_intervals(x, reference, n_bootstrap=N_BOOTSTRAP, kid_subsets=2, seed=SEED) for x in (a, b)]
    finally:
        torch.set_num_threads(threads)
    return a, b, reference, scores


@pytest.mark.parametrize("metric", ["fid", "kid"])
def test_paired_difference_sees_what_the_unpaired_one_cannot(shared_noise_sets, metric):
    *_, (a, b) = shared_noise_sets
    paired = paired_difference(
        b[metric]["value"], b[f"{metric}_replicates"], a[metric]["value"], a[f"{metric}_replicates"]
    )
    unpaired = unpaired_difference(b[metric]["value"], b[metric]["sd"], a[metric]["value"], a[metric]["sd"])
    assert paired["value"] == unpaired["value"] == pytest.approx(b[metric]["value"] - a[metric]["value"])
    assert paired["low"] > 0, paired  # the shift is detected (measured: ~10-15 sd)
    assert unpaired["low"] < 0 < unpaired["high"], unpaired  # inside the noise (measured: ~0.8 sd)
    assert paired["high"] - paired["low"] == pytest.approx(2 * Z_95 * paired["sd"])


def test_replicates_follow_the_shared_resample_indices(shared_noise_sets):
    a_features, _, reference, (a, b) = shared_noise_sets
    for scores in (a, b):
        assert len(scores["fid_replicates"]) == len(scores["kid_replicates"]) == N_BOOTSTRAP
        assert all(isinstance(v, float) for v in scores["fid_replicates"] + scores["kid_replicates"])
    indices = resample_indices(200, N_BOOTSTRAP, SEED)
    assert indices.shape == (N_BOOTSTRAP, 200)
    assert torch.equal(indices, resample_indices(200, N_BOOTSTRAP, SEED))  # depends on (n, seed) only
    assert torch.equal(indices[:40], resample_indices(200, 40, SEED))  # row b does not depend on n_bootstrap
    assert not torch.equal(indices, resample_indices(200, N_BOOTSTRAP, SEED + 1))
    # the bootstrap's replicate b is the FID of exactly these rows
    reference_stats = fid_features_to_statistics(reference)
    for row in (0, 57, N_BOOTSTRAP - 1):
        assert a["fid_replicates"][row] == fid_from_features(a_features[indices[row]], reference_stats)


def test_paired_difference_refuses_replicates_that_do_not_pair():
    with pytest.raises(ValueError, match="equal numbers"):
        paired_difference(1.0, [1.0, 2.0, 3.0], 0.5, [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference(1.0, [1.0], 0.5, [1.0])


def test_paired_and_unpaired_difference_on_hand_computed_numbers():
    paired = paired_difference(3.0, [3.0, 4.0, 5.0], 1.0, [1.0, 1.0, 1.0])  # differences 2, 3, 4: sd 1
    assert paired == pytest.approx({"value": 2.0, "sd": 1.0, "low": 2.0 - Z_95, "high": 2.0 + Z_95})
    unpaired = unpaired_difference(3.0, 3.0, 1.0, 4.0)
    assert unpaired == pytest.approx({"value": 2.0, "sd": 5.0, "low": 2.0 - 5 * Z_95, "high": 2.0 + 5 * Z_95})


def test_difference_pairs_only_where_both_sets_kept_equally_many_replicates():
    both = difference(3.0, [3.0, 4.0, 5.0], 9.0, 1.0, [1.0, 1.0, 1.0], 9.0)
    assert both["paired"] and both["sd"] == pytest.approx(1.0)
    for a_reps, b_reps in [([3.0, 4.0, 5.0], [1.0, 1.0]), (None, [1.0, 1.0, 1.0]), ([3.0], [1.0])]:
        d = difference(3.0, a_reps, 3.0, 1.0, b_reps, 4.0)
        assert not d["paired"] and d["sd"] == pytest.approx(5.0)


@pytest.mark.parametrize("sd", [0.01, 1.0, 7.5])
def test_power_functions_agree_with_each_other(sd):
    effect = minimum_detectable_effect(sd)
    assert effect == pytest.approx((norm.ppf(0.975) + norm.ppf(0.8)) * sd)
    # the textbook formula counts one tail; the other adds Phi(-2 z_0.975 - z_0.8) ~ 1e-6
    far_tail = norm.cdf(-2 * norm.ppf(0.975) - norm.ppf(0.8))
    assert power(effect, sd) == pytest.approx(0.8 + far_tail, abs=1e-12)
    assert abs(power(effect, sd) - 0.8) < 1e-6
    assert power(-effect, sd) == pytest.approx(power(effect, sd))  # two-sided
    assert power(0.0, sd) == pytest.approx(0.05)  # no effect: found at the test's level
    # n_for_power is the inverse: at its size the power is reached, one image fewer it is not
    sd_at_100, effect = 2.0 * sd, 0.9 * sd
    m = n_for_power(effect, sd_at_100, 100)
    assert power(effect, sd_at_100 * (100 / m) ** 0.5) >= 0.8 > power(effect, sd_at_100 * (100 / (m - 1)) ** 0.5)
    assert n_for_power(minimum_detectable_effect(sd_at_100), sd_at_100, 100) == 100


def test_power_matches_a_monte_carlo_z_test():
    g = torch.Generator().manual_seed(0)
    for effect, sd in [(1.0, 0.5), (0.3, 0.5), (minimum_detectable_effect(0.2), 0.2)]:
        measured = effect + sd * torch.randn(20000, generator=g, dtype=torch.float64)
        found = float((measured.abs() > Z_95 * sd).double().mean())
        assert found == pytest.approx(power(effect, sd), abs=0.02)


def test_power_refuses_what_has_no_answer():
    with pytest.raises(ValueError):
        power(1.0, 0.0)
    with pytest.raises(ValueError):
        n_for_power(0.0, 1.0, 100)


def test_sign_test_counts_and_exact_p_values():
    result = sign_test([0.3, 1.2, 0.0, 0.5, 2.0, 0.1, 0.7, 0.4])
    assert (result["positive"], result["negative"], result["zeros"], result["n"]) == (7, 0, 1, 7)
    assert result["p_value"] == pytest.approx(2 * 0.5**7)
    assert sign_test([1.0, -1.0, 2.0, -2.0])["p_value"] == pytest.approx(1.0)
    three = sign_test([1.0, 2.0, 3.0])  # three seeds, all one way: still p = 0.25
    assert three["p_value"] == pytest.approx(0.25) == three["smallest_p_value"]
    assert sign_test([0.0, 0.0])["p_value"] == 1.0


@pytest.mark.parametrize(
    "case, scale, shift",
    [
        # a model's samples: off the reference in mean and scale (what FIDs above the floor measure)
        ("shifted", [1.5] * 4 + [1.0] * 4, [1.0] + [0.0] * 7),
        # the data floor: samples from the reference's own distribution
        ("same", [1.0] * 8, [0.0] * 8),
    ],
)
def test_bootstrap_sd_is_not_overconfident(case, scale, shift):
    """The bootstrap sd of FID over one set of 100 (8-dimensional features, reference of 5000 held fixed)
    against the FID's actual spread over 20 disjoint sets of 100 from the same distribution.

    Why a factor 0.5-2: the spread of 20 sets is itself estimated to ~16% (1/sqrt(2 * 19)) and the bootstrap
    sd of one set varies with that set by ~10-15%, so a factor 2 either way is ~4 combined standard errors
    on the log scale. Measured over 6 draws: 0.8-1.2 for shifted sets. For sets from the reference's own
    distribution the bootstrap overstates the spread 1.5-2x (resamples repeat images, which adds to the
    FID's small-set bias term): conservative, never overconfident, so there only the lower bound is checked.
    """
    n, d = 100, 8
    reference_stats = fid_features_to_statistics(_normal(5000, d, 11))
    pool = _normal(21 * n, d, 12) * torch.tensor(scale, dtype=torch.float64) + torch.tensor(shift, dtype=torch.float64)
    sets = pool.split(n)
    spread = statistics.stdev(fid_from_features(s, reference_stats) for s in sets[:20])
    one = sets[20]
    bootstrap_sd = statistics.stdev(fid_from_features(one[i], reference_stats) for i in resample_indices(n, 200, 0))
    ratio = bootstrap_sd / spread
    assert ratio > 0.5, (bootstrap_sd, spread)
    if case == "shifted":
        assert ratio < 2.0, (bootstrap_sd, spread)


def _called(n: int, side: str, threshold: float = 0.5) -> np.ndarray:
    """Per count k of n: does the Wilson interval of k / n lie above (at or above) / below the threshold."""
    bounds = [wilson_interval(k, n) for k in range(n + 1)]
    return np.array([low >= threshold if side == "above" else high < threshold for low, high in bounds])


@pytest.mark.parametrize("n", [20, 100, 200])
def test_detectable_shares_have_the_requested_power(n):
    """Summed over counts (not the beta quantile the function uses): at the returned share a set of n is
    called above / below the threshold with probability 0.8, and a little closer to the threshold less often."""
    found = detectable_shares(n, 0.5, power=0.8)
    counts = np.arange(n + 1)
    for side, share, closer in (("above", found["above_from"], -0.02), ("below", found["below_under"], 0.02)):
        called = _called(n, side)
        assert binom.pmf(counts, n, share)[called].sum() == pytest.approx(0.8, abs=1e-6)
        assert binom.pmf(counts, n, share + closer)[called].sum() < 0.75
    assert 0.5 < found["above_from"] < 0.85 and found["below_under"] == pytest.approx(1 - found["above_from"])
    assert detectable_shares(200, 0.5)["above_from"] < detectable_shares(100, 0.5)["above_from"]


def test_two_proportion_power_matches_the_rule_it_describes():
    """proportion_lower_power against a Monte Carlo run of verdicts.proportion_lower itself."""
    rng = np.random.default_rng(0)
    n_a, n_b, p_a, p_b, draws = 100, 80, 0.55, 0.7, 20000
    k_a, k_b = rng.binomial(n_a, p_a, draws), rng.binomial(n_b, p_b, draws)
    simulated = np.mean([verdicts.proportion_lower(a / n_a, n_a, b / n_b, n_b) for a, b in zip(k_a, k_b)])
    exact = verdicts.proportion_lower_power(p_a, n_a, p_b, n_b)
    assert exact == pytest.approx(simulated, abs=0.015)  # Monte Carlo sd ~0.0035
    assert 0.3 < exact < 0.8


def test_detectable_share_drop_is_where_the_power_reaches_80_percent():
    drop = verdicts.detectable_share_drop(0.9, 100, 100)
    assert verdicts.proportion_lower_power(0.9 - drop, 100, 0.9, 100) == pytest.approx(0.8, abs=1e-3)
    assert 0.05 < drop < 0.3
    assert verdicts.detectable_share_drop(0.9, 400, 400) < drop  # larger sets see smaller drops
    assert math.isnan(verdicts.detectable_share_drop(0.05, 10, 10))  # nothing below 5% of 10 is seen
