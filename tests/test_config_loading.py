"""Config files are never accepted silently: a key given twice, YAML aliases, documents too large or too
deep, bytes that are not UTF-8 and sampler settings that no method declares are refused by
`ncsn.config.load_yaml` / `validate_config`, hence by `check-config` and by the Snakefile, with a message
naming the file, the key and what to do."""

from __future__ import annotations

import copy
import inspect
import subprocess
import textwrap
import time

import jsonschema
import pytest
import yaml

from ncsn.cli import main
from ncsn.config import load_yaml, validate_config
from ncsn.errors import ConfigError
from ncsn.sampling.methods import METHODS, register

# 7 levels of 9 aliases: 9^7 = 4.8 million strings from a few hundred bytes ("billion laughs").
ALIAS_BOMB = (
    "{"
    + ", ".join(
        [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 7)]
    )
    + "}"
)


def _lines_of(text: str, line: str) -> list[int]:
    return [n for n, content in enumerate(text.splitlines(), start=1) if content == line]


@pytest.fixture()
def twice_mnist_unet(quick, tmp_path):
    """quick.yaml with a second `mnist_unet:` block (another width) before the first: the path, and the lines
    of the two blocks."""
    second = yaml.safe_dump({"mnist_unet": dict(quick["variants"]["mnist_unet"], width=64)}, sort_keys=False)
    text = yaml.safe_dump(quick, sort_keys=False)
    assert text.count("\nvariants:\n") == 1
    text = text.replace("\nvariants:\n", "\nvariants:\n" + textwrap.indent(second, "  "))
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    lines = _lines_of(text, "  mnist_unet:")
    assert len(lines) == 2
    return path, lines


def test_check_config_refuses_a_variant_given_twice(twice_mnist_unet, capsys):
    path, (first, second) = twice_mnist_unet
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"config file {path}, line {second}: key 'mnist_unet' is given twice in 'variants'" in err
    assert f"(lines {first} and {second})" in err and "Traceback" not in err


def test_snakemake_refuses_a_variant_given_twice(repo, snakemake_cmd, twice_mnist_unet):
    """Snakemake's own loader keeps the second block; the Snakefile reads the file again and stops."""
    path, (first, second) = twice_mnist_unet
    proc = subprocess.run(
        snakemake_cmd + ["-n", "--configfile", str(path)], cwd=repo, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"error: config file {path}, line {second}: key 'mnist_unet' is given twice" in output
    assert "Traceback" not in output and "Building DAG" not in output


def test_an_alias_bomb_is_refused_at_once(quick, tmp_path):
    text = yaml.safe_dump(dict(quick, samplers=dict(quick["samplers"], methods={"pc": "BOMB"})), sort_keys=False)
    path = tmp_path / "bomb.yaml"
    path.write_text(text.replace("pc: BOMB", f"pc: {ALIAS_BOMB}"))
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"the YAML alias \*l0 is refused: config files may not use anchors"):
        load_yaml(path)
    assert time.perf_counter() - start < 0.5


def test_bytes_that_are_not_utf8_name_the_file_and_offset(repo, tmp_path, capsys):
    head = (repo / "config/quick.yaml").read_bytes()
    path = tmp_path / "latin1.yaml"
    path.write_bytes(head + b"# caf\xe9\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"config file {path} is not UTF-8 text: byte 0xe9 at offset {len(head) + 5}" in err
    assert "Save the file as UTF-8" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a: " + "[" * 100 + "]" * 100 + "\n", "values nested deeper than 20 levels (at 'a.0.0."),
        ("a: [" + "1, " * 20000 + "]\n", "the document holds more than 10000 values"),
        ("# a comment\n" * 30000, "is larger than 256 KiB"),
    ],
    ids=["deep", "many values", "large"],
)
def test_documents_beyond_any_config_are_refused(tmp_path, text, fragment):
    path = tmp_path / "huge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


METHOD_SETTINGS = [
    (
        "samplers",
        "pc",
        {"corrector_steps": -2, "snr": 0.16},
        "'samplers.methods.pc.corrector_steps' is -2; it must be >= 0",
    ),
    ("samplers", "pc", {"corrector_steps": 1.5}, "'samplers.methods.pc.corrector_steps' must be of type integer"),
    (
        "samplers",
        "pc",
        {"corrector_steps": 1, "step_lrr": 0.1},
        "'samplers.methods.pc.step_lrr' is not a setting of sampler method 'pc'; its settings: corrector_steps, snr",
    ),
    (
        "samplers",
        "ald",
        {"step_lrr": 1e-5},
        "'samplers.methods.ald.step_lrr' is not a setting of sampler method 'ald'; its settings: step_lr; "
        "did you mean 'step_lr'?",
    ),
    ("samplers", "ode", {"method": "rk5"}, "'samplers.methods.ode.method' is 'rk5'; allowed values: euler, midpoint"),
    ("samplers", "cas", {"eta": "0.5"}, "'samplers.methods.cas.eta' must be of type number or null"),
    ("toy", "pc", {"snr": 0}, "'toy.samplers.methods.pc.snr' is 0; it must be > 0"),
    (
        "toy",
        "pcc",
        {},
        "unknown key 'pcc' under 'toy.samplers.methods'; allowed: ald, ald_denoise, cas, ode, pc; did you mean 'pc'?",
    ),
]


@pytest.mark.parametrize(
    "section, method, settings, fragment", METHOD_SETTINGS, ids=[m[-1][:50] for m in METHOD_SETTINGS]
)
def test_sampler_settings_are_checked_against_the_method(quick, schema, section, method, settings, fragment):
    bad = copy.deepcopy(quick)
    (bad["toy"]["samplers"] if section == "toy" else bad["samplers"])["methods"][method] = settings
    with pytest.raises(ConfigError) as info:
        validate_config(bad, schema)
    assert fragment in str(info.value)


def test_declared_settings_are_the_keywords_of_each_method():
    """Every registered method declares exactly the keywords its function takes, each admitting its default;
    registering a function whose keywords differ from its declaration is refused."""
    for method in METHODS.values():
        keywords = list(inspect.signature(method.run).parameters.values())[5:]  # after score_fn ... generator
        assert [k.name for k in keywords] == list(method.settings), method.name
        for keyword in keywords:
            jsonschema.validate(keyword.default, method.settings[keyword.name])

    def undeclared(score_fn, init, sigmas, nfe, generator, step_lr=1e-5, extra=2):
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="declares settings \\['step_lr'\\] but its function takes"):
        register("undeclared", settings={"step_lr": {"type": "number"}})(undeclared)
    assert "undeclared" not in METHODS


def test_the_number_of_variants_is_bounded(quick, schema):
    bad = copy.deepcopy(quick)
    bad["variants"].update({f"extra_{i}": bad["variants"]["mnist_unet"] for i in range(65 - len(bad["variants"]))})
    with pytest.raises(ConfigError, match=r"'variants' has 65 key\(s\); it must have at most 64 \(every variant"):
        validate_config(bad, schema)
