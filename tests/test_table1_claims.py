"""Table 1's paired differences (ncsn.evaluation.table1) and the claims built on them
(ncsn.report.sections.table1_claims): constructed evaluations and tables whose outcome is known."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pandas as pd
import pytest

from ncsn import cli, stats, verdicts
from ncsn.evaluation import table1
from ncsn.report.sections.stability import side_by_side
from ncsn.report.sections.table1_claims import SPIKE_RATIO, convention_claims, fid_claims, loss_claims

LAPTOP = {"profile": "laptop", "variants": {"unet": {"ema_rate": 0.999}}}
QUICK = {"profile": "quick", "variants": {"unet": {"ema_rate": 0.999}}}
SUMMARY = {"measured_with": {"extractor": ["domain"], "n_samples": [200], "n_reference": [2000]}}
B = 50  # bootstrap resamples


# ---- evaluation JSONs ------------------------------------------------------------------------------------


def _shared_noise(seed: int = 0, sd: float = 0.01) -> np.ndarray:
    """Per-resample noise that every set of the same size and sampling seed shares."""
    return np.random.default_rng(seed).normal(0.0, sd, B)


def _evaluation(variant, seed, epoch, weights, kid, fid, *, replicates=True, jitter=0.0005, sampling_seed=0):
    """An evaluation JSON as `evaluate` writes it, its replicates the shared noise plus a little own noise."""
    own = np.random.default_rng(zlib.crc32(f"{variant}/{seed}/{epoch}/{weights}".encode()))
    kid_reps = kid + _shared_noise() + own.normal(0.0, jitter, B)
    fid_reps = fid + 10 * _shared_noise() + own.normal(0.0, 10 * jitter, B)
    ev = {
        "fid": fid,
        "fid_interval": {"sd": float(np.std(fid_reps, ddof=1))},
        "kid_mean": kid,
        "kid_interval": {"sd": float(np.std(kid_reps, ddof=1))},
        "kid_std": 0.001,
        "n_bootstrap": B,
        "n_samples": 200,
        "n_reference": 2000,
        "kid_subset_size": 200,
        "extractor": "domain",
        "extractor_name": "ncsn-domain-test",
        "coverage": {"classes_covered": 10, "entropy": 2.3, "top_class": 1, "top_share": 0.12},
        "sample_info": {
            "variant": variant,
            "training_seed": seed,
            "epoch": epoch,
            "weights": weights,
            "step_lr": 1e-5,
            "n_steps_each": 100,
            "seed": sampling_seed,
        },
        "samples": f"samples/{variant}/{seed}/{epoch}/{weights}.pt",
    }
    if replicates:
        ev["fid_replicates"] = fid_reps.tolist()
        ev["kid_replicates"] = kid_reps.tolist()
    return ev


def _metrics(epochs=(5, 10)) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": list(epochs),
            "step": list(epochs),
            "train_loss": 100.0,
            "heldout_loss_raw": 120.0,
            "heldout_loss_ema": 110.0,
            "heldout_loss_diff_se": 1.0,
        }
    )


def test_raw_minus_ema_is_paired_and_its_sd_is_the_replicate_differences():
    evaluations = [
        _evaluation("unet", 0, e, w, kid, 10 * kid)
        for e in (5, 10)
        for w, kid in (("raw", 0.010), ("ema", 0.008), ("ema_warmup", 0.007))
    ]
    sets = table1.evaluation_sets(evaluations)
    t = table1.build_table(table1.evaluation_rows(evaluations), {("unet", 0): _metrics()}, sets)
    row = t[t.epoch == 5].iloc[0]
    assert row.kid_diff_raw_ema == pytest.approx(0.002)
    raw, ema = sets[("unet", 0, 5, "raw")], sets[("unet", 0, 5, "ema")]
    expected = np.std(np.subtract(raw["kid_replicates"], ema["kid_replicates"]), ddof=1)
    assert row.kid_diff_raw_ema_sd == pytest.approx(expected)
    # the shared noise (sd 0.01) cancels: the paired sd is the own noise's, ~ 0.0005 sqrt(2)
    assert row.kid_diff_raw_ema_sd < 0.2 * math.hypot(row.kid_sd_raw, row.kid_sd_ema)
    assert {"fid_diff_raw_ema_sd", "kid_diff_raw_ema_warmup", "kid_diff_ema_ema_warmup_sd"} <= set(t)
    assert row.kid_diff_raw_ema_warmup == pytest.approx(0.003)
    changes = table1.consecutive_epochs(sets)
    assert [(c["weights"], c["epoch_from"], c["epoch_to"]) for c in changes] == [
        ("ema", 5, 10),
        ("ema_warmup", 5, 10),
        ("raw", 5, 10),
    ]
    assert all(c["paired"] and c["kid_change"] == pytest.approx(0.0) and c["kid_change_sd"] < 0.002 for c in changes)


def test_sets_without_replicates_or_with_other_noise_are_not_paired():
    evaluations = [
        _evaluation("unet", 0, 5, "raw", 0.010, 0.1, replicates=False),
        _evaluation("unet", 0, 5, "ema", 0.008, 0.08, replicates=False),
        _evaluation("unet", 0, 10, "raw", 0.010, 0.1),
        _evaluation("unet", 0, 10, "ema", 0.008, 0.08, sampling_seed=1),  # other sampling noise
    ]
    sets = table1.evaluation_sets(evaluations)
    t = table1.build_table(table1.evaluation_rows(evaluations), {("unet", 0): _metrics()}, sets)
    assert t.kid_diff_raw_ema.tolist() == pytest.approx([0.002, 0.002])  # the difference stays
    assert t.kid_diff_raw_ema_sd.isna().all() and t.fid_diff_raw_ema_sd.isna().all()
    assert "kid_diff_raw_ema_warmup" not in t  # the warm-up EMA was not sampled
    changes = table1.consecutive_epochs(sets)
    assert all(not c["paired"] and c["kid_change_sd"] is None for c in changes)


def test_table1_command_writes_the_paired_columns_and_the_consecutive_epochs(tmp_path):
    paths = []
    for seed in (0, 1):
        for epoch in (5, 10):
            for weights, kid in (("raw", 0.01), ("ema", 0.005)):
                path = tmp_path / f"{seed}_{epoch}_{weights}.json"
                path.write_text(json.dumps(_evaluation("unet", seed, epoch, weights, kid, 10 * kid)))
                paths.append(path)
    _metrics().to_csv(tmp_path / "metrics.csv", index=False)
    argv = ["table1", "--evaluations", *paths, "--metrics"]
    argv += [f"unet:{s}={tmp_path / 'metrics.csv'}" for s in (0, 1)]
    argv += ["--csv", tmp_path / "t1.csv", "--png", tmp_path / "t1.png", "--json", tmp_path / "t1.json"]
    assert cli.main([str(a) for a in argv]) == 0
    t = pd.read_csv(tmp_path / "t1.csv")
    assert len(t) == 4 and t.seed.tolist() == [0, 0, 1, 1]
    assert t.kid_diff_raw_ema.tolist() == pytest.approx([0.005] * 4) and (t.kid_diff_raw_ema_sd < 0.002).all()
    summary = json.loads((tmp_path / "t1.json").read_text())
    assert len(summary["consecutive_epochs"]) == 4  # 2 seeds x 2 weights x one pair of epochs
    assert summary["variants"]["unet"]["seed"] == 0


# ---- tables as table1.csv holds them --------------------------------------------------------------------


def _fid_table(kid_raw, kid_ema, diff_sd, *, seeds=(0,), epochs=(5, 10, 15), unpaired_sd=0.01, paired=True):
    """Table 1 rows per (seed, epoch): KID raw / EMA (one value per epoch, or one list per seed) and the
    paired sd of their difference; each KID's own (unpaired) sd is `unpaired_sd`."""
    rows = []
    for i, seed in enumerate(seeds):
        raw = kid_raw[i] if isinstance(kid_raw[0], list) else kid_raw
        ema = kid_ema[i] if isinstance(kid_ema[0], list) else kid_ema
        for j, epoch in enumerate(epochs):
            row = {
                "variant": "unet",
                "seed": seed,
                "epoch": epoch,
                "kid_mean_raw": raw[j],
                "kid_mean_ema": ema[j],
                "kid_sd_raw": unpaired_sd,
                "kid_sd_ema": unpaired_sd,
                "fid_raw": 100 * raw[j] + 1,
                "fid_ema": 100 * ema[j] + 1,
                "fid_sd_raw": 0.5,
                "fid_sd_ema": 0.5,
                "n_samples": 200,
                "extractor": "domain",
                "floor_fid": 1.0,
                "floor_fid_sd": 0.1,
                "floor_kid": 0.0,
                "floor_kid_sd": 0.001,
                "heldout_loss_raw": 120.0,
                "heldout_loss_ema": 110.0,
            }
            if paired:
                row["kid_diff_raw_ema"] = raw[j] - ema[j]
                row["kid_diff_raw_ema_sd"] = diff_sd
                row["fid_diff_raw_ema"] = 100 * (raw[j] - ema[j])
                row["fid_diff_raw_ema_sd"] = 100 * diff_sd
            rows.append(row)
    return pd.DataFrame(rows)


