"""The verdict rules and the intervals they use: each rule decided on numbers whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ncsn import verdicts
from ncsn.metrics.classes import coverage_summary, total_variation_summary
from ncsn.metrics.fid import fid_kid_intervals
from ncsn.report.sections.fashion import fashion_claims
from ncsn.report.sections.sweep import optimum_claim, snow_claim
from ncsn.report.sections.table1_claims import fid_claims, loss_claims
from ncsn.stats import wilson_interval

LAPTOP = {"profile": "laptop", "fashion": {"variants": ["ref", "big"]}}
QUICK = {"profile": "quick", "fashion": {"variants": ["ref", "big"]}}


def test_compare_separates_only_beyond_the_noise():
    assert verdicts.compare(10.0, 1.0, 20.0, 1.0) == -1
    assert verdicts.compare(20.0, 1.0, 10.0, 1.0) == 1
    # 2 apart with a difference noise of sqrt(2): 1.41 standard errors, inside the noise
    assert verdicts.compare(10.0, 1.0, 12.0, 1.0) == 0
    assert verdicts.compare(10.0, float("nan"), 20.0, 1.0) == 0  # unknown noise decides nothing


def test_significant_rises_and_excess_spread():
    assert verdicts.significant_rises([3.0, 11.0, 1.0], [0.5, 0.5, 0.5]) == [1]
    assert verdicts.significant_rises([3.0, 3.5, 3.2], [0.5, 0.5, 0.5]) == []
    # values that vary exactly as much as their own noise have no excess spread
    assert verdicts.excess_spread([1.0, -1.0, 1.0, -1.0], [2.0] * 4) == 0.0
    assert verdicts.excess_spread([0.0, 10.0, 0.0, 10.0], [0.1] * 4) == pytest.approx(math.sqrt(100 / 3 - 0.01))


@pytest.mark.parametrize(
    "raw, ema, expected",
    [(1, 0, "reproduced"), (2, 1, "partly reproduced"), (0, 0, "not reproduced"), (1, 1, "not reproduced")],
)
def test_stability_rule(raw, ema, expected):
    assert verdicts.stability_verdict(raw, ema) == expected


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    low, high = wilson_interval(0, 100)
    assert low == 0.0 and high == pytest.approx(0.0370, abs=1e-3)


def test_share_states_and_collapse_rules():
    assert verdicts.share_state(0.55, 0.75) == "collapsed"
    assert verdicts.share_state(0.10, 0.30) == "diverse"
    assert verdicts.share_state(0.40, 0.60) == "undecided"
    assert verdicts.collapse_verdict(["diverse", "collapsed"]) == "reproduced"
    assert verdicts.collapse_verdict(["collapsed", "diverse"]) == "partly reproduced"
    assert verdicts.collapse_verdict(["diverse", "diverse"]) == "not reproduced"
    assert verdicts.capacity_verdict(["diverse", "collapsed"], ["diverse", "diverse"], [False, True]) == "reproduced"
    assert (
        verdicts.capacity_verdict(["diverse", "diverse"], ["diverse", "diverse"], [True, False]) == "partly reproduced"
    )
    assert verdicts.capacity_verdict(["collapsed"], ["collapsed"], [False]) == "not reproduced"
    assert verdicts.proportion_lower(0.2, 100, 0.6, 100)
    assert not verdicts.proportion_lower(0.5, 100, 0.55, 100)


def test_pipeline_profiles_never_decide():
    assert verdicts.gate(QUICK, "reproduced") == "not comparable"
    assert verdicts.gate(LAPTOP, "not reproduced") == "not reproduced"


def _gaussian(n, d, mean, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + torch.tensor(mean, dtype=torch.float64)


def test_fid_interval_covers_the_analytic_distance_and_shrinks_with_n():
    # N(mu, I) against N(0, I): FID = |mu|^2 = 1 exactly in the limit
    reference = _gaussian(4000, 4, [0.0] * 4, 0)
    large = fid_kid_intervals(_gaussian(2000, 4, [1.0, 0, 0, 0], 1), reference, n_bootstrap=60, kid_subsets=5)
    small = fid_kid_intervals(_gaussian(200, 4, [1.0, 0, 0, 0], 2), reference, n_bootstrap=60, kid_subsets=5)
    assert large["fid"]["low"] < 1.0 < large["fid"]["high"]
    assert 0 < large["fid"]["sd"] < small["fid"]["sd"]
    same = fid_kid_intervals(_gaussian(2000, 4, [0.0] * 4, 3), reference, n_bootstrap=60, kid_subsets=5)
    # a set from the reference's own distribution differs from the shifted one beyond the noise
    assert verdicts.compare(same["fid"]["value"], same["fid"]["sd"], large["fid"]["value"], large["fid"]["sd"]) == -1
    assert same["kid"]["low"] < 0.01 < large["kid"]["low"]


def test_coverage_and_pixel_variation_carry_their_intervals():
    predictions = torch.tensor([3] * 60 + [1] * 40)
    summary = coverage_summary(predictions, 10)
    assert summary["top_class"] == 3 and summary["n"] == 100
    assert summary["top_share_low"] < 0.6 < summary["top_share_high"]
    flat = torch.zeros(50, 1, 28, 28, dtype=torch.uint8)
    assert total_variation_summary(flat) == {"mean": 0.0, "se": 0.0, "n": 50}


def _table1(raw, ema, sd=0.2):
    epochs = [1, 5, 10, 15][: len(raw)]
    return pd.DataFrame(
        {
            "variant": "unet",
            "epoch": epochs,
            "fid_raw": raw,
            "fid_ema": ema,
            "fid_sd_raw": sd,
            "fid_sd_ema": sd,
            "n_samples": 100,
            "extractor": "domain",
            "floor_fid": 0.5,
            "floor_fid_sd": 0.1,
            "floor_kid": 0.0,
            "floor_kid_sd": 0.001,
        }
    )


SUMMARY = {"measured_with": {"extractor": ["domain"], "n_samples": [100], "n_reference": [2000]}}


def test_table1_claims_follow_the_rules():
    spike = fid_claims(_table1([20, 3.0, 11.3, 1.0], [30, 0.6, 0.3, 0.2]), SUMMARY, LAPTOP)
    verdict = {c.claim.split(" (")[0]: c.verdict for c in spike}
    assert verdict["EMA lowers the FID at every evaluated epoch"] == "reproduced"
    assert verdict["The raw weights' FID spikes during training; the EMA weights' does not"] == "reproduced"
    assert verdict["With EMA the FID drops to 0.22"] == "not comparable"
    # the same spike inside a noise of sd 5 is no spike, and EMA is nowhere lower beyond it
    noisy = {
        c.claim.split(" (")[0]: c.verdict
        for c in fid_claims(_table1([20, 3.0, 11.3, 1.0], [30, 0.6, 0.3, 0.2], sd=5.0), SUMMARY, LAPTOP)
    }
    assert noisy["The raw weights' FID spikes during training; the EMA weights' does not"] == "not reproduced"
    assert noisy["EMA lowers the FID at every evaluated epoch"] == "not reproduced"
    assert all(
        c.verdict == "not comparable" for c in fid_claims(_table1([20, 3, 11, 1], [30, 0.6, 0.3, 0.2]), SUMMARY, QUICK)
    )


def test_loss_claim_uses_the_paired_standard_error():
    losses = pd.DataFrame(
        {
            "variant": "unet",
            "epoch": [1, 5, 10, 15],
            "heldout_loss_raw": [40.0, 30, 28, 27],
            "heldout_loss_ema": [150.0, 29, 27.9, 26],
            "heldout_loss_diff_se": [2.0, 0.2, 0.2, 0.2],
        }
    )
    for column in ("heldout_loss_raw", "heldout_loss_ema"):
        losses[column + "_per_dim"] = losses[column] / 784
    (claim,) = loss_claims(losses, LAPTOP)
    # epoch 1: EMA higher; epoch 10: 0.1 < 1.96 * 0.2, inside the noise; epochs 5 and 15 lower
    assert claim.verdict == "partly reproduced" and "2/4 of the poster's epochs" in claim.measured


def _sweep(kids, sd=0.002, tv=0.1, shared=0.0, n_boot=200, seed=0):
    """A figure1.json: per cell its KID, bootstrap replicates (noise `sd`, of which the part `shared` is common
    to every cell, as for cells drawn from the same noise and resampled alike), and pixel variation."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(n_boot)
    cells = {}
    for (eps, T), kid in kids.items():
        own = rng.standard_normal(n_boot)
        noise = sd * (math.sqrt(shared) * common + math.sqrt(1 - shared) * own)
        cells[f"eps={eps:g},T={T}"] = {
            "step_lr": eps,
            "n_steps_each": T,
            "fid": kid * 1000,
            "fid_sd": sd * 1000,
            "kid": kid,
            "kid_sd": sd,
            "kid_replicates": list(kid + noise),
            "n_samples": 200,
            "total_variation": tv if eps < 1e-3 else 0.4,
            "total_variation_se": 0.01,
        }
    best = min(cells.values(), key=lambda c: c["fid"])
    return {"cells": cells, "best": best, "reference_total_variation": 0.1}


