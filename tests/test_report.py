"""The report's verdicts follow from the measurements: the same numbers give 'reproduced' or 'not
reproduced' under the full profile, and 'not comparable' under a CPU-scale profile."""

from __future__ import annotations

import pytest

from ncsn.report.html import Claim
from ncsn.report.sections.fashion import fashion_claims
from ncsn.report.sections.stability import fid_claims
from ncsn.report.sections.sweep import sweep_claims

FULL = {"profile": "full", "fashion": {"variants": ["ref", "big_dropout"]}}
QUICK = dict(FULL, profile="quick")
MEASURED = {"extractor": ["inception"], "extractor_name": ["x"], "n_samples": [1000], "n_reference": [1000]}


def _sweep(best_eps, best_t, tv_large):
    grid = [(e, t) for e in (1e-6, 1e-5, 1e-4) for t in (10, 100)]
    return {"best": {"step_lr": best_eps, "n_steps_each": best_t, "fid": 1.0},
            "total_variation": {f"eps={e:g},T={t}": (tv_large if e == 1e-4 else 0.1) for e, t in grid},
            "reference_total_variation": 0.1, "fid_at_largest_step_lr": 9.0, "measured_with": MEASURED}


@pytest.mark.parametrize("best, expected", [((1e-5, 100), "reproduced"), ((1e-5, 10), "partly reproduced"),
                                            ((1e-4, 10), "not reproduced")])
def test_sweep_optimum_verdict(best, expected):
    optimum, _ = sweep_claims(_sweep(*best, tv_large=0.5), FULL)
    assert optimum.verdict == expected
    assert sweep_claims(_sweep(*best, tv_large=0.5), QUICK)[0].verdict == "not comparable"


def test_snow_noise_needs_rough_samples_at_the_largest_step():
    assert sweep_claims(_sweep(1e-5, 100, tv_large=0.5), FULL)[1].verdict == "reproduced"
    assert sweep_claims(_sweep(1e-5, 100, tv_large=0.12), FULL)[1].verdict == "not reproduced"


def _fashion(ref_collapse, other_collapse):
    def v(first):
        return {"epochs": [5, 15], "classes_covered": [8, 1], "entropy": [2.0, 0.3], "top_share": [0.2, 0.9],
                "first_collapsed_epoch": first}
    return {"variants": {"ref": v(ref_collapse), "big_dropout": v(other_collapse)}, "collapse_rule": "r",
            "measured_with": MEASURED, "classifier_test_accuracy": 0.9}


def test_collapse_and_longer_stability_verdicts():
    collapse, longer = fashion_claims(_fashion(5, 15), FULL)
    assert (collapse.verdict, longer.verdict) == ("reproduced", "reproduced")
    collapse, longer = fashion_claims(_fashion(15, 5), FULL)
    assert longer.verdict == "not reproduced"
    collapse, longer = fashion_claims(_fashion(None, None), FULL)
    assert collapse.verdict == "not reproduced" and longer.verdict == "not comparable"


def test_table1_claims_compare_ema_and_raw_and_never_compare_fid_scales():
    summary = {"measured_with": MEASURED, "variants": {"unet": {
        "epochs": [5, 10, 15], "fid_raw": [3.0, 11.0, 1.0], "fid_ema": [0.6, 0.3, 0.2],
        "epochs_where_ema_lower": 3, "n_epochs": 3, "ema_lowers_fid_every_epoch": True,
        "fid_var_raw": 18.0, "fid_var_ema": 0.03, "ema_lowers_variance": True}}}
    lower, variance, scale = fid_claims(summary, FULL)
    assert lower.verdict == variance.verdict == "reproduced"
    assert scale.verdict == "not comparable" and "1000 samples" in scale.note


def test_a_claim_rejects_an_unknown_verdict():
    with pytest.raises(ValueError):
        Claim("c", "p", "m", "maybe")