def _claims(table, summary=SUMMARY, config=LAPTOP):
    return {c.claim.split(" (")[0]: c for c in fid_claims(table, summary, config)}


EMA_FID = "EMA lowers the FID at every evaluated epoch"
SPIKE = "The raw weights' FID spikes during training; the EMA weights' does not"


@pytest.mark.parametrize(
    "kid_ema, diff_sd, expected",
    [
        ([0.001, 0.001, 0.001], 0.0005, "reproduced"),  # EMA 5x lower, as large as the poster's ratio asks
        ([0.005, 0.001, 0.001], 0.0005, "partly reproduced"),  # epoch 5: half the raw KID, less than x4.87
        ([0.001, 0.001, 0.001], 0.02, "inconclusive"),  # the intervals cover both 0 and the poster's effect
        ([0.01, 0.0101, 0.0099], 0.0005, "not reproduced"),  # EMA = raw, the poster's effect excluded
    ],
)
def test_ema_kid_claim_outcomes(kid_ema, diff_sd, expected):
    claim = _claims(_fid_table([0.01, 0.01, 0.01], kid_ema, diff_sd))[EMA_FID]
    assert claim.verdict == expected
    ev = claim.evidence
    assert ev["metric"] == "KID" and ev["paired"] is True and len(ev["cases"]) == 3
    # the poster's effect in our units: raw KID x (1 - 1 / ratio), at epoch 15 ratio 0.9717 / 0.2249
    assert ev["poster_effect"] == pytest.approx(0.01 * (1 - 0.2249 / 0.9717))
    assert ev["minimum_detectable_effect"] == pytest.approx(2.8016 * diff_sd, rel=1e-3)
    assert 0 <= ev["power"] <= 1 and "MDE" in claim.measured and "KID" in claim.note
    json.dumps(ev, allow_nan=False)  # claims.json takes JSON values only


