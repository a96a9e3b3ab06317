"""Shared fixtures. Tests run from any directory; paths are anchored at the repository root."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def snakemake_cmd() -> list[str]:
    """The real Snakemake CLI of the interpreter running the tests."""
    return [sys.executable, "-m", "snakemake"]


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    # Two cores: keep torch from oversubscribing when tests spawn subprocesses.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
