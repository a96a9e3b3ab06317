"""The report's code version: a commit hash, '+dirty' when tracked code differs from it, but not when only
the tracked published reports do (regenerating a report must not mark its own run dirty)."""

from __future__ import annotations

import subprocess

from ncsn.report.provenance import git_revision


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_code_version_is_dirty_for_code_but_not_for_the_published_reports(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "reports" / "laptop").mkdir(parents=True)
    (tmp_path / "src" / "code.py").write_text("x = 1\n")
    (tmp_path / "reports" / "laptop" / "claims.json").write_text("[]\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_revision(tmp_path / "src")
    assert len(clean) == 40 and not clean.endswith("+dirty")

    (tmp_path / "reports" / "laptop" / "claims.json").write_text('[{"claim": "regenerated"}]\n')
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert git_revision(tmp_path / "src") == clean

    (tmp_path / "src" / "code.py").write_text("x = 2\n")
    assert git_revision(tmp_path / "src") == clean + "+dirty"


def test_outside_git_the_code_version_is_unknown(tmp_path):
    assert git_revision(tmp_path) == "unknown"
