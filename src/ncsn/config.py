"""Load and validate the study configuration.

The schema (``workflow/schemas/config.schema.yaml``) checks types, allowed values and unknown keys;
the checks below it cover what a JSON schema cannot say (``sigma_min < sigma_max``, finite numbers,
checkpoints at trained epochs, evaluated variants that exist).  The Snakefile and ``check-config``
(ncsn.check_config) call the same ``validate_config``, so both accept and refuse the same files.  Every
problem is reported at once, each naming its key, so a user fixes a config in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ncsn.errors import ConfigError

# The package is installed editable from the repository (make setup): the schema sits beside src/.
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
TEST_SPLIT_SIZE = 10000  # MNIST and Fashion-MNIST


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        with path.open() as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None


def _key(path: Iterator[Any]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    schema, kind, value = error.schema, error.validator, error.instance
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        where = "" if key == "<top level>" else f" in '{key}'"
        return f"missing required key{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}{where}"
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(k for k in value if k not in allowed)
        where = "" if key == "<top level>" else f" under '{key}'"
        plural = "s" if len(unknown) > 1 else ""
        return f"unknown key{plural} {', '.join(repr(u) for u in unknown)}{where}; allowed: {', '.join(allowed)}"
    if kind == "enum":
        return f"'{key}' is {value!r}; allowed values: {', '.join(map(str, error.validator_value))}"
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"'{key}' must be of type {expected}, got {value!r} ({type(value).__name__})"
    if kind in {"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"}:
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        why = f" ({schema['x-why']})" if kind == "maximum" and "x-why" in schema else ""
        return f"'{key}' is {value!r}; it must be {op} {error.validator_value}{why}"
    if kind in {"minItems", "maxItems", "uniqueItems"}:
        return f"'{key}': {error.message}"
    return f"'{key}': {error.message}"


def _semantic_problems(node: Any, path: tuple = ()) -> Iterator[str]:
    """Checks across keys, applied wherever the keys occur in the config, and finiteness of every number
    (a JSON schema's bounds do not reject NaN, against which every comparison is false)."""
    if isinstance(node, float) and not math.isfinite(node):
        yield f"'{_key(path)}' is {node}; every number of the config must be finite"
    elif isinstance(node, Mapping):
        lo, hi = node.get("sigma_min"), node.get("sigma_max")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and lo >= hi:
            key = _key(path + ("sigma_min",))
            yield f"'{key}' ({lo}) must be smaller than '{_key(path + ('sigma_max',))}' ({hi})"
        for name, child in node.items():
            yield from _semantic_problems(child, path + (name,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _semantic_problems(child, path + (i,))


def variant_problems(config: Mapping[str, Any]) -> list[str]:
    """Every checkpoint epoch of a variant is one that gets trained."""
    return [
        f"'variants.{name}.checkpoint_epochs' {sorted(e for e in v['checkpoint_epochs'] if e > v['epochs'])} "
        f"exceed 'variants.{name}.epochs' ({v['epochs']})"
        for name, v in config.get("variants", {}).items()
        if max(v["checkpoint_epochs"]) > v["epochs"]
    ]


def evaluation_problems(config: Mapping[str, Any]) -> list[str]:
    """Every variant and epoch that `evaluation`, `sweep` and `fashion` ask for is trained and kept."""
    problems = []
    sampler = config.get("sampler", {})
    if sampler.get("shards", 1) > 1 and sampler.get("seeding", "set") != "batch":
        problems.append(
            f"'sampler.shards' is {sampler['shards']}, which needs 'sampler.seeding: batch' (with one "
            f"generator for the whole set, a part of it cannot be drawn alone)"
        )
    if "evaluation" not in config:
        return problems
    variants = config.get("variants", {})
    wanted = [(v, e, "evaluation") for v in config["evaluation"]["variants"] for e in config["evaluation"]["epochs"]]
    if "sweep" in config:
        wanted.append((config["sweep"]["variant"], config["sweep"]["epoch"], "sweep"))
    if "fashion" in config:
        wanted += [(v, e, "fashion") for v in config["fashion"]["variants"] for e in config["fashion"]["epochs"]]
    if "samplers" in config:
        wanted.append((config["samplers"]["variant"], config["samplers"]["epoch"], "samplers"))
        arch = variants.get(config["samplers"]["variant"], {}).get("arch")
        between = sorted(set(config["samplers"]["methods"]) - {"ald", "ald_denoise"})
        if arch not in (None, "unet") and between:
            problems.append(
                f"'samplers.methods' {between} evaluate the network between its trained levels, but "
                f"'samplers.variant' {config['samplers']['variant']!r} is a level-indexed {arch}; "
                f"use a variant with arch: unet"
            )
    n_batches = -(-config["evaluation"]["n_samples"] // config["evaluation"]["sample_batch_size"])
    if sampler.get("shards", 1) > n_batches:
        problems.append(
            f"'sampler.shards' is {sampler['shards']}, more than the {n_batches} batch(es) of a sample "
            f"set (evaluation.n_samples / sample_batch_size)"
        )
    if config["evaluation"]["n_reference"] > TEST_SPLIT_SIZE:
        problems.append(
            f"'evaluation.n_reference' = {config['evaluation']['n_reference']} exceeds the "
            f"{TEST_SPLIT_SIZE} test images"
        )
    for variant, epoch, section in wanted:
        if variant not in variants:
            problems.append(f"'{section}' names variant {variant!r}, which is not in 'variants'")
        elif epoch not in variants[variant]["checkpoint_epochs"]:
            problems.append(
                f"'{section}' asks for epoch {epoch} of {variant!r}, not in "
                f"'variants.{variant}.checkpoint_epochs' {sorted(variants[variant]['checkpoint_epochs'])}"
            )
    return sorted(set(problems))


def validate_config(
    config: Mapping[str, Any], schema_path: str | Path = DEFAULT_SCHEMA, source: str = "the config"
) -> dict[str, Any]:
    """Return ``config`` as a plain dict, or raise ConfigError listing every problem found."""
    schema = load_yaml(schema_path)
    if config is not None and not isinstance(config, Mapping):
        raise ConfigError(
            f"{source} must be a YAML mapping of keys (profile, seed, ...), not a "
            f"{type(config).__name__}; start from config/quick.yaml."
        )
    config = dict(config or {})
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted({_describe(e) for e in validator.iter_errors(config)})
    if not problems:
        problems = list(_semantic_problems(config))
    if not problems:
        problems = variant_problems(config) + evaluation_problems(config)
    if problems:
        bullet = "\n  - ".join(problems)
        raise ConfigError(
            f"{source} is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n  - {bullet}\n"
            f"Fix the key(s) in the config file (or the --config override); config/README.md explains "
            f"every key and its allowed values."
        )
    return config


def load_config(path: str | Path, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    return validate_config(load_yaml(path), schema_path, source=f"config file {path}")
