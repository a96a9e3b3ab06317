"""`python -m ncsn check-config FILE`: validate a config file as the Snakefile does (ncsn.config)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ncsn.config import DEFAULT_SCHEMA, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configfile", type=Path, help="YAML config to check")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA, help="JSON schema (YAML)")


def run(args: argparse.Namespace) -> int:
    load_config(args.configfile, args.schema)
    print(f"{args.configfile}: valid")
    return 0
