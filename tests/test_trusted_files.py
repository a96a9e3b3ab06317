"""Trust boundaries (issue 27): no code runs from a data file, and the ways a file or a run can go wrong
end in one message, not a traceback.

A crafted .pt (a pickle whose __reduce__ creates a marker file) is handed to every command that reads a
.pt: each must refuse it naming the file, exit 1, and leave no marker. The feature cache under
results/fid_cache is the project's own (read with weights_only=True), and gives the numbers of
torch-fidelity's uncached calculate_metrics. Checkpoints whose network description is broken, a torn
cache file and Ctrl-C each get one message."""

from __future__ import annotations

import copy
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import SMALL_UNET_SETTINGS, train_tiny_classifier, write_tiny_checkpoint
from torch_fidelity import calculate_metrics

from ncsn import cli
from ncsn.data.images import write_synthetic
from ncsn.metrics import classifier, extractors, fid

REFUSED = "could run code"  # what every refusal of a crafted pickle says


class RunsCode:
    """What a crafted .pt may hold: an object whose unpickling runs a command (here: creates `marker`)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def craft(path: Path) -> tuple[Path, Path]:
    """A .pt at `path` that creates `path`.ran when unpickled, and that marker's path."""
    marker = path.with_name(path.name + ".ran")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"images": RunsCode(marker), "info": {}}, path)
    return path, marker


def test_the_crafted_file_does_run_code_when_fully_unpickled(tmp_path):
    """The fixture is live: torch.load(weights_only=False) runs it (so the tests below test something)."""
    crafted, marker = craft(tmp_path / "x.pt")
    torch.load(crafted, weights_only=False)
    assert marker.exists()


def _argv(command: str, **options) -> list[str]:
    return [command] + [str(x) for key, value in options.items() for x in (f"--{key.replace('_', '-')}", value)]


def _sample(checkpoint: Path, out: Path, n_steps_each: int = 1) -> list[str]:
    return _argv(
        "sample",
        checkpoint=checkpoint,
        step_lr=1e-4,
        n_steps_each=n_steps_each,
        n_samples=4,
        batch_size=4,
        device="cpu",
        out=out,
        grid=out.with_suffix(".png"),
    )


def _evaluate(study: dict, out: Path, **override) -> list[str]:
    inputs = {k: study[k] for k in ("samples", "reference", "classifier")}
    return _argv("evaluate", **{**inputs, **override}, kid_subsets=2, bootstrap=2, device="cpu", out=out)


def _fid_reference(study: dict, out: Path, **override) -> list[str]:
    options = dict(data=study["data"], extractor="domain", weights=study["classifier"], n=32, cache_root=study["cache"])
    return _argv("fid-reference", **{**options, **override}, device="cpu", out=out)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """The files of a tiny study, made by the commands themselves: a dataset, its classifier, the
    reference (with its cached features), a checkpoint, a sample set and its evaluation (seconds)."""
    root = tmp_path_factory.mktemp("study")
    files = {"root": root, "data": write_synthetic(root / "fashion_mnist.pt", n_train=64, n_test=48)}
    files["classifier"] = train_tiny_classifier(files["data"], root / "clf.pt")
    files["cache"], files["reference"] = root / "fid_cache", root / "fid_cache" / "fashion_mnist-domain.json"
    assert cli.main(_fid_reference(files, files["reference"])) == 0
    files["checkpoint"] = write_tiny_checkpoint(root / "epoch_1.pt")
    files["samples"] = root / "samples" / "s.pt"
    assert cli.main(_sample(files["checkpoint"], files["samples"])) == 0
    files["evaluation"] = root / "evaluation" / "s.json"
    assert cli.main(_evaluate(files, files["evaluation"])) == 0
    return files


def _cache_file(cache: Path) -> Path:
    (features,) = [p for p in cache.iterdir() if p.suffix == ".pt"]
    return features