def test_shared_noise_lets_the_paired_rule_decide_where_the_unpaired_cannot():
    """Raw and EMA differ by 0.004 (KID); each KID's own sd is 0.01 (unpaired sd of the difference 0.014:
    the interval covers both 0 and the poster's effect), but the sets share their noise and the paired sd
    is 0.0005: the difference is decided."""
    raw, ema = [0.005] * 3, [0.001] * 3
    paired = _claims(_fid_table(raw, ema, 0.0005, unpaired_sd=0.01))[EMA_FID]
    unpaired = _claims(_fid_table(raw, ema, 0.0005, unpaired_sd=0.01, paired=False))[EMA_FID]
    assert paired.verdict == "reproduced" and all(c["outcome"] == "present" for c in paired.evidence["cases"])
    assert unpaired.verdict == "inconclusive" and unpaired.evidence["paired"] is False
    assert "(unpaired)" in unpaired.measured


def test_three_training_seeds_give_nine_cases_and_a_sign_test_that_cannot_decide():
    table = _fid_table(
        [[0.01] * 3, [0.01] * 3, [0.01] * 3],
        [[0.001] * 3, [0.001] * 3, [0.005, 0.001, 0.001]],
        0.0005,
        seeds=(0, 1, 2),
    )
    claim = _claims(table)[EMA_FID]
    assert len(claim.evidence["cases"]) == 9 and {c["seed"] for c in claim.evidence["cases"]} == {0, 1, 2}
    assert claim.verdict == "partly reproduced"  # seed 2, epoch 5: an effect smaller than the poster's
    tests = claim.evidence["sign_tests"]
    assert [t["epoch"] for t in tests] == [5, 10, 15]
    assert all(t["positive"] == 3 and t["p_value"] == pytest.approx(0.25) for t in tests)
    assert "p < 0.05" in claim.note and "seed 2, epoch 5" in claim.measured
    assert claim.evidence["headline"] == {"seed": 0, "epoch": 15}


