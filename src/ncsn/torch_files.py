"""Reading and writing the project's torch files (checkpoints, sample sets, classifier weights).

Writes are atomic: the file is written under a temporary name in the same folder and renamed, so a
run killed at any moment, or a full disk, leaves the previous file or the new one, never a torn one.
Reads turn every way a file can be wrong (missing, truncated, random bytes, another program's pickle,
a dict without the expected keys) into one NcsnError that names the file and says what to do.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ncsn.errors import NcsnError


def _temporary(path: Path, suffix: str) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.{suffix}"


def save_atomic(obj: Any, path: str | Path) -> None:
    """torch.save `obj` to `path`, fsynced, replacing any previous file in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, "tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, "tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_with(path: str | Path, write) -> None:
    """Call write(temporary_path) and move its result to `path` (for writers that take a path, e.g. a PNG)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, "tmp" + path.suffix)  # keep the suffix: image writers pick the format from it
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def link_atomic(source: Path, target: Path) -> None:
    """Make `target` the same file as `source` (a hard link; a copy where links are impossible)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(target, "link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def load_dict(
    path: str | Path,
    what: str,
    remedy: str,
    required: Iterable[str] = (),
    error: type[NcsnError] = NcsnError,
    device: str | torch.device = "cpu",
    weights_only: bool = False,
) -> dict[str, Any]:
    """The dict torch-saved at `path`, which must hold the keys `required`.

    `what` names the file for the user ("checkpoint", "sample set"); `remedy` says what to do, e.g.
    "rerun the train rule for its variant". `weights_only` as in torch.load (tensors and plain types only)."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {path} does not exist; {remedy}.")
    if not path.is_file():
        raise error(f"{what} {path} is not a file; remove it and {remedy}.")
    try:
        data = torch.load(path, map_location=device, weights_only=weights_only)
    except Exception as err:  # truncated zip, random bytes, a foreign pickle: all the same to the user
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise error(
            f"{what} {path} cannot be read ({type(err).__name__}: {reason}); it is truncated, corrupt "
            f"or not written by this project. Delete it and {remedy}."
        ) from None
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise error(
            f"{what} {path} lacks {', '.join(map(repr, missing))}; it was not written by this "
            f"project (or by an older version). Delete it and {remedy}."
        )
    return data