GRID = {(1e-5, 10): 0.03, (1e-5, 100): 0.005, (1e-4, 100): 0.015, (1e-3, 100): 0.08, (1e-3, 10): 0.09}


def test_sweep_claims_follow_the_rules():
    assert optimum_claim(_sweep(GRID), LAPTOP).verdict == "reproduced"
    assert snow_claim(_sweep(GRID), LAPTOP).verdict == "reproduced"
    # the best cell far away from the poster's: check (a) fails, (b) and (c) still hold
    shifted = {**GRID, (1e-6, 100): 0.0005}
    claim = optimum_claim(_sweep(shifted, sd=0.0005), LAPTOP)
    assert claim.verdict == "partly reproduced"
    assert [c["outcome"] for c in claim.evidence["cases"] if c["check"] == "a"] == ["absent"]
    # a flat grid, measured precisely: (a) holds, (b) and (c) are absent (no worse cell, the effect excluded)
    flat = {key: 0.05 for key in GRID}
    assert optimum_claim(_sweep(flat), LAPTOP).verdict == "partly reproduced"
    assert snow_claim(_sweep(flat, tv=0.1), LAPTOP).verdict == "partly reproduced"  # speckled, KID not worse


def test_sweep_claims_are_inconclusive_where_the_noise_covers_the_effect():
    """Cells 1.5x apart in truth, but measured with noise as large as the effect: neither seen nor excluded."""
    noisy = {(1e-5, 10): 0.0075, (1e-5, 100): 0.005, (1e-4, 100): 0.0075}
    claim = optimum_claim(_sweep(noisy, sd=0.004), LAPTOP)
    outcomes = {c["check"]: c["outcome"] for c in claim.evidence["cases"]}
    assert outcomes["b"] == outcomes["c"] == "inconclusive" and claim.verdict in ("inconclusive", "partly reproduced")
    assert claim.evidence["metric"] == "KID" and claim.evidence["cases"][1]["minimum_detectable_effect"] > 0.0025