def test_pipeline_profiles_and_unusable_cases_are_not_comparable():
    assert {c.verdict for c in fid_claims(_fid_table([0.01] * 3, [0.001] * 3, 0.0005), SUMMARY, QUICK)} == {
        "not comparable"
    }
    # raw KID not above 0: the poster's ratio gives no effect in our units; the case is left out
    claim = _claims(_fid_table([-0.001, 0.01, 0.01], [0.001] * 3, 0.0005))[EMA_FID]
    assert len(claim.evidence["cases"]) == 2 and "Left out" in claim.measured
    early = _claims(_fid_table([0.01, 0.01], [0.001, 0.001], 0.0005, epochs=(1, 3)))
    assert early[EMA_FID].verdict == "not comparable" and SPIKE not in early


def test_the_absolute_fid_claim_carries_its_number_interval_and_data_floor():
    claim = _claims(_fid_table([0.01] * 3, [0.001, 0.002, 0.003], 0.0005))["With EMA the FID drops to 0.22"]
    assert claim.verdict == "not comparable"
    e = claim.evidence
    assert (e["metric"], e["epoch"], e["seed"], e["poster_value"]) == ("FID", 15, 0, 0.2249)
    assert e["value"] == pytest.approx(1.3) and e["interval"] == pytest.approx([1.3 - 0.98, 1.3 + 0.98], abs=1e-3)
    assert e["data_floor"]["fid_interval"] == pytest.approx([1.0 - 0.196, 1.0 + 0.196], abs=1e-3)
    assert "feature extractor" in e["not_comparable_because"]
    json.dumps(e)  # claims.json takes it as it is


# ---- the spike ------------------------------------------------------------------------------------------


def _spike(raw, ema, sd, seeds=(0,), epochs=(5, 10, 15), consecutive=True):
    """Table and table1.json for KID series of raw and EMA (per epoch) with paired changes of sd `sd`."""
    table = _fid_table([raw] * len(seeds), [ema] * len(seeds), 0.0005, seeds=seeds, epochs=epochs)
    changes = []
    for seed in seeds:
        for weights, series in (("raw", raw), ("ema", ema)):
            for i in range(1, len(epochs)):
                change = {"kid_change": series[i] - series[i - 1], "kid_change_sd": sd}
                changes.append(
                    {"variant": "unet", "seed": seed, "weights": weights, "epoch_from": epochs[i - 1]}
                    | {"epoch_to": epochs[i], "fid_change": None, "fid_change_sd": None, "paired": True}
                    | change
                )
    summary = {**SUMMARY, "consecutive_epochs": changes} if consecutive else SUMMARY
    return _claims(table, summary)[SPIKE]


@pytest.mark.parametrize(
    "raw, ema, sd, expected",
    [
        ([0.004, 0.016, 0.003], [0.002, 0.0019, 0.0018], 0.0005, "reproduced"),  # x4 rise, EMA flat
        ([0.004, 0.010, 0.003], [0.002, 0.0019, 0.0018], 0.0005, "partly reproduced"),  # x2.5: smaller
        ([0.004, 0.016, 0.003], [0.002, 0.0019, 0.0018], 0.02, "inconclusive"),  # noise covers 0 and the spike
        ([0.004, 0.0041, 0.0039], [0.002, 0.0019, 0.0018], 0.0005, "not reproduced"),  # raw flat
        ([0.004, 0.016, 0.003], [0.002, 0.016, 0.002], 0.0005, "not reproduced"),  # EMA spikes as well
    ],
)
def test_spike_claim_outcomes(raw, ema, sd, expected):
    claim = _spike(raw, ema, sd)
    assert claim.verdict == expected
    ev = claim.evidence
    assert ev["metric"] == "KID" and ev["paired"] is True
    assert ev["poster_effect"] == pytest.approx(raw[0] * (SPIKE_RATIO - 1))
    assert ev["headline"] == {"seed": 0, "epoch_from": 5, "epoch_to": 10, "weights": "raw"}
    assert len(ev["cases"]) == 4  # raw and EMA, over 5 -> 10 and 10 -> 15
    json.dumps(ev, allow_nan=False)


