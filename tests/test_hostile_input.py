"""Hostile input and bad luck: every user mistake ends with one paragraph naming the file and what to
do, exit 1, no traceback; a failed write leaves nothing torn at the output path (issue 19, cases 5-7)."""

from __future__ import annotations

import copy
import errno
import json

import pytest
import torch
from helpers import SMALL_UNET_SETTINGS, train_tiny_classifier, write_tiny_checkpoint

from ncsn import cli
from ncsn.data.images import write_synthetic
from ncsn.torch_files import save_atomic


def _fails_cleanly(capsys, argv, *fragments):
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert "\nerror: " in "\n" + err and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def _sample_argv(ckpt, out, **extra):
    argv = {
        "--checkpoint": ckpt,
        "--step-lr": 1e-4,
        "--n-steps-each": 1,
        "--n-samples": 2,
        "--batch-size": 2,
        "--device": "cpu",
        "--out": out,
        "--grid": out.with_suffix(".png"),
        **extra,
    }
    return ["sample"] + [str(x) for kv in argv.items() for x in kv]


def _foreign(path):
    torch.save({"weights": [1, 2, 3]}, path)


def _mismatched(path):
    write_tiny_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model_kwargs"]["width"] = 8  # the stored weights are of width 4
    torch.save(ckpt, path)


