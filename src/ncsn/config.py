"""Load and validate the study configuration.

Config files are read by ``load_yaml``, which refuses what plain YAML would accept silently or at any
cost: a key given twice in one mapping (YAML keeps the last value), aliases (``*name``, with which a
1 KB file can expand into billions of values), documents too large or too deep to be a config, and bytes
that are not UTF-8. The schema (``workflow/schemas/config.schema.yaml``, completed with the settings
that each sampler method declares where it is registered, ``ncsn.sampling.methods``) checks types,
allowed values and unknown keys; the checks below it cover what a JSON schema cannot say
(``sigma_min < sigma_max``, finite numbers, checkpoints at trained epochs, evaluated variants that exist).
The Snakefile and ``check-config`` (ncsn.check_config) call the same ``load_yaml`` and ``validate_config``,
so both accept and refuse the same files. Every schema problem is reported at once, each naming its key,
so a user fixes a config in one pass.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ncsn import layout, plan
from ncsn.errors import ConfigError
from ncsn.sampling.methods import METHODS, trained_levels_only

# The package is installed editable from the repository (make setup): the schema sits beside src/.
DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
TEST_SPLIT_SIZE = 10000  # MNIST and Fashion-MNIST

# Bounds of a config document, far above the study's files (config/*.yaml: at most 7 KB, 420 values,
# 6 levels; the schema: 20 KB, 1150 values, 10 levels) and far below what takes a noticeable time to read.
MAX_CONFIG_BYTES = 256 * 1024
MAX_CONFIG_NODES = 10_000
MAX_CONFIG_DEPTH = 20
MERGE_TAG = "tag:yaml.org,2002:merge"


def _label(index: Any) -> str | None:
    """The path element of a node from the index PyYAML composes it under (None for a mapping's key)."""
    if isinstance(index, yaml.ScalarNode):
        return index.value
    return None if index is None else str(index)


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and aliases and bounds the number and nesting of values."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.name = source  # YAML's own error messages then name the file
        self.source = source
        self._nodes = 0
        self._path: list[str | None] = []
        self._mapping_paths: dict[yaml.Node, str] = {}

    def _refuse(self, mark: yaml.Mark, what: str) -> ConfigError:
        return ConfigError(f"config file {self.source}, line {mark.line + 1}: {what}")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(
                event.start_mark,
                f"the YAML alias *{event.anchor} is refused: config files may not use anchors (&name) and "
                f"aliases (*name). A config has no need for them, and a few aliases can expand a small file "
                f"into billions of values. Write the value out in full.",
            )
        self._nodes += 1
        if self._nodes > MAX_CONFIG_NODES:
            raise self._refuse(
                event.start_mark,
                f"the document holds more than {MAX_CONFIG_NODES} values; a config of the study holds a few "
                f"hundred. Pass the right file, or shorten it.",
            )
        self._path.append(_label(index))
        try:
            if len(self._path) > MAX_CONFIG_DEPTH:
                raise self._refuse(
                    event.start_mark,
                    f"values nested deeper than {MAX_CONFIG_DEPTH} levels (at '{self._dotted()}'); a config of "
                    f"the study nests at most 6. Flatten or remove that value.",
                )
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.MappingNode):
                self._mapping_paths[node] = self._dotted()
            return node
        finally:
            self._path.pop()

    def _dotted(self) -> str:
        return _key(p for p in self._path if p is not None)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first.setdefault(key, key_node)
            except TypeError:  # an unhashable key: SafeLoader's own error names it below
                continue
            if earlier is not key_node:
                raise self._duplicate(node, key, earlier.start_mark, key_node.start_mark)
        return super().construct_mapping(node, deep)

    def _duplicate(self, node: yaml.MappingNode, key: Any, earlier: yaml.Mark, later: yaml.Mark) -> ConfigError:
        where = self._mapping_paths.get(node, "<top level>")
        where = "at the top level" if where == "<top level>" else f"in '{where}'"
        return self._refuse(
            later,
            f"key {key!r} is given twice {where} (lines {earlier.line + 1} and {later.line + 1}); YAML would "
            f"keep the second value and silently drop the first. Remove or rename one of the two.",
        )


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file.") from None
    except OSError as err:
        raise ConfigError(f"config file {path} cannot be read ({err.strerror}); pass a readable YAML file.") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB; a config of the study is a few KB "
            f"(config/config.yaml: 7 KB). Pass the right file, or shorten it."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"config file {path} is not UTF-8 text: byte 0x{data[err.start]:02x} at offset {err.start} "
            f"(line {line}) is not valid UTF-8. Save the file as UTF-8 (your editor's 'save with encoding') "
            f"and run again."
        ) from None


