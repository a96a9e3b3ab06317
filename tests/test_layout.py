"""ncsn.layout: the one definition of where results live, and step sizes that survive the trip through paths."""

from __future__ import annotations

import random

import pytest

from ncsn import layout

STEP_SIZES = [1e-5, 5e-6, 1e-4, 2e-5, 1.2345678e-5, 0.1 + 0.2, 3e-7, 1e-16, 6.02e23]


@pytest.mark.parametrize("step_lr", STEP_SIZES)
def test_a_step_size_reads_back_from_its_path_exactly(step_lr):
    tag = layout.eps_tag(step_lr)
    assert float(tag) == step_lr
    path = layout.sample_set("v", 0, "epoch_3", "ema", step_lr, 100)
    assert path.endswith(f"/eps{tag}_T100.pt")
    assert float(path.rsplit("/eps", 1)[1].split("_T", 1)[0]) == step_lr


def test_random_step_sizes_read_back_exactly():
    rng = random.Random(0)
    for _ in range(2000):
        step_lr = 10 ** rng.uniform(-12, 2) * rng.random()
        if step_lr > 0:
            assert float(layout.eps_tag(step_lr)) == step_lr


def test_the_poster_step_sizes_keep_their_short_names():
    """The published report's paths (eps1e-05, eps0.0001) are unchanged by the exact form."""
    assert [layout.eps_tag(e) for e in (1e-5, 1e-4, 1e-3, 1e-6)] == ["1e-05", "0.0001", "0.001", "1e-06"]


@pytest.mark.parametrize("bad", [0.0, -1e-5, float("nan"), float("inf")])
def test_a_step_size_that_cannot_be_sampled_is_refused(bad):
    with pytest.raises(ValueError, match="finite number > 0"):
        layout.eps_tag(bad)


def test_wildcards_give_the_pattern_of_the_same_files():
    pattern = layout.evaluation("{variant}", "{seed}", "{point}", "{weights}", "{eps}", "{T}")
    assert pattern == "evaluation/{variant}/seed_{seed}/{point}/{weights}/eps{eps}_T{T}.json"
    concrete = layout.evaluation("mnist_unet", 2, layout.epoch_point(5), "raw", 1e-5, 100)
    assert concrete == pattern.format(variant="mnist_unet", seed=2, point="epoch_5", weights="raw", eps="1e-05", T=100)


def test_a_checkpoint_point_is_an_epoch_or_a_step_and_reads_back():
    assert layout.parse_point(layout.epoch_point(15)) == ("epoch", 15)
    assert layout.parse_point(layout.step_point(30000)) == ("step", 30000)
    assert layout.point_label("step_30000") == "step 30000"
    assert layout.stored_checkpoint("v", 0, "step_300") == "train/v/seed_0/state/step_300.pt"
    assert layout.checkpoint("v", 1, "epoch_2") == "train/v/seed_1/checkpoints/epoch_2.pt"
    for bad in ("epoch5", "iteration_3", "step_x"):
        with pytest.raises(ValueError, match="epoch_<n> or step_<n>"):
            layout.parse_point(bad)


@pytest.mark.parametrize(
    "path, rule",
    [
        (layout.sample_set("v", 0, "epoch_1", "raw", 1e-5, 10), "sample"),
        (layout.method_sample_set("v", 0, "epoch_1", "raw", "ald", 10), "sample_method"),
        (layout.evaluation("v", 0, "step_300", "raw", 1e-5, 10), "evaluate"),
        (layout.method_evaluation("v", 0, "epoch_1", "raw", "ald", 10), "evaluate_method"),
        (layout.experiment("figure1", "heatmap"), "figure1"),
        (layout.toy("mixing", "summary"), "toy_*"),
        (layout.training_metrics("v", 0), "train"),
        (layout.fid_reference("mnist", "domain"), "fid_reference"),
        ("elsewhere/file.txt", "?"),
    ],
)
def test_each_file_is_named_with_the_rule_that_writes_it(path, rule):
    assert layout.producer(path) == rule
