"""What the toy commands share: their settings, seeding, figures and JSON output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as pyplot
import torch

from ncsn.cli_options import THREADS_HELP, add_run_options
from ncsn.errors import NcsnError
from ncsn.json_settings import json_object


def add_common_arguments(
    parser: argparse.ArgumentParser, study: str, threads_default: int | None = None, threads_help: str = THREADS_HELP
) -> None:
    """The options every toy command takes (--threads: default and help per command)."""
    parser.add_argument("--settings", required=True, help=f"JSON: the config section toy.{study}")
    add_run_options(parser, threads_default=threads_default, threads_help=threads_help)
    parser.add_argument("--profile", default="", help="config profile, written into the JSON")
    parser.add_argument("--out-dir", required=True, type=Path, help=f"results/toy/{study}")


def parse_settings(text: str, required: Iterable[str], command: str) -> dict[str, Any]:
    """The JSON of a command's --settings (a `toy.<study>` config section), with its keys checked."""
    settings = json_object(text, f"--settings of `{command}`", "the config section, as the toy rules pass it")
    missing = sorted(set(required) - set(settings))
    if missing:
        raise NcsnError(f"--settings of `{command}` lacks {', '.join(missing)} (config/README.md, section `toy`)")
    return settings


def generator(seed: int, *stream: int) -> torch.Generator:
    """A CPU generator for one random stream of the study: seed and stream indices mixed into one seed."""
    mixed = seed
    for index in stream:
        mixed = mixed * 1_000_003 + index + 1
    return torch.Generator().manual_seed(mixed % 2**63)


def plt():
    """pyplot on the Agg backend (files only: no display is needed or used)."""
    matplotlib.use("Agg")
    return pyplot


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def write_figure(fig, path: Path) -> None:
    """Save a figure (creating the folder) and close it."""
    save_figure(fig, path)
    pyplot.close(fig)
