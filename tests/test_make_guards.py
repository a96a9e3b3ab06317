"""The Makefile's guards, run with the real make in throwaway checkouts: a running Snakemake keeps its lock
(`make unlock-stale`, the first step of `make study`), and only the supported Python builds the virtualenv."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts/snakemake_running.py"
VENV = Path(sys.prefix)
# A rule that runs long enough for the test to look at the lock it holds.
SNAKEFILE = 'rule all:\n    output: "done"\n    shell: "sleep 60 && touch {output}"\n'
# Answers the Makefile's version question as a Python 3.12 would, logs every call, and fails at anything
# else: a Makefile without the guard gets no virtualenv and no pip install out of it.
FAKE_PYTHON = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$*" in *version_info*) echo 3.12 ;; *) echo "fake python 3.12 asked: $*" >&2; exit 1 ;; esac
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
needs_proc = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="no /proc: processes are not visible")
needs_snakemake = pytest.mark.skipif(
    not (VENV / "bin/snakemake").exists(), reason=f"no snakemake in the virtualenv {VENV}"
)


def make(checkout: Path, *args: str) -> subprocess.CompletedProcess:
    """The real make in `checkout`, without the variables of a make that may be running the tests."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}}
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=checkout, env=env, capture_output=True, text=True, timeout=120
    )


def locks(checkout: Path) -> list[str]:
    folder = checkout / ".snakemake/locks"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def lock_checkout(root: Path) -> Path:
    """A checkout with the Makefile, the lock script, the project's virtualenv and a Snakefile that sleeps."""
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", root)
    shutil.copy(SCRIPT, root / "scripts")
    (root / ".venv").symlink_to(VENV)
    (root / "Snakefile").write_text(SNAKEFILE)
    (root / "config.yaml").write_text("unused: 1\n")
    return root


@pytest.fixture
def start_snakemake():
    """Starts Snakemake as the Makefile does, in its own process group; returns once it holds its lock."""
    started = []

    def start(checkout: Path) -> subprocess.Popen:
        log = (checkout / "snakemake.log").open("w")
        proc = subprocess.Popen(
            [".venv/bin/snakemake", "--cores", "1"], cwd=checkout, stdout=log, stderr=log, start_new_session=True
        )
        started.append(proc)
        deadline = time.monotonic() + 60
        while not locks(checkout):
            assert proc.poll() is None, (checkout / "snakemake.log").read_text()
            assert time.monotonic() < deadline, "Snakemake took a minute and wrote no lock"
            time.sleep(0.1)
        return proc

    yield start
    for proc in started:
        kill_group(proc)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group, as a killed terminal or a preempted job does: the lock stays behind."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@needs_proc
@needs_snakemake
def test_running_snakemake_keeps_its_lock_and_a_killed_one_loses_it(tmp_path, start_snakemake):
    here = lock_checkout(tmp_path / "here")
    elsewhere = lock_checkout(tmp_path / "elsewhere")
    ours = start_snakemake(here)
    theirs = start_snakemake(elsewhere)
    held = locks(here)

    alive = make(here, "unlock-stale", "CONFIG=config.yaml")
    assert alive.returncode == 0, alive.stderr
    assert f"a Snakemake of this checkout is running (pid {ours.pid}" in alive.stdout
    assert "removing" not in alive.stdout
    assert locks(here) == held

    kill_group(ours)
    assert locks(here) == held  # what a killed run leaves; the Snakemake of `elsewhere` must not keep it
    stale = make(here, "unlock-stale", "CONFIG=config.yaml")
    assert stale.returncode == 0, stale.stderr
    assert "removing the lock of an interrupted run" in stale.stdout
    assert locks(here) == []
    assert theirs.poll() is None and locks(elsewhere)


@pytest.mark.parametrize(
    ("argv", "snakemake"),
    [
        (["/c/.venv/bin/python", ".venv/bin/snakemake", "--cores", "2"], True),  # the venv script's shebang
        (["/c/.venv/bin/snakemake", "--cores", "2"], True),
        (["python3.11", "-m", "snakemake", "-n"], True),
        (["python", "-msnakemake"], True),
        (["/opt/conda/bin/python3.11", "-u", "-X", "utf8", "/opt/conda/bin/snakemake", "all"], True),
        (["python", "scripts/snakemake_running.py", "/c"], False),
        (["python", "-m", "pytest", "tests/test_snakemake.py"], False),
        (["python", "-c", "import snakemake"], False),
        (["vim", "snakemake"], False),
        ([], False),
    ],
)
def test_snakemake_is_recognised_however_it_was_started(argv, snakemake):
    spec = importlib.util.spec_from_file_location("snakemake_running", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.runs_snakemake(argv) is snakemake


def fake_python(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fake = folder / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return fake


def setup_checkout(root: Path) -> Path:
    root.mkdir()
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(REPO / name, root)
    return root


def test_setup_refuses_another_python_before_building_anything(tmp_path):
    checkout = setup_checkout(tmp_path / "checkout")
    fake = fake_python(tmp_path / "python3.12")

    result = make(checkout, "setup", f"PYTHON={fake}")
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert re.search(rf"{re.escape(str(fake))} is Python 3\.12\b.*supports Python 3\.11 only", message), message
    assert "PYTHON=/path/to/python3.11" in message
    assert not (checkout / ".venv").exists()
    assert "venv" not in (fake.parent / "calls.log").read_text()


def test_setup_refuses_a_virtualenv_of_another_python(tmp_path):
    checkout = setup_checkout(tmp_path / "checkout")
    fake_python(checkout / ".venv/bin")

    result = make(checkout, "setup")
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert re.search(r"\.venv was built with Python 3\.12\b.*supports Python 3\.11 only", message), message
    assert "rm -rf .venv" in message
    assert "pip" not in (checkout / ".venv/bin/calls.log").read_text()


def test_supported_python_is_the_one_pyproject_requires():
    supported = re.search(r"^SUPPORTED_PYTHON\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.M).group(1)
    requires = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    major, minor = map(int, supported.split("."))
    assert f"{major}.{minor}.0" in requires
    assert f"{major}.{minor + 1}.0" not in requires and f"{major}.{minor - 1}.99" not in requires