def test_spike_claim_over_three_seeds_and_without_paired_changes():
    claim = _spike([0.004, 0.016, 0.003], [0.002, 0.0019, 0.0018], 0.0005, seeds=(0, 1, 2))
    assert claim.verdict == "reproduced" and [s["outcome"] for s in claim.evidence["seeds"]] == ["present"] * 3
    (test,) = claim.evidence["sign_tests"]
    assert test["positive"] == 3 and test["p_value"] == pytest.approx(0.25)
    # an older table1.json without paired changes: the table's unpaired sds (0.01 each) decide nothing
    older = _spike([0.004, 0.016, 0.003], [0.002, 0.0019, 0.0018], 0.0005, consecutive=False)
    assert older.verdict == "inconclusive" and older.evidence["paired"] is False


def test_side_by_side_has_a_row_per_seed_and_the_paired_differences():
    table = _fid_table([[0.01] * 3] * 3, [[0.001] * 3] * 3, 0.0005, seeds=(0, 1, 2))
    shown = side_by_side(table)
    assert len(shown) == 9 and shown.seed.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert shown["KID raw - EMA [95%, paired]"].iloc[0] == verdicts.interval_text(0.009, 0.0005)


# ---- losses and the EMA convention ----------------------------------------------------------------------


def _losses(raw, ema, se, *, seeds=(0,), epochs=(1, 5, 10, 15), warmup=None, warmup_se=None):
    rows = []
    for seed in seeds:
        for i, epoch in enumerate(epochs):
            row = {
                "variant": "unet",
                "seed": seed,
                "epoch": epoch,
                "heldout_loss_raw": raw[i],
                "heldout_loss_ema": ema[i],
                "heldout_loss_diff_se": se,
            }
            if warmup is not None:
                row["heldout_loss_ema_warmup"] = warmup[i]
                row["heldout_loss_diff_ema_warmup_se"] = warmup_se
            rows.append(row)
    return pd.DataFrame(rows)


RAW = [400.0, 200.0, 150.0, 140.0]


@pytest.mark.parametrize(
    "ema, se, expected",
    [
        ([250.0, 110.0, 90.0, 80.0], 1.0, "reproduced"),  # relative reductions at least the poster's
        ([250.0, 190.0, 90.0, 80.0], 1.0, "partly reproduced"),  # epoch 5: 5%, the poster 39%
        ([250.0, 110.0, 90.0, 80.0], 200.0, "inconclusive"),
        ([401.0, 199.0, 150.5, 139.5], 1.0, "not reproduced"),
    ],
)
def test_loss_claim_outcomes(ema, se, expected):
    (claim,) = loss_claims(_losses(RAW, ema, se, seeds=(0, 1, 2)), LAPTOP)
    assert claim.verdict == expected and len(claim.evidence["cases"]) == 12
    # the poster's relative reduction at epoch 15 applied to our raw loss, per pixel
    assert claim.evidence["poster_effect"] == pytest.approx(140.0 * (1 - 0.0971 / 0.1471) / 784)
    assert len(claim.evidence["sign_tests"]) == 4 and "over 3 training seeds" in claim.measured
    json.dumps(claim.evidence, allow_nan=False)


CONVENTION = "Which EMA convention fits the poster's orderings at epochs 1 and 5"


def _convention(ema, warmup, se=1.0, fid=None, seeds=(0, 1, 2), epochs=(1, 5)):
    raw = RAW[: len(epochs)]
    losses = _losses(raw, ema, se, seeds=seeds, epochs=epochs, warmup=warmup, warmup_se=se)
    return {c.claim.split(" (")[0]: c for c in convention_claims(losses, fid, LAPTOP)}


def test_convention_claim_names_the_convention_that_fits():
    # constant decay: EMA still near the first weights at epoch 1 (above raw); warm-up: below raw
    claim = _convention([450.0, 150.0], [300.0, 120.0])[CONVENTION]
    assert claim.verdict == "reproduced" and claim.evidence["fitting"] == ["ema_warmup"]
    conventions = claim.evidence["conventions"]
    assert conventions["ema"]["verdict"] == "partly reproduced" and conventions["ema_warmup"]["verdict"] == "reproduced"
    assert "EMA with warm-up" in claim.measured.split("Reproducing the poster's ordering: ")[1]
    assert len(claim.evidence["cases"]) == 12  # 2 conventions x 3 seeds x epochs 1 and 5
    json.dumps(claim.evidence, allow_nan=False)