def test_sweep_cells_are_compared_paired():
    """Cells that share most of their noise: the paired difference sees a 0.004 step that the cells' own
    intervals (sd 0.004 each) cannot."""
    kids = {(1e-5, 10): 0.009, (1e-5, 100): 0.005, (1e-4, 100): 0.009}
    paired = optimum_claim(_sweep(kids, sd=0.004, shared=0.98), LAPTOP).evidence["cases"]
    assert all(c["paired"] for c in paired)
    assert {c["check"]: c["outcome"] for c in paired}["c"] == "present"
    for cell in (summary := _sweep(kids, sd=0.004, shared=0.98))["cells"].values():
        del cell["kid_replicates"]
    unpaired = optimum_claim(summary, LAPTOP).evidence["cases"]
    assert not any(c["paired"] for c in unpaired[1:])
    assert {c["check"]: c["outcome"] for c in unpaired}["c"] == "inconclusive"


def test_fashion_claims_follow_the_rules():
    def variant(shares, n=100):
        bounds = [wilson_interval(round(s * n), n) for s in shares]
        return {
            "epochs": [1, 3],
            "top_class": ["Shirt", "Shirt"],
            "top_share": shares,
            "n_samples": [n, n],
            "top_share_low": [b[0] for b in bounds],
            "top_share_high": [b[1] for b in bounds],
            "classes_covered": [8, 2],
            "entropy": [2.0, 0.8],
        }

    summary = {"variants": {"ref": variant([0.2, 0.8]), "big": variant([0.15, 0.3])}}
    collapse, capacity = fashion_claims(summary, LAPTOP)
    assert collapse.verdict == "reproduced" and capacity.verdict == "reproduced"
    summary = {"variants": {"ref": variant([0.2, 0.25]), "big": variant([0.2, 0.22])}}
    collapse, capacity = fashion_claims(summary, LAPTOP)
    assert collapse.verdict == "not reproduced" and capacity.verdict == "not reproduced"


def test_a_claim_rejects_an_unknown_verdict():
    from ncsn.report.html import Claim

    with pytest.raises(ValueError):
        Claim("c", "p", "m", "maybe")


def test_floor_images_are_real_test_images_disjoint_from_the_reference(tmp_path):
    from ncsn.data.images import write_synthetic
    from ncsn.errors import NcsnError
    from ncsn.metrics.reference import floor_images, reference_images

    data = write_synthetic(tmp_path / "mnist.pt", n_train=30, n_test=60)
    reference = reference_images(data, 40, seed=3)
    as_rows = {bytes(image.flatten().tolist()) for image in reference}
    floor, split = floor_images(data, 40, 20, seed=3)
    assert split == "test" and len(floor) == 20
    assert not any(bytes(image.flatten().tolist()) in as_rows for image in floor)
    # more than the test split holds besides the reference: training images (the paper-scale case)
    floor, split = floor_images(data, 40, 25, seed=3)
    assert split == "train" and len(floor) == 25
    assert not any(bytes(image.flatten().tolist()) in as_rows for image in floor)
    with pytest.raises(NcsnError, match="n_samples"):
        floor_images(data, 40, 31, seed=3)


