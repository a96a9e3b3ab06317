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


def _dry_run_output(snakemake_cmd, repo, configfile, directory) -> str:
    """What `snakemake -n` prints for `configfile` (it must succeed)."""
    proc = subprocess.run(
        snakemake_cmd + ["-n", "--configfile", str(configfile), "--directory", str(directory)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_dry_run_trains_every_variant_and_publishes_every_checkpoint(repo, quick, snakemake_cmd, tmp_path):
    output = _dry_run_output(snakemake_cmd, repo, repo / "config/quick.yaml", tmp_path)
    counts = dict(re.findall(r"^(train|train_checkpoint)\s+(\d+)$", output, flags=re.M))
    assert int(counts["train"]) == len(quick["variants"])
    assert int(counts["train_checkpoint"]) == sum(
        len(v["checkpoint_epochs"]) + len(v.get("checkpoint_steps", [])) for v in quick["variants"].values()
    )
    for name in quick["variants"]:
        assert f"--variant {name} " in output and f"results/train/{name}/seed_0/metrics.csv" in output


def test_the_table1_variant_is_trained_once_per_configured_seed(repo, quick, snakemake_cmd, tmp_path):
    """variants.<name>.seeds: one train job per seed (the seed a wildcard of the train rule, passed as
    --seed), and Table 1 samples raw and EMA weights of every run; the other variants keep one run."""
    config = yaml.safe_load((repo / "config/quick.yaml").read_text())
    table1 = config["evaluation"]["variants"][0]
    config["variants"][table1]["seeds"] = [0, 7, 11]
    configfile = tmp_path / "seeds.yaml"
    configfile.write_text(yaml.safe_dump(config))
    output = _dry_run_output(snakemake_cmd, repo, configfile, tmp_path / "run")
    counts = dict(re.findall(r"^(train|sample)\s+(\d+)$", output, flags=re.M))
    assert int(counts["train"]) == len(config["variants"]) + 2
    for seed in (0, 7, 11):
        assert f"--variant {table1} " in output and f"--seed {seed} " in output
        assert f"results/train/{table1}/seed_{seed}/metrics.csv" in output
        for epoch in config["evaluation"]["epochs"]:
            for weights in ("raw", "ema"):
                assert f"results/samples/{table1}/seed_{seed}/epoch_{epoch}/{weights}/" in output
    others = [name for name in config["variants"] if name != table1]
    assert all(f"results/train/{name}/seed_7/" not in output for name in others)