BAD_CHECKPOINTS = {
    "empty": (lambda p: p.write_bytes(b""), "cannot be read"),
    "random bytes": (lambda p: p.write_bytes(bytes(range(256)) * 40), "cannot be read"),
    "truncated": (lambda p: (write_tiny_checkpoint(p), p.write_bytes(p.read_bytes()[:3000])), "cannot be read"),
    "foreign dict": (_foreign, "lacks 'arch'"),
    "weights of another network": (_mismatched, "do not fit the network"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_named(tmp_path, capsys, case):
    make, fragment = BAD_CHECKPOINTS[case]
    ckpt = tmp_path / "epoch_1.pt"
    make(ckpt)
    out = tmp_path / "samples.pt"
    _fails_cleanly(capsys, _sample_argv(ckpt, out), str(ckpt), fragment, "train rule")
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--grid-size", 0), ("--batch-size", 0), ("--n-samples", 0)])
def test_sample_sizes_below_one_are_refused(tmp_path, capsys, tiny_checkpoint, option, value):
    _fails_cleanly(capsys, _sample_argv(tiny_checkpoint, tmp_path / "s.pt", **{option: value}), option)


def test_an_output_folder_that_cannot_be_made_is_a_message(tmp_path, capsys, tiny_checkpoint):
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should be")
    _fails_cleanly(capsys, _sample_argv(tiny_checkpoint, blocker / "s.pt"), str(blocker), "writable")


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "s.pt"
    save_atomic({"images": torch.zeros(1)}, out)
    before = out.read_bytes()

    def disk_full(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_atomic({"images": torch.ones(1)}, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt"]


@pytest.fixture()
def evaluation_inputs(tmp_path):
    data = write_synthetic(tmp_path / "fashion_mnist.pt", n_train=64, n_test=48)
    clf = tmp_path / "clf.pt"
    train_tiny_classifier(data, clf, tmp_path / "clf.json")
    ref = tmp_path / "ref.json"
    assert (
        cli.main(
            [
                "fid-reference",
                "--data",
                str(data),
                "--extractor",
                "domain",
                "--weights",
                str(clf),
                "--n",
                "32",
                "--cache-root",
                str(tmp_path / "cache"),
                "--device",
                "cpu",
                "--out",
                str(ref),
            ]
        )
        == 0
    )
    return tmp_path, data, clf, ref


def _evaluate_argv(samples, ref, clf, out):
    return [
        "evaluate",
        "--samples",
        samples,
        "--reference",
        ref,
        "--classifier",
        clf,
        "--kid-subsets",
        2,
        "--device",
        "cpu",
        "--out",
        out,
    ]


BAD_SAMPLES = {
    "float images": (lambda: torch.rand(4, 1, 28, 28), "uint8"),
    "no channel axis": (lambda: torch.zeros(4, 28, 28, dtype=torch.uint8), "[N, C, H, W]"),
    "empty set": (lambda: torch.zeros(0, 1, 28, 28, dtype=torch.uint8), "non-empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_SAMPLES))
def test_sample_tensors_of_the_wrong_kind_are_named(evaluation_inputs, capsys, case):
    root, _, clf, ref = evaluation_inputs
    make, fragment = BAD_SAMPLES[case]
    samples = root / "bad.pt"
    torch.save({"images": make(), "info": {}}, samples)
    out = root / "bad.json"
    _fails_cleanly(capsys, _evaluate_argv(samples, ref, clf, out), str(samples), fragment, "sample rule")
    assert not out.exists()


def test_the_other_datasets_classifier_is_refused(evaluation_inputs, capsys):
    root, _, _, ref = evaluation_inputs
    other = write_synthetic(root / "mnist.pt", n_train=64, n_test=16)
    other_clf = root / "mnist_clf.pt"
    train_tiny_classifier(other, other_clf, root / "m.json")
    samples = root / "s.pt"
    torch.save({"images": torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "info": {}}, samples)
    _fails_cleanly(
        capsys,
        _evaluate_argv(samples, ref, other_clf, root / "s.json"),
        "trained on mnist",
        "fashion_mnist",
        "results/classifier/fashion_mnist.pt",
    )


def test_another_dataset_than_the_references_is_refused(evaluation_inputs, capsys):
    """evaluate --data must be the dataset the reference statistics came from (the workflow declares it)."""
    root, _, clf, ref = evaluation_inputs
    other = write_synthetic(root / "mnist.pt", n_train=8, n_test=8)
    samples = root / "s.pt"
    torch.save({"images": torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "info": {}}, samples)
    out = root / "s.json"
    argv = [*_evaluate_argv(samples, ref, clf, out), "--data", other]
    _fails_cleanly(capsys, argv, f"--data {other}", "fashion_mnist", "results/data/fashion_mnist.pt")
    assert not out.exists()


@pytest.mark.parametrize(
    "settings, fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("BATCH0", "'batch_size' must be an integer >= 1, got 0"),
        ("SIGMAINF", "'noise.sigma_max' must be a finite number > 0, got inf"),
    ],
)
def test_bad_training_settings_are_named(tmp_path, capsys, settings, fragment):
    good = copy.deepcopy(SMALL_UNET_SETTINGS)
    if settings == "BATCH0":
        settings = json.dumps({**good, "batch_size": 0})
    elif settings == "SIGMAINF":
        settings = json.dumps({**good, "noise": {**good["noise"], "sigma_max": float("inf")}})
    data = write_synthetic(tmp_path / "mnist.pt")
    _fails_cleanly(
        capsys,
        [
            "train",
            "--variant",
            "v",
            "--settings",
            settings,
            "--data",
            data,
            "--device",
            "cpu",
            "--out-dir",
            tmp_path / "run",
        ],
        fragment,
    )


def test_report_without_its_inputs_names_them_and_keeps_the_previous_page(tiny_config, tmp_path, capsys):
    """Issue 19 case 2, fast half (the slow half in test_end_to_end builds from the declared files only)."""
    config_json = json.dumps(tiny_config)
    out = tmp_path / "reports" / "tiny" / "index.html"
    out.parent.mkdir(parents=True)
    out.write_text("the previous report")
    err = _fails_cleanly(
        capsys,
        ["report", "--results", tmp_path / "results", "--config-json", config_json, "--out", out],
        "data/mnist.json (rule data)",
        "figure2.json (rule figure2)",
        "previous report is untouched",
    )
    assert "errors.csv (rule toy_*)" in err
    assert out.read_text() == "the previous report" and sorted(p.name for p in out.parent.iterdir()) == ["index.html"]


@pytest.mark.parametrize("value", ["inf", "nan", "0"])
def test_a_step_size_that_is_not_a_finite_positive_number_is_refused(tmp_path, capsys, tiny_checkpoint, value):
    _fails_cleanly(
        capsys, _sample_argv(tiny_checkpoint, tmp_path / "s.pt", **{"--step-lr": value}), "--step-lr", "finite"
    )
    assert not (tmp_path / "s.pt").exists()


def test_zero_kid_subsets_is_refused_not_written_as_nan(evaluation_inputs, capsys):
    root, _, clf, ref = evaluation_inputs
    samples = root / "s.pt"
    torch.save({"images": torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "info": {}}, samples)
    argv = _evaluate_argv(samples, ref, clf, root / "s.json")
    argv[argv.index("--kid-subsets") + 1] = 0
    _fails_cleanly(capsys, argv, "--kid-subsets must be >= 1")
    assert not (root / "s.json").exists()
