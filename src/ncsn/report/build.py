"""``python -m ncsn report``: assemble the study's tables and figures into reports/.

Each section of the poster has a builder in ``ncsn.report.sections`` that reads the results of its
rules and returns a :class:`~ncsn.report.html.Section`; this module copies the figures next to the
page, writes every table as CSV and renders the HTML.

The report owns its folder: it writes the whole folder (page, figures/, tables/, claims, summary and a
marker file, ``.ncsn-report``) in a staging folder beside it and swaps it in by rename, so the page never
lacks its figures and no file of an earlier build survives. A folder without the marker is not the
report's and is refused, so a report never replaces files a user put there.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import functools
import json
import os
import shutil
import sys
from pathlib import Path

from ncsn.errors import NcsnError
from ncsn.report import sections
from ncsn.report.html import Section, page_html
from ncsn.report.inputs import check_checkpoints_match_config, missing_inputs_message, report_inputs
from ncsn.report.sections.common import scale_note

MARKER = ".ncsn-report"
MARKER_TEXT = (
    "Written by `python -m ncsn report` (NCSN reproduction study). The report owns this folder: each build\n"
    "replaces it whole, so any file added here is deleted by the next build.\n"
)
# renameat2(2) on Linux: AT_FDCWD resolves relative paths from the working directory, as rename does.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _publish(section: Section, out_dir: Path) -> Section:
    """Copy figures to out_dir/figures and write tables to out_dir/tables; return the page's view."""
    figures = []
    for path, caption in section.figures:
        target = out_dir / "figures" / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        figures.append((target.relative_to(out_dir), caption))
    for caption, frame in section.tables:
        name = "".join(c if c.isalnum() else "_" for c in caption.lower()).strip("_")[:60]
        target = out_dir / "tables" / f"{name}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(target, index=False)
    return Section(section.title, section.text, figures, section.tables, section.claims)


def build_report(results: Path, config: dict, out: Path) -> Path:
    """Write out (index.html) with its figures/, tables/, claims.json and summary.md beside it.

    Every input and the output folder are checked first; the page is built in a staging folder and
    swapped in whole, so a failure at any point leaves the previous report as it was."""
    missing = [p for p in report_inputs(config, results) if not p.is_file()]
    if missing:
        raise NcsnError(missing_inputs_message(missing, Path(results)))
    check_checkpoints_match_config(config, Path(results))
    out_dir = report_folder(Path(out))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(out_dir)
    staging = _beside(out_dir, "staging")
    staging.mkdir()
    try:
        (staging / MARKER).write_text(MARKER_TEXT)
        _write_page(results, config, staging, Path(out).name)
        _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def report_folder(out: Path) -> Path:
    """The absolute folder of the page out, once it is sure the report may replace it whole."""
    if out.suffix.lower() != ".html":
        raise NcsnError(
            f"--out {out}: the report is an HTML page, so --out names a .html file (e.g. "
            f"reports/<profile>/index.html) in a folder that the report owns and replaces whole on each build. "
            f"Nothing was written."
        )
    out_dir = out.parent.resolve()
    if reason := _not_replaceable(out_dir):
        raise NcsnError(
            f"--out {out}: the report replaces the folder of its page whole on each build, and that folder, "
            f"{out_dir}, {reason}. Nothing was written. Name a page in a folder of its own, e.g. "
            f"--out reports/<profile>/index.html."
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise NcsnError(f"--out {out}: {out_dir} is a file, not a folder. Nothing was written. Choose another --out.")
    if out_dir.is_dir() and not (out_dir / MARKER).is_file() and any(out_dir.iterdir()):
        raise NcsnError(
            f"--out {out}: the report replaces its folder whole on each build, and {out_dir} already holds "
            f"files that no report wrote (it has no {MARKER} file), so nothing in it was touched and nothing was "
            f"written. Choose another --out (a new or empty folder, e.g. reports/<profile>/index.html), or move "
            f"your files out of {out_dir} or remove it, then build the report again."
        )
    return out_dir


def _not_replaceable(out_dir: Path) -> str:
    """Why out_dir may not be swapped out even when it is the report's (a shell would be left in a deleted
    folder); '' when it may."""
    cwd = Path.cwd().resolve()
    if out_dir.parent == out_dir:
        return "is the root of the filesystem"
    if out_dir == cwd:
        return "is the working directory"
    if out_dir in cwd.parents:
        return "holds the working directory"
    return ""


def _beside(out_dir: Path, role: str) -> Path:
    """reports/.<profile>.staging (the next report) or reports/.<profile>.old (the previous one, mid-swap)."""
    return out_dir.parent / f".{out_dir.name}.{role}"


def _clear_leftovers(out_dir: Path) -> None:
    """Undo what a build killed mid-way left beside out_dir: its staging folder and a swap's old folder."""
    old = _beside(out_dir, "old")
    if not out_dir.exists() and (old / MARKER).is_file():
        os.rename(old, out_dir)  # killed between the fallback's two renames: the previous report goes back
    for leftover in (_beside(out_dir, "staging"), old):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)


def _write_page(results: Path, config: dict, folder: Path, page: str) -> None:
    """Every section's figures and tables, claims.json, summary.md and the page itself, into folder."""
    built = [
        _publish(section, folder) for builder in sections.BUILDERS if (section := builder(results, config)) is not None
    ]
    claims = [{"section": s.title, **vars(c)} for s in built for c in s.claims]
    (folder / "claims.json").write_text(json.dumps(claims, indent=2))
    (folder / "summary.md").write_text(claims_markdown(claims, config))
    subtitle = (
        f"Profile <b>{config['profile']}</b>, seed {config['seed']}. Generated by "
        f"<code>python -m ncsn report</code> from the outputs of the Snakemake workflow."
    )
    (folder / page).write_text(
        page_html(
            "NCSN reproduction: denoising score matching + annealed Langevin dynamics",
            subtitle,
            built,
            note=scale_note(config),
        )
    )


def _swap_in(staging: Path, out_dir: Path) -> None:
    """Put the folder staging at out_dir in one step; the previous report (if any) ends up at staging."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
    elif not _exchange(staging, out_dir):
        # No atomic exchange on this system (not Linux, an old kernel, or a filesystem that refuses it):
        # two renames back to back. Between them out_dir is missing for an instant, never half-written,
        # and a build killed there gets the previous report back from .old at its next start.
        old = _beside(out_dir, "old")
        os.rename(out_dir, old)
        os.rename(staging, out_dir)
        os.rename(old, staging)


@functools.cache
def _renameat2():
    """libc's renameat2 (glibc 2.28+), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        function.restype = ctypes.c_int
    return function


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders a and b in one rename (RENAME_EXCHANGE); False where the system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def claims_markdown(claims: list[dict], config: dict) -> str:
    """The poster-vs-reproduced table as Markdown (for the README's Results section)."""

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [
        f"Profile `{config['profile']}`, seed {config['seed']}.",
        "",
        "| section | poster's claim | poster | measured here | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {cell(c['section'])} | {cell(c['claim'])} | {cell(c['poster'])} | {cell(c['measured'])} | "
        f"**{c['verdict']}** |"
        for c in claims
    ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results"), help="the workflow's results folder")
    parser.add_argument("--config-json", required=True, help="the config of the run, as JSON")
    parser.add_argument("--out", type=Path, default=Path("reports/quick/index.html"))


def run(args: argparse.Namespace) -> int:
    config = json.loads(args.config_json)
    path = build_report(args.results, config, args.out)
    print(f"report written to {path}")
    return 0
