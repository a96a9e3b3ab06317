"""Reading and writing the project's torch files (checkpoints, sample sets, classifier weights).

Writes are atomic: the file is written under a temporary name in the same folder and renamed, so a
run killed at any moment, or a full disk, leaves the previous file or the new one, never a torn one.
Reads use torch.load(weights_only=True) only: every file the project writes holds tensors and plain
Python values, and a file that needs the full unpickler (which can run any code it names) is refused
before anything in it runs. Reads turn every way a file can be wrong (missing, truncated, random
bytes, another program's pickle, a dict without the expected keys) into one NcsnError that names the
file and says what to do.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ncsn.errors import NcsnError

# How torch.load(weights_only=True) names a global (class or function) that it refuses to rebuild.
UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


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


def _printable(text: str, limit: int) -> str:
    """The first sentence of `text` without control characters (ANSI colours, newlines), cut to `limit`
    characters: parts of a file's contents end up in messages, and a crafted file must not write to the
    terminal."""
    first = text.strip().split(". ", 1)[0]
    return "".join(ch if ch.isprintable() else " " for ch in first).strip()[:limit]


def _unpickler_complaint(err: Exception) -> str:
    """What torch's restricted unpickler says about the file, without its advice to load it unrestricted."""
    text = str(err)
    tail = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else text
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return _printable(lines[0] if lines else type(err).__name__, 160)


def _refusal(path: Path, what: str, remedy: str, err: Exception) -> str:
    """The message for a file that cannot be read with weights_only=True."""
    found = UNSAFE_GLOBAL.search(str(err)) if isinstance(err, pickle.UnpicklingError) else None
    if found:
        name = _printable(found.group(1), 80)
        return (
            f"{what} {path} was not loaded: it holds Python objects ({name}) that only a full unpickler "
            f"rebuilds, and unpickling it could run code. This project writes only tensors and plain values, "
            f"so the file was not written by it (or was altered). Delete it and {remedy}; do not load it with "
            f"torch.load(weights_only=False) unless you know who made it."
        )
    if isinstance(err, pickle.UnpicklingError):
        reason = f"{type(err).__name__}: {_unpickler_complaint(err)}"
    else:
        text = str(err).strip()
        reason = f"{type(err).__name__}: {_printable(text.splitlines()[0], 160)}" if text else type(err).__name__
    return (
        f"{what} {path} cannot be read ({reason}); it is truncated, corrupt or not written by this project. "
        f"Delete it and {remedy}."
    )


def load_file(
    path: str | Path,
    what: str,
    remedy: str,
    error: type[NcsnError] = NcsnError,
    device: str | torch.device = "cpu",
) -> Any:
    """The object torch-saved at `path`, read with torch.load(weights_only=True): tensors and plain
    Python values only, so a crafted file cannot run code while it is read.

    `what` names the file for the user ("checkpoint", "sample set"); `remedy` says what to do, e.g.
    "rerun the train rule for its variant". Every way the file can be wrong is one `error`."""
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {path} does not exist; {remedy}.")
    if not path.is_file():
        raise error(f"{what} {path} is not a file; remove it and {remedy}.")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # truncated zip, random bytes, a pickle of other objects: each named for the user
        raise error(_refusal(path, what, remedy, err)) from None


def load_dict(
    path: str | Path,
    what: str,
    remedy: str,
    required: Iterable[str] = (),
    error: type[NcsnError] = NcsnError,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """The dict torch-saved at `path` (read as load_file reads), which must hold the keys `required`."""
    data = load_file(path, what, remedy, error, device)
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise error(
            f"{what} {path} lacks {', '.join(map(repr, missing))}; it was not written by this "
            f"project (or by an older version). Delete it and {remedy}."
        )
    return data
