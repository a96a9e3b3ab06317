"""Config validation: both shipped configs are valid; malformed ones are rejected naming the key,
both by the library and by the real Snakemake CLI before any job runs (and without a traceback)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from helpers import side_by_side

from ncsn.config import load_config, validate_config
from ncsn.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config").glob("*.yaml")))
def test_shipped_configs_are_valid(repo, schema, name):
    # accepted by the strict loader (no key twice, no alias) and the schema, and returned as written:
    # validation neither fills in nor changes a value
    config = load_config(repo / "config" / name, schema)
    assert config == yaml.safe_load((repo / "config" / name).read_text())


def _set(config, dotted, value):
    node = config
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return config


_DELETE = object()

MALFORMED = [
    # (key, value, fragment the message must contain)
    ("seed", "zero", "'seed' must be of type integer"),
    ("seed", -3, "'seed' is -3; it must be >= 0"),
    ("noise.sigma_min", 2.0, "'noise.sigma_min' (2.0) must be smaller than 'noise.sigma_max'"),
    ("noise.sigma_min", 1.0, "'noise.sigma_min' (1.0) must be smaller than 'noise.sigma_max'"),
    ("noise.sigma_max", -1.0, "'noise.sigma_max' is -1.0; it must be > 0"),
    ("noise.n_levels", 0, "'noise.n_levels' is 0; it must be >= 2"),
    ("noise.n_levels", 2.5, "'noise.n_levels' must be of type integer"),
    ("sampler.step_lr", 0.0, "'sampler.step_lr' is 0.0; it must be > 0"),
    ("sampler.step_lr", -1e-5, "'sampler.step_lr' is -1e-05; it must be > 0"),
    ("sampler.n_steps_each", 0, "'sampler.n_steps_each' is 0; it must be >= 1"),
    ("data.datasets", ["mnist", "cifar10"], "'data.datasets.1' is 'cifar10'; allowed values: mnist, fashion_mnist"),
    ("data.sources", ["ftp"], "'data.sources.0' is 'ftp'; allowed values: local, torchvision, registry"),
    ("device", "tpu", "'device' is 'tpu'; allowed values: auto, cpu, cuda"),
    ("noise.sigma_mn", 0.01, "unknown key 'sigma_mn' under 'noise'; allowed: n_levels, sigma_max, sigma_min"),
    ("sampler.denoise", "yes", "'sampler.denoise' must be of type boolean"),
    ("noise.sigma_min", _DELETE, "missing required key 'sigma_min' in 'noise'"),
    ("profile", _DELETE, "missing required key 'profile'"),
]


@pytest.mark.parametrize("key, value, fragment", MALFORMED, ids=[m[0] + "=" + repr(m[1])[:12] for m in MALFORMED])
def test_malformed_config_names_the_key(quick, schema, key, value, fragment):
    bad = _set(copy.deepcopy(quick), key, value)
    with pytest.raises(ConfigError) as info:
        validate_config(bad, schema)
    assert fragment in str(info.value)
    assert "config/README.md" in str(info.value)


def test_unknown_top_level_key(quick, schema):
    bad = dict(quick, epochs=3)
    with pytest.raises(ConfigError, match="unknown key 'epochs'; allowed: "):
        validate_config(bad, schema)


def test_every_problem_is_reported_at_once(quick, schema):
    bad = _set(_set(copy.deepcopy(quick), "seed", "x"), "device", "tpu")
    with pytest.raises(ConfigError, match=r"\(2 problems\)"):
        validate_config(bad, schema)


BAD_VALUES = [
    ("noise.sigma_min", 5.0, "'noise.sigma_min' (5.0) must be smaller than 'noise.sigma_max'"),
    ("data.datasets", ["svhn"], "'data.datasets.0' is 'svhn'; allowed values: mnist, fashion_mnist"),
    ("sampler.step_lr", 0, "'sampler.step_lr' is 0; it must be > 0"),
]


def test_snakemake_stops_before_any_job(repo, quick, snakemake_cmd, tmp_path):
    """A bad value stops Snakemake with the key's message, no traceback, before any job is scheduled (the
    three runs side by side: each is mostly Snakemake starting up)."""
    commands = {}
    for key, value, _ in BAD_VALUES:
        configfile = tmp_path / f"{key}.yaml"
        configfile.write_text(yaml.safe_dump(_set(copy.deepcopy(quick), key, value)))
        commands[key] = snakemake_cmd + ["-n", "--configfile", str(configfile)]
    results = side_by_side(commands, repo)
    for key, _, fragment in BAD_VALUES:
        code, output = results[key]
        assert code != 0, key
        assert fragment in output
        assert "Traceback" not in output and 'File "' not in output
        assert "Building DAG" not in output  # stopped before scheduling anything


def test_check_config_command(repo, tmp_path):
    from ncsn.cli import main

    assert (
        main(
            [
                "check-config",
                str(repo / "config/quick.yaml"),
                "--schema",
                str(repo / "workflow/schemas/config.schema.yaml"),
            ]
        )
        == 0
    )
    missing = tmp_path / "nope.yaml"
    assert main(["check-config", str(missing), "--schema", str(repo / "workflow/schemas/config.schema.yaml")]) == 1


@pytest.mark.parametrize("key, value", [(("sampler", "step_lr"), float("nan")), (("noise", "sigma_max"), float("inf"))])
def test_non_finite_numbers_are_rejected_with_their_key(quick, schema, key, value):
    bad = copy.deepcopy(quick)
    bad[key[0]][key[1]] = value
    with pytest.raises(
        ConfigError, match=rf"'{key[0]}\.{key[1]}' is (nan|inf); every number of the config must be finite"
    ):
        validate_config(bad, schema)


@pytest.mark.parametrize("document", [[1, 2], "text", 3])
def test_a_config_that_is_not_a_mapping_is_rejected(schema, document):
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        validate_config(document, schema)


def _with(config, change):
    bad = copy.deepcopy(config)
    change(bad)
    return bad


CROSS_KEY_CASES = {
    "checkpoint beyond epochs": (
        lambda c: c["variants"]["mnist_unet"].update(checkpoint_epochs=[1, 99]),
        "'variants.mnist_unet.checkpoint_epochs' [99] exceed",
    ),
    "evaluated variant missing": (
        lambda c: c["evaluation"].update(variants=["no_such_net"]),
        "'evaluation' names variant 'no_such_net'",
    ),
    "evaluated epoch not kept": (
        lambda c: c["evaluation"].update(epochs=[7]),
        "'evaluation' asks for epoch 7 of 'mnist_unet'",
    ),
    "fashion steps of a variant the study does not sample": (
        lambda c: c["fashion"].update(variant_steps={"mnist_unet": [1]}),
        "'fashion.variant_steps' names ['mnist_unet'], not in 'fashion.variants'",
    ),
    "fashion set size on a dataset Table 1 samples": (
        lambda c: (c["fashion"].update(n_samples=10), c["fashion"]["variants"].append("mnist_unet")),
        "'fashion.n_samples' sets the sample size of ['fashion_mnist', 'mnist']",
    ),
}


@pytest.mark.parametrize("case", sorted(CROSS_KEY_CASES))
def test_check_config_refuses_what_the_snakefile_refuses(repo, quick, tmp_path, monkeypatch, capsys, case):
    """check-config runs the Snakefile's checks, from any working directory (its schema is found from
    the package, not from the current directory)."""
    from ncsn.cli import main

    change, fragment = CROSS_KEY_CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_with(quick, change)))
    monkeypatch.chdir(tmp_path)
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    "key, value, why",
    [
        (("noise", "n_levels"), 100000, "136M-parameter"),
        (("evaluation", "n_samples"), 10**9, "score evaluations"),
    ],
)
def test_sizes_beyond_any_machine_are_refused_with_the_reason(quick, schema, key, value, why):
    bad = _with(quick, lambda c: c[key[0]].update({key[1]: value}))
    with pytest.raises(ConfigError, match=rf"'{key[0]}\.{key[1]}' is {value}; it must be <= \d+ \(.*{why}"):
        validate_config(bad, schema)
