"""Calibration of the FID / KID intervals: disjoint real-image sets scored like sample sets, their spread
set beside one set's bootstrap standard deviation (fid-reference --calibration-sets, the report's
"Measurement noise" section)."""

from __future__ import annotations

import json
import random

import pytest
import torch
from helpers import train_tiny_classifier

from ncsn import cli
from ncsn.data.images import write_synthetic
from ncsn.metrics.reference import calibration_images, reference_images
from ncsn.stats import calibration_summary


def test_a_bootstrap_narrower_than_the_real_spread_is_flagged_overconfident():
    rng = random.Random(0)
    values = [rng.gauss(10.0, 1.0) for _ in range(20)]  # 20 sets whose true sd is 1
    honest = calibration_summary(values, [1.0] * 20)
    assert honest["spread_sd_low"] < 1.0 < honest["spread_sd_high"]  # the chi-square interval covers the truth
    assert not honest["overconfident"] and 0.6 < honest["ratio"] < 1.6
    narrow = calibration_summary(values, [0.4] * 20)  # a bootstrap that claims 2.5x less noise than there is
    assert narrow["overconfident"] and narrow["ratio"] < 0.6
    cautious = calibration_summary(values, [2.0] * 20)  # too wide is cautious, not overconfident
    assert not cautious["overconfident"] and cautious["ratio"] > 1.4
    with pytest.raises(ValueError, match=">= 2 sets"):
        calibration_summary([1.0], [1.0])


def test_calibration_sets_are_disjoint_real_images_that_are_not_reference_images(tmp_path):
    data = write_synthetic(tmp_path / "mnist.pt", n_train=120, n_test=120)
    reference = reference_images(data, 40, seed=3)
    sets = calibration_images(data, 40, 16, 5, seed=3)
    assert [tuple(s.shape) for s in sets] == [(16, 1, 28, 28)] * 5
    seen = {bytes(image.numpy()) for image in reference}
    for images in sets:
        for image in images:
            key = bytes(image.numpy())
            assert key not in seen  # neither a reference image nor one of another set
            seen.add(key)
    # beyond the test split, the sets come from the training split (as the data floor does)
    from_train = calibration_images(data, 40, 16, 6, seed=3)
    assert len(from_train) == 6 and all(len(s) == 16 for s in from_train)
    with pytest.raises(Exception, match="calibration_sets"):
        calibration_images(data, 40, 16, 10, seed=3)


def test_fid_reference_scores_the_calibration_sets_like_sample_sets(tmp_path):
    data = write_synthetic(tmp_path / "mnist.pt", n_train=96, n_test=120)
    train_tiny_classifier(data, tmp_path / "clf.pt")
    out = tmp_path / "ref.json"
    argv = ["fid-reference", "--data", data, "--extractor", "domain", "--weights", tmp_path / "clf.pt"]
    argv += ["--n", 40, "--floor-n", 16, "--calibration-sets", 4, "--kid-subsets", 5, "--bootstrap", 20]
    argv += ["--cache-root", tmp_path / "cache", "--device", "cpu", "--out", out]
    assert cli.main([str(a) for a in argv]) == 0
    info = json.loads(out.read_text())
    calibrated = info["calibration"]
    assert calibrated["n_sets"] == 4 and calibrated["n_samples"] == 16
    for metric in ("fid", "kid"):
        c = calibrated[metric]
        assert len(c["values"]) == 4 and c["spread_sd"] > 0 and c["bootstrap_sd"] > 0
        assert c["spread_sd_low"] < c["spread_sd"] < c["spread_sd_high"]
    # the first calibration set is the data floor's: the same images, scored the same way
    assert calibrated["fid"]["values"][0] == pytest.approx(info["floor"]["fid"]["value"])
    assert calibrated["kid"]["values"][0] == pytest.approx(info["floor"]["kid"]["value"])
    assert torch.equal(calibration_images(data, 40, 16, 4, seed=0)[0], calibration_images(data, 40, 16, 1, seed=0)[0])
