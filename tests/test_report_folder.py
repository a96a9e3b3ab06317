"""The report owns its output folder (issue 27): it refuses a folder it did not make, and swaps a whole new
folder in by rename, so a page never lacks its figures and no file of an earlier build survives.

The sections are faked (one figure and one table per build) so that each test builds in well under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from ncsn import cli
from ncsn.report import build, sections
from ncsn.report.html import Section

CONFIG = {"profile": "tiny", "seed": 0, "variants": {}}  # no trained network to check


@pytest.fixture()
def fake_report(monkeypatch, tmp_path):
    """Sections reduced to one whose figure is named after the build: call it with the build's tag."""
    monkeypatch.setattr(build, "report_inputs", lambda config, results: [])
    figures = tmp_path / "made"
    figures.mkdir()

    def use(tag: str, *more) -> None:
        def section(results, config):
            figure = figures / f"figure_{tag}.png"
            figure.write_bytes(f"png of build {tag}".encode())
            table = pd.DataFrame({"build": [tag]})
            return Section("Fake", f"<p>build {tag}</p>", [(figure, "a figure")], [(f"table {tag}", table)])

        monkeypatch.setattr(sections, "BUILDERS", [section, *more])

    return use


def _report(out: Path) -> int:
    argv = ["report", "--results", str(out.parent / "results"), "--config-json", json.dumps(CONFIG)]
    return cli.main([*argv, "--out", str(out)])


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under folder (hidden ones too) with its bytes; None for a folder."""
    return {p.relative_to(folder).as_posix(): None if p.is_dir() else p.read_bytes() for p in folder.rglob("*")}


def _built_by(folder: Path) -> str | None:
    """The tag of the build the folder is a complete report of; None while it is missing; 'broken' else."""
    if not folder.exists():
        return None
    page = (folder / "index.html").read_text() if (folder / "index.html").is_file() else ""
    tags = [p.stem.removeprefix("figure_") for p in (folder / "figures").glob("*.png")]
    return tags[0] if len(tags) == 1 and f"build {tags[0]}" in page else "broken"


@pytest.mark.parametrize(
    "page, fragment",
    [("index.html", "has no .ncsn-report file"), ("notes.txt", "the report is an HTML page")],
)
def test_a_folder_the_report_did_not_make_is_refused_and_left_alone(tmp_path, fake_report, capsys, page, fragment):
    """A folder holding the user's own figures/ and tables/ (no marker), or an --out that is not a page:
    exit 1 with one paragraph naming the folder and what to do, and every file as it was."""
    fake_report("1")
    mine = tmp_path / "mine"
    (mine / "figures").mkdir(parents=True)
    (mine / "tables").mkdir()
    (mine / "figures/plot.png").write_bytes(b"the user's figure")
    (mine / "tables/numbers.csv").write_text("a,b\n1,2\n")
    (mine / "index.html").write_text("the user's page")
    before = _tree(tmp_path)

    assert _report(mine / page) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --out ") and fragment in err and "Traceback" not in err, err
    assert "Choose another --out" in err or "e.g. reports/<profile>/index.html" in err, err
    assert _tree(tmp_path) == before


def test_the_working_directory_is_not_a_report_folder(tmp_path, fake_report, monkeypatch, capsys):
    """--out index.html from an empty folder: swapping that folder out would leave the shell in a deleted one."""
    fake_report("1")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert _report(Path("index.html")) == 1
    assert "is the working directory. Nothing was written." in capsys.readouterr().err
    assert list(here.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["here", "made"]


def test_a_second_build_replaces_the_report_it_made_whole(tmp_path, fake_report):
    """An empty folder (as Snakemake makes it) is accepted; the next build (here of a page named differently)
    leaves no file of the first: not its figure, not its page."""
    out = tmp_path / "reports" / "tiny" / "index.html"
    out.parent.mkdir(parents=True)
    fake_report("1")
    assert _report(out) == 0
    assert "figures/figure_1.png" in _tree(out.parent)
    fake_report("2")
    assert _report(out.with_name("page.html")) == 0
    assert "figures/figure_1.png" not in _tree(out.parent)
    assert sorted(_tree(out.parent)) == [
        ".ncsn-report",
        "claims.json",
        "figures",
        "figures/figure_2.png",
        "page.html",
        "summary.md",
        "tables",
        "tables/table_2.csv",
    ]
    assert sorted(p.name for p in out.parent.parent.iterdir()) == ["tiny"]


LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")


@pytest.mark.parametrize("exchange", [pytest.param("renameat2", marks=LINUX_ONLY), "two renames"])
def test_the_new_report_replaces_the_old_folder_in_one_rename(tmp_path, fake_report, monkeypatch, exchange):
    """The new report is a different directory from the old one (which is deleted), and after every
    rename or deletion the build makes, the folder is a complete report of one build: as if the build
    were killed there. With renameat2 the folder is never even missing."""
    out = tmp_path / "tiny" / "index.html"
    fake_report("1")
    assert _report(out) == 0
    old = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        old_inode = os.fstat(old).st_ino
        if exchange == "two renames":
            monkeypatch.setattr(build, "_exchange", lambda a, b: False, raising=False)
        seen = []

        def after(function):
            def call(*args, **kwargs):
                result = function(*args, **kwargs)
                seen.append(_built_by(out.parent))
                return result

            return call

        for module, name in [(os, "rename"), (os, "replace"), (shutil, "rmtree")]:
            monkeypatch.setattr(module, name, after(getattr(module, name)))
        if hasattr(build, "_exchange"):
            monkeypatch.setattr(build, "_exchange", after(build._exchange))
        fake_report("2")
        assert _report(out) == 0
        monkeypatch.undo()

        assert os.stat(out.parent).st_ino != old_inode
        assert os.fstat(old).st_nlink == 0  # the old report's folder is deleted, not refilled
        assert _built_by(out.parent) == "2"
        allowed = {"1", "2"} | ({None} if exchange == "two renames" else set())
        assert seen and set(seen) <= allowed, seen
        assert sorted(p.name for p in tmp_path.iterdir()) == ["made", "tiny"]
    finally:
        os.close(old)


@pytest.mark.parametrize("killed", ["between the swap's two renames", "after the swap's second rename"])
def test_a_build_that_fails_half_way_leaves_the_previous_report(tmp_path, fake_report, killed):
    """What a killed build left (its staging folder; the previous report at .old, or an older one there with
    the previous report in place) does not break the next build: when that build fails half-way, in a
    section builder, the previous report is in place byte for byte and nothing else is beside it."""
    reports = tmp_path / "reports"
    out = reports / "tiny" / "index.html"
    fake_report("1")
    assert _report(out) == 0
    before = _tree(out.parent)
    if killed == "between the swap's two renames":
        out.parent.rename(reports / ".tiny.old")
    else:
        shutil.copytree(out.parent, reports / ".tiny.old")
    (reports / ".tiny.staging" / "figures").mkdir(parents=True)

    def fails(results, config):
        raise RuntimeError("a section fails half-way")

    fake_report("2", fails)
    with pytest.raises(RuntimeError, match="half-way"):
        build.build_report(tmp_path / "results", CONFIG, out)
    assert _tree(out.parent) == before
    assert sorted(p.name for p in reports.iterdir()) == ["tiny"]