def load_yaml(path: str | Path) -> Any:
    """The YAML document of a config (or schema) file, refusing duplicate keys, aliases, non-UTF-8 bytes
    and documents beyond MAX_CONFIG_BYTES / MAX_CONFIG_NODES / MAX_CONFIG_DEPTH, each with a ConfigError."""
    path = Path(path)
    loader = _ConfigLoader(_read_text(path), str(path))
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    finally:
        loader.dispose()


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Re-read the config files Snakemake was given: its loader keeps the last of two equal keys and
    expands aliases, so what only ``load_yaml`` refuses has to be looked for in the files themselves."""
    for path in paths:
        load_yaml(path)


def _methods_schema() -> dict[str, Any]:
    """The schema of `samplers.methods`: each registered method's mapping is closed to the settings it
    declares."""
    return {
        "description": "Sampler method -> its keyword settings ({} for the defaults); ncsn.sampling.methods.",
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            name: {"type": "object", "additionalProperties": False, "x-method": name, "properties": dict(m.settings)}
            for name, m in METHODS.items()
        },
    }


def completed_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its `sampler_methods` definition (a stand-in in the YAML) built from the methods'
    declared settings, so that adding a sampler needs no edit of the schema file."""
    defs = schema.get("$defs", {})
    if "sampler_methods" in defs:
        defs["sampler_methods"] = _methods_schema()
    return schema


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
        return _unknown_keys(key, schema, value)
    if kind in {"minProperties", "maxProperties"}:
        op = "at least" if kind == "minProperties" else "at most"
        why = f" ({schema['x-why']})" if kind == "maxProperties" and "x-why" in schema else ""
        return f"'{key}' has {len(value)} key(s); it must have {op} {error.validator_value}{why}"
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


def _unknown_keys(key: str, schema: Mapping[str, Any], value: Mapping[str, Any]) -> str:
    allowed = sorted(schema.get("properties", {}))
    unknown = sorted(str(k) for k in value if k not in allowed)
    named = ", ".join(repr(u) for u in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
    close = [m for u in unknown[:10] for m in difflib.get_close_matches(u, allowed, n=1)]
    hint = f"; did you mean {' / '.join(repr(m) for m in close)}?" if close else ""
    if "x-method" in schema:
        where = f"'{key}.{unknown[0]}'" if len(unknown) == 1 else f"{named} under '{key}'"
        known = ", ".join(allowed) or "none (use {})"
        return f"{where} is not a setting of sampler method {schema['x-method']!r}; its settings: {known}{hint}"
    where = "" if key == "<top level>" else f" under '{key}'"
    plural = "s" if len(unknown) > 1 else ""
    return f"unknown key{plural} {named}{where}; allowed: {', '.join(allowed)}{hint}"


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
    if "samplers" in config:
        arch = variants.get(config["samplers"]["variant"], {}).get("arch")
        between = sorted(set(config["samplers"]["methods"]) - trained_levels_only())
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
    fashion = config.get("fashion", {})
    strays = sorted(set(fashion.get("variant_steps", {})) - set(fashion.get("variants", [])))
    if strays:
        problems.append(
            f"'fashion.variant_steps' names {strays}, not in 'fashion.variants' {fashion['variants']}: their steps "
            f"would never be sampled; add them to 'fashion.variants' or remove them"
        )
    if "n_samples" in fashion:
        fashion_data = {variants[v]["dataset"] for v in fashion["variants"] if v in variants}
        others = [s.variant for s in plan.table1_sets(config) + plan.figure1_sets(config)]
        others += [s.variant for s in plan.method_sets(config)]
        shared = sorted({v for v in others if v in variants and variants[v]["dataset"] in fashion_data})
        if shared:
            problems.append(
                f"'fashion.n_samples' sets the sample size of {sorted(fashion_data)}, which {shared} (Table 1, the "
                f"sweep or the samplers experiment) also sample with 'evaluation.n_samples': one dataset has one "
                f"set size (its data floor and calibration sets are of that size); drop 'fashion.n_samples'"
            )
    for variant, _, point, section in plan.requested_checkpoints(config):
        if variant not in variants:
            problems.append(f"'{section}' names variant {variant!r}, which is not in 'variants'")
        elif point not in plan.points(config, variant):
            kind, number = layout.parse_point(point)
            key = f"checkpoint_{kind}s"
            kept = sorted(variants[variant].get(key, []))
            problems.append(
                f"'{section}' asks for {kind} {number} of {variant!r}, not in 'variants.{variant}.{key}' {kept}"
            )
    return sorted(set(problems))


def validate_config(
    config: Mapping[str, Any], schema_path: str | Path = DEFAULT_SCHEMA, source: str = "the config"
) -> dict[str, Any]:
    """Return ``config`` as a plain dict, or raise ConfigError listing every problem found."""
    schema = completed_schema(load_yaml(schema_path))
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
