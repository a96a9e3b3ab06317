"""Shared fixtures. Tests run from any directory; paths are anchored at the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import write_tiny_checkpoint

from ncsn.config import load_config, load_yaml
from ncsn.models import native

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    """GPU tests skip, saying why, where PyTorch sees no CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device: PyTorch sees none here (make gpu-check on a GPU machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def snakemake_cmd() -> list[str]:
    """The real Snakemake CLI of the interpreter running the tests."""
    return [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="module")
def schema(repo) -> Path:
    """The config schema of the workflow."""
    return repo / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def quick(repo, schema) -> dict:
    """config/quick.yaml, validated (one copy per test module: deep-copy it before changing it)."""
    return load_config(repo / "config/quick.yaml", schema)


@pytest.fixture(scope="module")
def tiny_config(repo) -> dict:
    """config/tiny.yaml as written (one copy per test module: deep-copy it before changing it)."""
    return load_yaml(repo / "config/tiny.yaml")


@pytest.fixture()
def tiny_checkpoint(tmp_path) -> Path:
    """tmp_path/epoch_1.pt: a checkpoint of an untrained width-4 U-Net (helpers.write_tiny_checkpoint)."""
    return write_tiny_checkpoint(tmp_path / "epoch_1.pt")


@pytest.fixture(autouse=True)
def _quiet_threads(monkeypatch):
    # Two cores: keep torch from oversubscribing when tests spawn subprocesses.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))


@pytest.fixture()
def one_torch_thread():
    """PyTorch on one thread for the test (restored after it)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_study(repo, snakemake_cmd, tmp_path_factory) -> Path:
    """The whole DAG at the tiny profile, run once locally with the real Snakemake CLI.

    One thread per job (two jobs at a time), as in the SLURM test, so both runs compute bitwise alike.
    """
    workdir = tmp_path_factory.mktemp("tiny-study")
    proc = subprocess.run(
        snakemake_cmd
        + [
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            str(repo / "config/tiny.yaml"),
            "--directory",
            str(workdir),
            "--cores",
            "2",
            "--max-threads",
            "1",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return workdir


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """An empty kernel cache in tmp_path; the loaded library is forgotten before and after the test."""
    monkeypatch.setenv("NCSN_KERNEL_CACHE", str(tmp_path))
    native._library.cache_clear()
    yield tmp_path
    native._library.cache_clear()