def test_summary_markdown_has_one_row_per_claim_and_escapes_pipes():
    from ncsn.report.build import claims_markdown

    claims = [
        {"section": "S", "claim": "a | b", "poster": "p", "measured": "m", "verdict": "reproduced"},
        {"section": "S", "claim": "c", "poster": "p", "measured": "m", "verdict": "not reproduced"},
    ]
    rows = [
        line
        for line in claims_markdown(claims, {"profile": "laptop", "seed": 0}).splitlines()
        if line.startswith("| S")
    ]
    assert len(rows) == 2 and "a \\| b" in rows[0] and rows[1].endswith("**not reproduced** |")


def test_the_95_percent_z_is_the_normal_quantile():
    """One z for every interval of the study (ncsn.stats), the normal 97.5% quantile to 7 digits."""
    from scipy.stats import norm

    from ncsn.stats import Z_95

    assert abs(Z_95 - norm.ppf(0.975)) < 1e-6
    assert verdicts.Z == Z_95


# Directional claims with a size: value and poster effect signed so that > 0 is the claim. With sd 1 the
# 95% interval is value +- 1.96; the poster's effect is 5.
@pytest.mark.parametrize(
    "value, sd, expected",
    [
        (6.0, 1.0, "present"),  # [4.04, 7.96]: above 0, covers 5
        (9.0, 1.0, "present"),  # [7.04, 10.96]: above 0 and above 5, an effect at least the poster's
        (2.5, 1.0, "present, smaller"),  # [0.54, 4.46]: excludes both 0 and 5
        (1.0, 1.0, "absent"),  # [-0.96, 2.96]: covers 0, excludes 5
        (-4.0, 1.0, "absent"),  # [-5.96, -2.04]: the opposite direction
        (2.5, 2.0, "inconclusive"),  # [-1.42, 6.42]: covers both 0 and 5
        (2.5, float("nan"), "inconclusive"),  # unknown noise decides nothing
    ],
)
def test_decide_effect_outcomes(value, sd, expected):
    assert verdicts.decide_effect(value, sd, poster_effect=5.0) == expected
    assert expected in verdicts.EFFECT_OUTCOMES


def test_decide_effect_needs_a_positive_poster_effect():
    with pytest.raises(ValueError, match="positive"):
        verdicts.decide_effect(1.0, 1.0, poster_effect=-2.0)


@pytest.mark.parametrize(
    "outcomes, expected",
    [
        (["present", "present", "present"], "reproduced"),
        (["present", "absent", "present"], "partly reproduced"),
        (["present", "inconclusive"], "partly reproduced"),
        (["present, smaller", "present, smaller"], "partly reproduced"),  # everywhere, but smaller
        (["absent", "inconclusive", "absent"], "inconclusive"),
        (["inconclusive"], "inconclusive"),
        (["absent", "absent"], "not reproduced"),
    ],
)
def test_effect_verdict_aggregates_the_cases(outcomes, expected):
    assert verdicts.effect_verdict(outcomes) == expected


def test_effect_verdict_refuses_no_cases_and_unknown_outcomes():
    with pytest.raises(ValueError):
        verdicts.effect_verdict([])
    with pytest.raises(ValueError, match="unknown"):
        verdicts.effect_verdict(["present", "maybe"])


def test_decide_across_seeds_by_sign_test():
    assert verdicts.decide_across_seeds([0.5, 1.0, 0.2, 0.8, 0.1, 0.3]) == "present"  # p = 2 / 64
    assert verdicts.decide_across_seeds([-0.5, -1.0, -0.2, -0.8, -0.1, -0.3]) == "absent"  # the opposite
    assert verdicts.decide_across_seeds([0.5, 1.0, 0.2]) == "inconclusive"  # 3 seeds: p >= 0.25 always
    assert verdicts.decide_across_seeds([0.5, -1.0, 0.2, 0.8, -0.1, 0.3]) == "inconclusive"


def test_new_rules_are_written_down():
    for key in ("paired_difference", "effect", "effect_cases", "across_seeds"):
        assert verdicts.RULES[key]
    for key in ("difference", "loss", "ema_fid", "stability", "optimum", "snow", "collapse", "capacity"):
        assert key in verdicts.RULES  # callers still read the earlier rules
