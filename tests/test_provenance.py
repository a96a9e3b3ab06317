"""The report's code version: a commit hash, '+dirty' when tracked code differs from it, but not when only
the tracked published reports do (regenerating a report must not mark its own run dirty)."""

from __future__ import annotations

import subprocess

import pandas as pd

from ncsn.report.provenance import git_revision, stage_costs, with_resumed_training


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


def test_a_resumed_training_counts_all_its_segments_in_the_stage_table():
    # the benchmark file of a resumed train job holds its last segment (3.5 s); metrics.csv sums 360 s
    jobs = pd.DataFrame(
        {"job": ["train/a_seed_0", "train/b_seed_0", "sample/x"], "wall_s": [3.5, 400.0, 60.0], "peak_rss_mib": 1.0}
    )
    fixed = with_resumed_training(jobs, {"train/a_seed_0": 360.0, "train/b_seed_0": 380.0})
    assert fixed["wall_s"].tolist() == [360.0, 400.0, 60.0]  # a whole benchmark (startup included) is kept
    assert jobs["wall_s"].tolist() == [3.5, 400.0, 60.0]  # the per-job table keeps what the files say
    stages = stage_costs(fixed).set_index("stage")
    assert stages.loc["train", "wall_min"] == (360.0 + 400.0) / 60
    assert stages.loc["all jobs", "wall_min"] == (360.0 + 400.0 + 60.0) / 60