def _own_reference(study: dict, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the study's reference and feature cache under tmp_path: (reference JSON, cached features)."""
    cache = tmp_path / "fid_cache"
    shutil.copytree(study["cache"], cache)
    reference = cache / study["reference"].name
    reference.write_text(json.dumps({**json.loads(reference.read_text()), "cache_root": str(cache)}))
    return reference, _cache_file(cache)


def _inception_reference(study: dict, weights: Path, tmp_path: Path) -> Path:
    """A reference description (as a user may edit one) naming Inception weights `weights`."""
    reference = json.loads(study["reference"].read_text())
    name = f"inception-v3-compat-{extractors.weights_hash(weights)}"
    edited = {**reference, "extractor": "inception", "extractor_name": name, "weights": str(weights)}
    path = tmp_path / "inception.json"
    path.write_text(json.dumps({**edited, "feature_layer": "2048", "cache_root": str(tmp_path / "cache")}))
    return path


def _in_cache(study, tmp_path):
    reference, features = _own_reference(study, tmp_path)
    craft(features)
    return features, reference


def _train(data: Path, out_dir: Path) -> list[str]:
    settings = copy.deepcopy(SMALL_UNET_SETTINGS)
    return _argv("train", variant="v", settings=json.dumps(settings), data=data, device="cpu", out_dir=out_dir)


def _figure2(study, samples, tmp_path):
    evaluation = json.loads(study["evaluation"].read_text())
    edited = tmp_path / "evaluation.json"
    edited.write_text(json.dumps({**evaluation, "samples": str(samples)}))
    outputs = {"csv": tmp_path / "f.csv", "png": tmp_path / "f.png", "json": tmp_path / "f.json"}
    return _argv("figure2", evaluations=edited, shares_png=tmp_path / "shares.png", **outputs)


# name -> (where the crafted file goes, the command line that reads it); `tmp` is the test's own folder
ENTRY_POINTS = {
    "sample --checkpoint": (lambda s, t: t / "epoch_1.pt", lambda s, f, t: _sample(f, t / "out.pt")),
    "evaluate --samples": (lambda s, t: t / "s.pt", lambda s, f, t: _evaluate(s, t / "e.json", samples=f)),
    "evaluate --classifier": (lambda s, t: t / "c.pt", lambda s, f, t: _evaluate(s, t / "e.json", classifier=f)),
    "evaluate --data": (lambda s, t: t / "fashion_mnist.pt", lambda s, f, t: _evaluate(s, t / "e.json", data=f)),
    "evaluate, Inception --weights": (
        lambda s, t: t / "inception.pth",
        lambda s, f, t: _evaluate(s, t / "e.json", reference=_inception_reference(s, f, t), weights=f),
    ),
    "evaluate, cached reference features": (
        lambda s, t: None,
        lambda s, f, t: _evaluate(s, t / "e.json", reference=f),
    ),
    "fid-reference --data": (
        lambda s, t: t / "fashion_mnist.pt",
        lambda s, f, t: _fid_reference(s, t / "r.json", data=f),
    ),
    "fid-reference, domain --weights": (
        lambda s, t: t / "clf.pt",
        lambda s, f, t: _fid_reference(s, t / "r.json", weights=f, cache_root=t / "cache"),
    ),
    "fid-reference, Inception --weights": (
        lambda s, t: t / "inception.pth",
        lambda s, f, t: _fid_reference(s, t / "r.json", extractor="inception", weights=f, cache_root=t / "cache"),
    ),
    "fid-reference, cached reference features": (
        lambda s, t: None,
        lambda s, f, t: _fid_reference(s, t / "r.json", cache_root=f.parent),
    ),
    "merge-samples --shards": (
        lambda s, t: t / "s.shard0.pt",
        lambda s, f, t: _argv("merge-samples", shards=f, out=t / "m.pt", grid=t / "m.png"),
    ),
    "figure2, the sample set an evaluation names": (lambda s, t: t / "s.pt", _figure2),
    "train-classifier --data": (
        lambda s, t: t / "mnist.pt",
        lambda s, f, t: _argv("train-classifier", data=f, out=t / "c.pt", summary=t / "c.json", device="cpu"),
    ),
    "train --data": (lambda s, t: t / "mnist.pt", lambda s, f, t: _train(f, t / "run")),
    "train, resuming from state/last.pt": (
        lambda s, t: t / "run" / "state" / "last.pt",
        lambda s, f, t: _train(write_synthetic(t / "mnist.pt"), t / "run"),
    ),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_crafted_pickle_is_refused_by_every_command_before_it_runs(study, tmp_path, capsys, monkeypatch, entry):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no official Inception file in the way
    where, command = ENTRY_POINTS[entry]
    target = where(study, tmp_path)
    if target is None:  # the crafted file takes the place of the reference's cached features
        crafted, reference = _in_cache(study, tmp_path)
        marker = crafted.with_name(crafted.name + ".ran")
        argv = command(study, reference, tmp_path)
    else:
        crafted, marker = craft(target)
        argv = command(study, crafted, tmp_path)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert not marker.exists(), f"{entry}: the crafted file ran"
    assert "Traceback" not in err and err.startswith("error: ")
    assert str(crafted) in err and REFUSED in err and "not written by" in err, err


# ---------------------------------------------------------------------------------------------------
# The feature cache: the project's own files, the numbers of torch-fidelity's uncached metrics.


def test_torch_fidelity_reads_only_a_copy_of_the_checked_inception_weights(tmp_path, monkeypatch):
    """torch-fidelity unpickles Inception weights fully: it is handed the tensors the project read with
    weights_only=True, from a file of its own, never the user's file (which could change in between)."""
    weights = tmp_path / "inception.pth"
    torch.save({"conv.weight": torch.arange(6.0).reshape(2, 3)}, weights)
    seen = {}

    def fake_extractor(name, features, **kwargs):
        path = Path(kwargs["feature_extractor_weights_path"])
        weights.write_bytes(b"swapped after the check")  # what the user's file holds now does not matter
        seen.update(path=path, state=torch.load(path, weights_only=True))
        return torch.nn.Identity()

    monkeypatch.setattr(fid, "create_feature_extractor", fake_extractor)
    extraction = fid._Extraction(extractors.inception_extractor(weights), batch_size=2, device="cpu")
    assert isinstance(extraction.model, torch.nn.Identity)
    assert seen["path"] != weights and not seen["path"].exists()  # a private copy, removed once built
    assert torch.equal(seen["state"]["conv.weight"], torch.arange(6.0).reshape(2, 3))


def _random_images(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_cached_fid_kid_are_torch_fidelitys_uncached_numbers_and_the_cache_loads_weights_only(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "clf.pt"
    classifier.save_classifier(classifier.SmallCNN(10), weights, {})  # untrained: a cheap extractor
    extractor = extractors.domain_extractor(weights)
    samples, reference = _random_images(40, 1), _random_images(50, 2)
    expected = calculate_metrics(
        input1=fid.ImageTensorDataset(samples, 1),
        input2=fid.ImageTensorDataset(reference, 1),
        fid=True,
        kid=True,
        kid_subsets=10,
        kid_subset_size=40,
        rng_seed=3,
        batch_size=16,
        cuda=False,
        save_cpu_ram=True,
        verbose=False,
        **extractor.fidelity_kwargs(),
    )
    cache = tmp_path / "cache"
    options = dict(kid_subsets=10, seed=3, batch_size=16)
    computed = fid.fid_kid(samples, reference, extractor, reference_cache_name="ref", cache_root=cache, **options)
    from_cache = fid.fid_kid(samples, reference, extractor, reference_cache_name="ref", cache_root=cache, **options)
    uncached = fid.fid_kid(samples, reference, extractor, **options)
    for out in (computed, from_cache, uncached):
        assert out["fid"] == expected["frechet_inception_distance"]
        assert out["kid_mean"] == expected["kernel_inception_distance_mean"]
        assert out["kid_std"] == expected["kernel_inception_distance_std"]
    files = sorted(cache.iterdir())
    assert [p.name for p in files] == [f"ref-{extractor.name}-features-features.pt"]
    kept = torch.load(files[0], weights_only=True)
    features = fid.image_features(reference, extractor, batch_size=16)
    assert kept.shape == (50, 128) and torch.equal(kept.double(), features)


BAD_CACHE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "cannot be read"),
    "empty": (lambda p: p.write_bytes(b""), "cannot be read"),
    "features of other images": (lambda p: torch.save(torch.zeros(5, 128), p), "features of 5 images"),
    "not features": (lambda p: torch.save({"mu": torch.zeros(3)}, p), "not float features"),
}


@pytest.mark.parametrize("command", ["evaluate", "fid-reference"])
@pytest.mark.parametrize("case", sorted(BAD_CACHE))
def test_a_bad_cache_file_is_named_with_what_to_do(study, tmp_path, capsys, command, case):
    reference, features = _own_reference(study, tmp_path)
    spoil, fragment = BAD_CACHE[case]
    spoil(features)
    out = tmp_path / "out.json"
    if command == "evaluate":
        argv = _evaluate(study, out, reference=reference)
    else:
        argv = _fid_reference(study, out, cache_root=features.parent)
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: cached reference features")
    for expected in (str(features), fragment, "Delete it", "fid_reference"):
        assert expected in err, err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------
# Checkpoints whose network description is broken.


def _broken_checkpoint(path: Path, change) -> Path:
    write_tiny_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, path)
    return path


BAD_MODEL_KWARGS = {
    "no model_kwargs": (lambda c: c.pop("model_kwargs"), "lacks 'model_kwargs'"),
    "model_kwargs None": (lambda c: c.update(model_kwargs=None), "'model_kwargs' is None, not a dict"),
    "no sigmas": (lambda c: c["model_kwargs"].pop("sigmas"), "has no 'sigmas'"),
    "sigmas None": (lambda c: c["model_kwargs"].update(sigmas=None), "'model_kwargs.sigmas' is None, not a list"),
    "sigmas not numbers": (lambda c: c["model_kwargs"].update(sigmas=["a", "b"]), "not a list of numbers"),
    "sigmas empty": (lambda c: c["model_kwargs"].update(sigmas=[]), "of shape (0,)"),
}


@pytest.mark.parametrize("case", sorted(BAD_MODEL_KWARGS))
def test_a_checkpoint_without_its_noise_levels_is_named(tmp_path, capsys, case):
    change, fragment = BAD_MODEL_KWARGS[case]
    checkpoint = _broken_checkpoint(tmp_path / "epoch_1.pt", change)
    out = tmp_path / "s.pt"
    assert cli.main(_sample(checkpoint, out)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"error: checkpoint {checkpoint}")
    assert fragment in err and "train rule" in err, err
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------
# Ctrl-C


def _sigint_as_a_terminal_sends_it() -> None:
    """In the child: SIGINT's default action, which Python turns into KeyboardInterrupt. A test run started in
    the background by a non-interactive shell (nohup make test &) passes SIGINT on ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_sampling_prints_one_line_exits_130_and_writes_nothing(tmp_path, repo):
    checkpoint = write_tiny_checkpoint(tmp_path / "epoch_1.pt")
    out = tmp_path / "samples" / "s.pt"
    stderr = tmp_path / "stderr.txt"
    argv = [sys.executable, "-m", "ncsn", *_sample(checkpoint, out, n_steps_each=1_000_000)]
    with open(stderr, "w") as err_file:
        proc = subprocess.Popen(
            argv, cwd=repo, stdout=subprocess.DEVNULL, stderr=err_file, preexec_fn=_sigint_as_a_terminal_sends_it
        )
        try:
            deadline = time.monotonic() + 120
            while "Langevin steps" not in stderr.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, stderr.read_text()
                time.sleep(0.2)
            assert "Langevin steps" in stderr.read_text(), "sampling did not start"
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 130
        finally:
            proc.kill()
    lines = [line for line in stderr.read_text().replace("\r", "\n").splitlines() if line.strip()]
    messages = [line for line in lines if "Langevin steps" not in line]  # the progress bar's own lines
    assert messages == ["interrupted: `python -m ncsn sample` stopped before it finished; rerun it."], lines
    assert not out.exists() and not out.with_suffix(".png").exists()
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())
