"""Figure 2 (Fashion-MNIST): each claim's outcomes from constructed measurements, "not comparable" below the
poster's iterations, the figure2 command's class-share-vs-iteration figure and settings study, the plan's
claim-4 sets, and the dry runs of the shipped profiles planning the new jobs."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import side_by_side

from ncsn import cli, layout, plan, verdicts
from ncsn.config import load_config
from ncsn.report.sections.fashion import fashion_claims, settings_claim
from ncsn.stats import wilson_interval
from ncsn.verdicts import POSTER_FASHION_STEPS

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CONFIG = {
    "profile": "laptop",
    "variants": {
        "ref": {"arch": "refinenet", "batch_size": 128},
        "big": {"arch": "refinenet", "batch_size": 128},
        "unet": {"arch": "unet", "batch_size": 16},
    },
    "fashion": {"variants": ["ref", "big", "unet"]},
}
QUICK = {**CONFIG, "profile": "quick"}
N = 100


def snapshots(shares, tops, steps, n=N) -> dict:
    """A variant of figure2.json: top-class share, its class and the optimizer steps per snapshot."""
    bounds = [wilson_interval(round(s * n), n) for s in shares]
    return {
        "points": [layout.step_point(s) for s in steps],
        "epochs": [1] * len(steps),
        "steps": list(steps),
        "top_class": list(tops),
        "top_share": list(shares),
        "top_share_low": [lo for lo, _ in bounds],
        "top_share_high": [hi for _, hi in bounds],
        "n_samples": [n] * len(steps),
        "classes_covered": [2] * len(steps),
        "entropy": [1.0] * len(steps),
    }


POSTER = list(POSTER_FASHION_STEPS)  # 30 000 and 40 000
EARLY = [500, 2000]


def claims_of(variants: dict, config=CONFIG, other=None) -> dict[str, object]:
    """The claims by kind: unet, collapse, capacity, settings."""
    claims = fashion_claims({"variants": variants, "other_settings": other}, config)
    kinds = {}
    for claim in claims:
        kind = next(k for k in ("U-Net", "reference network", "capacity", "sampler settings") if k in claim.claim)
        kinds[{"U-Net": "unet", "reference network": "collapse", "capacity": "capacity"}.get(kind, "settings")] = claim
    return kinds


DIVERSE = snapshots([0.2, 0.22], ["Coat", "Bag"], POSTER)


@pytest.mark.parametrize(
    "unet, verdict",
    [
        (snapshots([0.9, 0.95], ["Shirt", "Shirt"], POSTER), "reproduced"),
        (snapshots([0.9, 0.95], ["Coat", "Coat"], POSTER), "partly reproduced"),  # collapsed, not onto Shirt
        (snapshots([0.9, 0.5], ["Shirt", "Shirt"], POSTER), "partly reproduced"),  # Shirt, then undecided
        (snapshots([0.5, 0.45], ["Shirt", "Shirt"], POSTER), "inconclusive"),  # intervals straddle 50%
        (snapshots([0.2, 0.25], ["Shirt", "Bag"], POSTER), "not reproduced"),  # diverse at both
        (snapshots([0.9, 0.95], ["Shirt", "Shirt"], EARLY), "not comparable"),  # below the poster's iterations
    ],
)
def test_unet_class_claim(unet, verdict):
    claim = claims_of({"ref": DIVERSE, "big": DIVERSE, "unet": unet})["unet"]
    assert claim.verdict == verdict
    assert claim.evidence["target_class"] == "Shirt" and claim.evidence["poster_iterations"] == 30000
    assert claim.evidence["iterations_reached"] == max(unet["steps"])
    if verdict == "not comparable":
        assert claim.evidence["decided_on"]["points"] == [] and claim.evidence["rule_verdict"] == "not comparable"
        assert "stop at 2000 iterations" in claim.measured and "config/config.yaml" in claim.measured
    assert "batch 16" in claim.note  # iterations at another batch than the full profile's are said


def test_fashion_claims_carry_their_power_and_the_poster_effect():
    """Every Figure 2 claim says what its sets could detect: collapse claims the shares called collapsed /
    diverse with 80% power at their n, comparisons the smallest drop of the top-class share found."""
    ref = snapshots([0.3, 0.9], ["Bag", "Shirt"], POSTER)
    big = snapshots([0.25, 0.3], ["Bag", "Coat"], POSTER)
    unet = snapshots([0.9, 0.95], ["Shirt", "Shirt"], POSTER)
    other = {
        "variant": "ref",
        "point": layout.step_point(40000),
        "step": 40000,
        "baseline": {**{k: v[-1] for k, v in ref.items() if isinstance(v, list)}, "step_lr": 1e-5, "n_steps_each": 100},
        "settings": [
            {**{k: v[-1] for k, v in big.items() if isinstance(v, list)}, "step_lr": 1e-4, "n_steps_each": 30}
        ],
    }
    claims = claims_of({"ref": ref, "big": big, "unet": unet}, other=other)
    for kind in ("unet", "collapse"):
        evidence = claims[kind].evidence
        assert evidence["minimum_detectable"]["n"] == N and evidence["poster_effect"]["top_share"] == 1.0
        assert 0.5 < evidence["minimum_detectable"]["collapsed_from"] < 0.7 and evidence["power_at_poster_effect"] == 1
        assert "with 80% probability" in claims[kind].note
    for kind in ("capacity", "settings"):
        drops = claims[kind].evidence["minimum_detectable_drop"]
        assert all(0 < d < 0.5 for d in drops) and claims[kind].evidence["power"] == 0.8
        assert "found with 80% probability" in (claims[kind].note or "")
    # at 0.9 against 0.9 the capacity case's drop is that of the two-proportion test
    assert claims["capacity"].evidence["minimum_detectable_drop"][1] == pytest.approx(
        verdicts.detectable_share_drop(0.9, N, N)
    )


def test_unet_class_claim_is_decided_only_on_snapshots_at_the_poster_iterations():
    """A diverse early snapshot does not count against a U-Net collapsed onto Shirt from 30 000 on."""
    unet = snapshots([0.2, 0.9, 0.95], ["Bag", "Shirt", "Shirt"], [2000, *POSTER])
    claim = claims_of({"ref": DIVERSE, "big": DIVERSE, "unet": unet})["unet"]
    assert claim.verdict == "reproduced" and claim.evidence["decided_on"]["iterations"] == POSTER


@pytest.mark.parametrize(
    "ref, verdict",
    [
        (snapshots([0.3, 0.9], ["Bag", "Shirt"], POSTER), "reproduced"),  # collapsed at the last
        (snapshots([0.9, 0.3], ["Shirt", "Bag"], POSTER), "partly reproduced"),  # collapsed earlier only
        (snapshots([0.2, 0.25], ["Bag", "Coat"], POSTER), "not reproduced"),  # diverse throughout
        (snapshots([0.3, 0.9], ["Bag", "Shirt"], EARLY), "not comparable"),  # collapses, but at 2000 steps
    ],
)
def test_reference_collapse_claim(ref, verdict):
    claim = claims_of({"ref": ref, "big": DIVERSE})["collapse"]
    assert claim.verdict == verdict
    assert claim.evidence["rule_verdict"] in ("reproduced", "partly reproduced", "not reproduced")
    assert claim.evidence["snapshots"]["iterations"] == ref["steps"]
    assert claim.evidence["snapshots"]["state"][-1] in ("collapsed", "diverse")


@pytest.mark.parametrize(
    "ref, big, steps, verdict",
    [
        ([0.3, 0.9], [0.25, 0.3], POSTER, "reproduced"),  # ref collapses at 40 000, big does not and is lower
        ([0.3, 0.45], [0.1, 0.2], POSTER, "partly reproduced"),  # lower, but the reference never collapses
        ([0.3, 0.9], [0.3, 0.92], POSTER, "not reproduced"),  # never more diverse
        ([0.3, 0.9], [0.25, 0.3], [2000, 30000], "not comparable"),  # shown by the poster at 40 000
    ],
)
def test_capacity_claim(ref, big, steps, verdict):
    tops = ["Bag", "Shirt"]
    claim = claims_of({"ref": snapshots(ref, tops, steps), "big": snapshots(big, tops, steps)})["capacity"]
    assert claim.verdict == verdict and claim.evidence["poster_iterations"] == 40000
    assert claim.evidence["common_points"] == [layout.step_point(s) for s in steps]


def test_capacity_is_compared_at_the_snapshots_both_networks_have():
    ref = snapshots([0.3, 0.9, 0.95], ["Bag", "Shirt", "Shirt"], [250, *POSTER])
    big = snapshots([0.25, 0.3], ["Bag", "Coat"], POSTER)
    claim = claims_of({"ref": ref, "big": big})["capacity"]
    assert claim.evidence["common_points"] == ["step_30000", "step_40000"] and claim.verdict == "reproduced"


def settings_study(base: float, others: list[float], n=N) -> dict:
    def measured(share, eps, t):
        lo, hi = wilson_interval(round(share * n), n)
        top = "Shirt"
        return dict(step_lr=eps, n_steps_each=t, top_class=top, top_share=share, top_share_low=lo, top_share_high=hi)

    cells = [(3e-6, 100), (3e-5, 100), (1e-5, 30), (1e-5, 200)]
    extra = {"classes_covered": 2, "class_entropy": 0.5, "fid": 10.0, "n_samples": n}
    return {
        "variant": "ref",
        "seed": 0,
        "point": "step_2000",
        "step": 2000,
        "baseline": {**measured(base, 1e-5, 100), **extra},
        "settings": [{**measured(s, *cell), **extra} for s, cell in zip(others, cells)],
    }


@pytest.mark.parametrize(
    "base, others, lower, verdict",
    [
        (0.9, [0.88, 0.92, 0.85], [False, False, False], "reproduced"),  # collapsed; none lower beyond the noise
        (0.9, [0.88, 0.7, 0.92], [False, True, False], "partly reproduced"),  # lower, but still collapsed (70%)
        (0.9, [0.88, 0.3], [False, True], "not reproduced"),  # one setting undoes the collapse
        (0.4, [0.35, 0.3], [False, False], "inconclusive"),  # the poster's sampler's set is not collapsed
    ],
)
def test_other_settings_claim(base, others, lower, verdict):
    study = settings_study(base, others)
    claim = settings_claim(study, CONFIG)
    assert claim.verdict == verdict and claim.evidence["iterations"] == 2000
    assert [s["lower_than_baseline"] for s in claim.evidence["settings"]] == lower
    assert "Sigma is not varied" in claim.note
    # the same measurement in a pipeline-check profile decides nothing
    assert settings_claim(study, QUICK).verdict == "not comparable"
    # and the claim is one of the section's when the summary has the study
    assert claims_of({"ref": DIVERSE, "big": DIVERSE}, other=study)["settings"].verdict == verdict


def test_a_pipeline_profile_decides_no_fashion_claim():
    shirt = snapshots([0.9, 0.95], ["Shirt", "Shirt"], POSTER)
    claims = claims_of({"ref": shirt, "big": DIVERSE, "unet": shirt}, QUICK)
    assert {c.verdict for c in claims.values()} == {"not comparable"}
    assert claims["unet"].evidence["rule_verdict"] == "reproduced"  # measured, but not decided


# ---- the figure2 command ------------------------------------------------------------------------------


def _evaluation(root: Path, variant: str, point: str, step: int, counts: list[int], eps=1e-5, t=100) -> Path:
    """An evaluation JSON of a set whose classifier histogram has `counts`, and its sample set."""
    n = sum(counts)
    top = max(range(len(counts)), key=counts.__getitem__)
    lo, hi = wilson_interval(counts[top], n)
    stem = f"{variant}_{point}_{eps:g}_{t}"
    info = {
        "variant": variant,
        "training_seed": 0,
        "checkpoint": f"results/train/{variant}/seed_0/checkpoints/{point}.pt",
        "epoch": 1,
        "step": step,
        "weights": "raw",
        "step_lr": eps,
        "n_steps_each": t,
        "n_levels": 10,
        "n_samples": n,
    }
    torch.save({"images": torch.zeros(n, 1, 28, 28, dtype=torch.uint8), "info": info}, root / f"{stem}.pt")
    hist = [c / n for c in counts]
    evaluation = {
        "samples": str(root / f"{stem}.pt"),
        "sample_info": info,
        "classes": CLASSES,
        "classifier_test_accuracy": 0.9,
        "fid": 10.0,
        "kid_mean": 0.01,
        "kid_std": 0.001,
        "n_samples": n,
        "n_reference": 500,
        "kid_subset_size": n,
        "extractor": "domain",
        "extractor_name": "ncsn-domain-test",
        "coverage": {
            "histogram": hist,
            "classes_covered": sum(h >= 0.05 for h in hist),
            "entropy": -sum(h * math.log(h) for h in hist if h > 0),
            "top_class": top,
            "top_share": hist[top],
            "top_share_low": lo,
            "top_share_high": hi,
        },
    }
    path = root / f"{stem}.json"
    path.write_text(json.dumps(evaluation))
    return path


def _counts(top: int, share: float, n: int = 90) -> list[int]:
    """`share` of n samples in class `top`, the rest spread evenly over the other nine classes."""
    counts = [(n - round(share * n)) // 9] * 10
    counts[top] = n - 9 * counts[0]
    return counts


def test_figure2_command_writes_shares_by_iteration_and_the_settings_study(tmp_path):
    shirt, bag = CLASSES.index("Shirt"), CLASSES.index("Bag")
    main = [
        _evaluation(tmp_path, "ref", "step_250", 250, _counts(bag, 0.3)),
        _evaluation(tmp_path, "ref", "step_2000", 2000, _counts(shirt, 0.9)),
        _evaluation(tmp_path, "ref", "epoch_1", 500, _counts(bag, 0.4)),
        _evaluation(tmp_path, "unet", "step_2000", 2000, _counts(bag, 0.3)),
        _evaluation(tmp_path, "unet", "step_30000", 30000, _counts(shirt, 0.95)),
    ]
    settings = [
        _evaluation(tmp_path, "ref", "step_2000", 2000, _counts(shirt, 0.85), eps=3e-5),
        _evaluation(tmp_path, "ref", "step_2000", 2000, _counts(shirt, 0.4), t=200),
    ]
    out = {name: tmp_path / f"f2{suffix}" for name, suffix in [("csv", ".csv"), ("png", ".png"), ("json", ".json")]}
    out["shares"] = tmp_path / "f2_shares.png"
    argv = ["figure2", "--evaluations", *main, "--setting-evaluations", *settings, "--profile", "laptop"]
    argv += ["--csv", out["csv"], "--png", out["png"], "--shares-png", out["shares"], "--json", out["json"]]
    assert cli.main([str(a) for a in argv]) == 0
    assert out["shares"].stat().st_size > 1000 and out["png"].stat().st_size > 1000

    summary = json.loads(out["json"].read_text())
    ref = summary["variants"]["ref"]
    # rows keyed by the point and ordered by iterations, whatever their kind
    assert ref["points"] == ["step_250", "epoch_1", "step_2000"] and ref["steps"] == [250, 500, 2000]
    assert ref["first_collapsed_point"] == "step_2000" and ref["first_collapsed_step"] == 2000
    assert summary["variants"]["unet"]["top_class"] == ["Bag", "Shirt"] and summary["classes"] == CLASSES
    study = summary["other_settings"]
    assert (study["variant"], study["point"], study["step"]) == ("ref", "step_2000", 2000)
    assert study["baseline"]["top_share"] == pytest.approx(0.9)
    assert [(s["step_lr"], s["n_steps_each"]) for s in study["settings"]] == [(1e-5, 200), (3e-5, 100)]

    table = pd.read_csv(out["csv"])
    assert {"point", "step", "other_setting"} <= set(table.columns)
    assert table["other_setting"].sum() == 2 and len(table) == 7

    config = {**CONFIG, "fashion": {"variants": ["ref", "unet"]}}
    claims = claims_of(summary["variants"], config, study)
    assert claims["unet"].verdict == "reproduced"  # collapsed onto Shirt at 30 000
    assert claims["collapse"].verdict == "not comparable"  # the reference stops at 2000
    assert claims["settings"].verdict == "not reproduced"  # T = 200 undoes the collapse (40%)


def test_figure2_command_without_settings_writes_no_study(tmp_path):
    main = [_evaluation(tmp_path, "ref", "epoch_1", 100, _counts(3, 0.5))]
    out = [tmp_path / name for name in ("f.csv", "f.png", "s.png", "f.json")]
    argv = ["figure2", "--evaluations", *main, "--csv", out[0], "--png", out[1], "--shares-png", out[2]]
    assert cli.main([str(a) for a in [*argv, "--json", out[3]]]) == 0
    assert json.loads(out[3].read_text())["other_settings"] is None and out[2].exists()


# ---- the plan -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def configs(repo) -> dict[str, dict]:
    return {name: load_config(repo / f"config/{name}.yaml") for name in ("tiny", "quick", "laptop", "config")}


def test_claim4_sets_are_planned_only_when_configured(configs):
    config = copy.deepcopy(configs["laptop"])
    sets = plan.figure2_setting_sets(config)
    poster = (config["sampler"]["step_lr"], config["sampler"]["n_steps_each"])
    # the reference network (first non-U-Net variant) at its last point in optimizer steps, the cross of
    # other_settings without the poster's own cell
    assert {(s.variant, s.point) for s in sets} == {("fashion_refinenet", "step_2000")}
    assert {(s.step_lr, s.n_steps_each) for s in sets} == {(1e-5, 30), (1e-5, 200), (3e-6, 100), (3e-5, 100)}
    assert poster not in [(s.step_lr, s.n_steps_each) for s in sets]
    assert set(sets) <= set(plan.sample_sets(config))
    requested = {(r.variant, r.point, r.section) for r in plan.requested_checkpoints(config)}
    assert ("fashion_refinenet", "step_2000", "fashion") in requested

    del config["fashion"]["other_settings"]
    assert plan.figure2_setting_sets(config) == []
    assert not set(sets) & set(plan.sample_sets(config))


def test_variant_steps_give_a_variant_its_own_snapshots(configs):
    config = configs["laptop"]
    assert plan.fashion_points(config, "fashion_unet") == ["step_2000", "step_10000", "step_30000"]
    assert plan.fashion_points(config, "fashion_refinenet") == ["step_250", "step_500", "step_1000", "step_2000"]
    points = {(s.variant, s.point) for s in plan.figure2_sets(config)}
    assert ("fashion_unet", "step_30000") in points and ("fashion_unet", "step_250") not in points
    # every requested point is kept by its variant (the config check's condition)
    assert all(r.point in plan.points(config, r.variant) for r in plan.requested_checkpoints(config))


def test_the_full_profile_takes_every_fashion_variant_to_the_poster_iterations(configs):
    config = configs["config"]
    assert config["fashion"]["steps"] == POSTER
    for name in config["fashion"]["variants"]:
        v = config["variants"][name]
        assert v["checkpoint_steps"] == POSTER
        assert v["epochs"] * plan.steps_per_epoch(config, name) >= POSTER[-1]
    assert any(config["variants"][name]["arch"] == "unet" for name in config["fashion"]["variants"])
    assert {s.point for s in plan.figure2_setting_sets(config)} == {"step_40000"}


def test_each_profile_runs_the_custom_unet_on_fashion(configs):
    for name, config in configs.items():
        assert "fashion_unet" in config["fashion"]["variants"], name
        assert config["variants"]["fashion_unet"]["arch"] == "unet", name
        for variant in config["fashion"]["variants"]:  # every snapshot is trained
            total = config["variants"][variant]["epochs"] * plan.steps_per_epoch(config, variant)
            assert max(plan.point_steps(config, variant, p) for p in plan.points(config, variant)) <= total


def test_dry_runs_plan_the_figure2_jobs(repo, snakemake_cmd, configs, tmp_path):
    """Each profile's dry run plans the sample and evaluate jobs of every Figure 2 set (the step snapshots and
    the other settings among them), their checkpoints, and a figure2 job that writes the shares figure."""
    names = ("tiny", "laptop", "config")
    commands = {
        name: snakemake_cmd
        + ["-n", "-p", "--snakefile", str(repo / "Snakefile"), "--configfile", str(repo / f"config/{name}.yaml")]
        + ["--directory", str(tmp_path / name)]
        for name in names
    }
    for name, (code, text) in side_by_side(commands, repo).items():
        assert code == 0, text[-3000:]
        config = configs[name]
        sets = plan.figure2_sets(config) + plan.figure2_setting_sets(config)
        assert plan.figure2_setting_sets(config), name
        for the_set in sets:
            assert f"results/{layout.evaluation(*the_set)}" in text, (name, the_set)
            assert f"results/{layout.checkpoint(the_set.variant, the_set.seed, the_set.point)}" in text
        figure2 = [line for line in text.splitlines() if " -m ncsn figure2 " in line]
        assert len(figure2) == 1 and f"--shares-png results/{layout.experiment('figure2', 'shares')}" in figure2[0]
        given = re.search(r"--setting-evaluations (.*?) --setting-samples", figure2[0]).group(1).split()
        assert given == [f"results/{layout.evaluation(*s)}" for s in plan.figure2_setting_sets(config)], name