def test_convention_claim_outcomes_and_when_it_is_left_out():
    # an ordering, not a size: a reduction smaller than the poster's still counts
    assert _convention([390.0, 195.0], [395.0, 198.0])[CONVENTION].verdict == "reproduced"
    assert _convention([450.0, 250.0], [420.0, 230.0])[CONVENTION].verdict == "not reproduced"
    assert _convention([300.0, 150.0], [300.0, 150.0], se=300.0)[CONVENTION].verdict == "inconclusive"
    assert _convention([450.0, 150.0], [450.0, 150.0])[CONVENTION].verdict == "partly reproduced"
    assert _convention([300.0, 150.0], None) == {}  # no warm-up EMA in the metrics
    assert _convention([300.0], [300.0], epochs=(1,)) == {}  # epoch 5 not trained


def test_convention_claim_adds_kid_at_epoch_5_where_both_emas_were_sampled():
    fid = _fid_table([0.01], [0.012], 0.0005, seeds=(0,), epochs=(5,))
    fid["kid_mean_ema_warmup"] = 0.002
    fid["kid_diff_raw_ema_warmup"] = 0.008
    fid["kid_diff_raw_ema_warmup_sd"] = 0.0005
    claim = _convention([300.0, 150.0], [300.0, 150.0], fid=fid, seeds=(0,))[CONVENTION]
    conventions = claim.evidence["conventions"]
    # losses agree for both; the constant-decay EMA's KID is above raw's at epoch 5, the warm-up's below
    assert conventions["ema"]["verdict"] == "partly reproduced" and conventions["ema_warmup"]["verdict"] == "reproduced"
    kid = [c for c in claim.evidence["cases"] if c["metric"] == "KID"]
    assert [(c["convention"], c["outcome"]) for c in kid] == [("ema", "absent"), ("ema_warmup", "present")]


def test_spike_and_ordering_rules():
    P, S, U, A = verdicts.PRESENT, verdicts.PRESENT_SMALLER, verdicts.INCONCLUSIVE, verdicts.ABSENT
    assert verdicts.strongest([A, U, S]) == S and verdicts.strongest([A, A]) == A
    table = {
        P: {A: P, S: S, U: U, P: A},
        S: {A: S, S: A, U: U, P: A},
        U: {A: U, S: U, U: U, P: A},
        A: {A: A, S: A, U: A, P: A},
    }
    for raw, row in table.items():
        for ema, expected in row.items():
            assert verdicts.spike_outcome(raw, ema) == expected, (raw, ema)
    assert verdicts.ordering_verdict([S, S]) == "reproduced" and verdicts.effect_verdict([S, S]) == "partly reproduced"
    assert verdicts.best_verdict(["not reproduced", "inconclusive", "partly reproduced"]) == "partly reproduced"
    for key in ("ema_kid", "spike", "loss_effect", "ema_convention"):
        assert verdicts.RULES[key]


def test_an_underpowered_case_says_which_set_size_would_reach_80_percent():
    """Inconclusive at n = 200 (paired sd 0.02 against a poster effect of ~0.008): the case names the set size
    whose sd (shrinking as 1/sqrt(n)) gives the poster's effect 80% power, and its cost against this one;
    a well-powered case names none."""
    weak = _claims(_fid_table([0.01] * 3, [0.001] * 3, 0.02))[EMA_FID]
    case = weak.evidence["cases"][0]
    assert case["n"] == 200 and case["power"] < 0.8
    assert stats.power(case["poster_effect"], case["sd"] * (200 / case["n_for_80_power"]) ** 0.5) >= 0.8
    assert case["sampling_cost_factor"] == pytest.approx(case["n_for_80_power"] / 200)
    assert f"80% power at n ~ {case['n_for_80_power']}" in weak.measured
    strong = _claims(_fid_table([0.01] * 3, [0.001] * 3, 0.0005))[EMA_FID]
    assert all("n_for_80_power" not in c for c in strong.evidence["cases"])
