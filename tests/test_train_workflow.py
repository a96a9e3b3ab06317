"""The `variants` / `training` config sections and the train rules, through the schema and Snakemake."""

from __future__ import annotations

import copy
import re
import subprocess

import pytest
import yaml

from ncsn.config import validate_config
from ncsn.errors import ConfigError


def _variant(config, key, value):
    config["variants"]["mnist_unet"][key] = value


MALFORMED = [
    (
        lambda c: _variant(c, "arch", "resnet"),
        "'variants.mnist_unet.arch' is 'resnet'; allowed values: unet, refinenet",
    ),
    (lambda c: _variant(c, "widht", 3), "unknown key 'widht' under 'variants.mnist_unet'"),
    (lambda c: _variant(c, "dataset", "cifar10"), "'variants.mnist_unet.dataset' is 'cifar10'"),
    (lambda c: _variant(c, "dropout", 1.0), "'variants.mnist_unet.dropout' is 1.0; it must be < 1"),
    (lambda c: _variant(c, "ema_rate", 1.0), "'variants.mnist_unet.ema_rate' is 1.0; it must be < 1"),
    (lambda c: _variant(c, "lr", 0), "'variants.mnist_unet.lr' is 0; it must be > 0"),
    (lambda c: _variant(c, "train_subset", 0), "'variants.mnist_unet.train_subset' is 0; it must be >= 1"),
    (lambda c: _variant(c, "checkpoint_epochs", []), "'variants.mnist_unet.checkpoint_epochs'"),
    (
        lambda c: _variant(c, "noise", {"sigma_max": 0.1, "sigma_min": 1.0, "n_levels": 10}),
        "'variants.mnist_unet.noise.sigma_min' (1.0) must be smaller than 'variants.mnist_unet.noise.sigma_max'",
    ),
    (lambda c: c["variants"]["mnist_unet"].pop("lr"), "missing required key 'lr' in 'variants.mnist_unet'"),
    (lambda c: c["variants"].update({"Bad-Name": c["variants"]["mnist_unet"]}), "'Bad-Name' does not match"),
    (lambda c: c.pop("variants"), "missing required key 'variants'"),
    (lambda c: c["training"].update(save_every_steps=0), "'training.save_every_steps' is 0; it must be >= 1"),
]


@pytest.mark.parametrize("mutate, fragment", MALFORMED, ids=[m[1][:40] for m in MALFORMED])
def test_malformed_variants_are_rejected(quick, schema, mutate, fragment):
    bad = copy.deepcopy(quick)
    mutate(bad)
    with pytest.raises(ConfigError) as info:
        validate_config(bad, schema)
    assert fragment in str(info.value)


def test_snakemake_rejects_a_checkpoint_after_the_last_epoch(repo, quick, snakemake_cmd, tmp_path):
    bad = copy.deepcopy(quick)
    bad["variants"]["mnist_unet"]["checkpoint_epochs"] = [1, 7]
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        snakemake_cmd + ["-n", "--configfile", str(configfile), "--directory", str(tmp_path)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "'variants.mnist_unet.checkpoint_epochs' [7] exceed 'variants.mnist_unet.epochs' (3)" in output
    assert "Traceback" not in output


def test_dry_run_trains_every_variant_and_publishes_every_checkpoint(repo, quick, snakemake_cmd, tmp_path):
    proc = subprocess.run(
        snakemake_cmd + ["-n", "--configfile", str(repo / "config/quick.yaml"), "--directory", str(tmp_path)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    counts = dict(re.findall(r"^(train|train_checkpoint)\s+(\d+)$", output, flags=re.M))
    assert int(counts["train"]) == len(quick["variants"])
    assert int(counts["train_checkpoint"]) == sum(len(v["checkpoint_epochs"]) for v in quick["variants"].values())
    for name in quick["variants"]:
        assert f"--variant {name} " in output and f"results/train/{name}/seed_0/metrics.csv" in output
