"""FID / KID through torch-fidelity with the domain classifier, the extractor registry, class coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor

from ncsn.metrics import classes, classifier, extractors, fid


def _digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny synthetic 2-class task: a bright bar in the top or the bottom half of a noisy 28x28 image."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.randint(0, 60, (n, 28, 28), generator=g).float()
    rows = torch.randint(3, 10, (n,), generator=g) + 14 * labels
    for i in range(n):
        images[i, rows[i] : rows[i] + 3, 4:24] += 180
    return images.clamp(0, 255).to(torch.uint8), labels


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A SmallCNN trained on the synthetic task (seconds)."""
    x, y = _digits(400, seed=0)
    model = classifier.train_classifier(x, y, n_classes=2, epochs=1, batch_size=32, seed=0, progress=False)
    path = tmp_path_factory.mktemp("clf") / "clf.pt"
    classifier.save_classifier(model, path, {"dataset": "synthetic"})
    return path


@pytest.fixture(scope="module")
def images():
    return _digits(300, seed=1)[0]


def test_classifier_learns_a_tiny_task_and_training_is_seeded():
    x, y = _digits(600, seed=0)
    xt, yt = _digits(200, seed=5)
    model = classifier.train_classifier(x, y, n_classes=2, epochs=2, batch_size=32, seed=3, progress=False)
    assert classifier.accuracy(model, xt, yt) > 0.95
    again = classifier.train_classifier(x, y, n_classes=2, epochs=2, batch_size=32, seed=3, progress=False)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_fid_of_a_set_against_itself_is_near_zero_and_shifted_is_clearly_above(weights, images):
    extractor = extractors.domain_extractor(weights)
    same = fid.fid_kid(images, images.clone(), extractor)
    shifted = fid.fid_kid(images, (images.int() + 70).clamp(0, 255).to(torch.uint8), extractor)
    # not exactly 0: scipy's sqrtm of a rank-deficient covariance (dead ReLU units) leaves ~1e-3
    assert abs(same["fid"]) < 0.05
    assert shifted["fid"] > 1.0 and shifted["fid"] > 100 * abs(same["fid"])
    # KID of identical sets is slightly negative (unbiased MMD: the paired cross terms x_i = y_i count)
    assert shifted["kid_mean"] > 0.01 and shifted["kid_mean"] > 10 * abs(same["kid_mean"])
    assert same["extractor"] == "domain" and same["n_samples"] == same["n_reference"] == 300


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # 40 samples: singular covariances
def test_kid_works_below_the_default_subset_size(weights, images):
    extractor = extractors.domain_extractor(weights)
    out = fid.fid_kid(images[:40], images[100:160], extractor, kid_subsets=10)
    assert out["kid_subset_size"] == 40 < fid.DEFAULT_KID_SUBSET_SIZE
    # both numbers from the classifier's features, computed here with numpy and scipy
    model = classifier.load_classifier(weights)
    with torch.inference_mode():
        f1, f2 = (model.features(classifier.to_input(x)).double().numpy() for x in (images[:40], images[100:160]))
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    frechet = ((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert out["fid"] == pytest.approx(frechet, rel=1e-4)

    # KID: the unbiased MMD^2 of the cubic kernel (x.y / d + 1)^3; every subset holds the whole first set
    # and 40 of the 60 reference images, which averages to the MMD^2 of the whole sets
    def kernel(a, b):
        return (a @ b.T / a.shape[1] + 1) ** 3

    kxx, kyy = kernel(f1, f1), kernel(f2, f2)
    mmd2 = (kxx.sum() - np.trace(kxx)) / (40 * 39) + (kyy.sum() - np.trace(kyy)) / (60 * 59) - 2 * kernel(f1, f2).mean()
    assert abs(out["kid_mean"] - mmd2) < 4 * out["kid_std"] / math.sqrt(10), (out["kid_mean"], mmd2)


def test_domain_extractor_round_trips_through_the_registry(weights, tmp_path):
    extractor = extractors.domain_extractor(weights)
    assert extractor.name in FEATURE_EXTRACTORS_REGISTRY
    assert extractor.name.endswith(extractors.weights_hash(weights))
    built = create_feature_extractor(
        extractor.name, ["features", "logits"], cuda=False, feature_extractor_weights_path=str(weights), verbose=False
    )
    x = _digits(8, seed=2)[0].unsqueeze(1)
    features, logits = built(x)
    model = classifier.load_classifier(weights)
    with torch.inference_mode():
        expected = model.features(classifier.to_input(x))
        expected_logits = model.eval()(classifier.to_input(x))
    assert torch.allclose(features, expected) and torch.allclose(logits, expected_logits)
    # other weights -> another name, so the feature cache can never mix their features
    torch.manual_seed(1)
    other = tmp_path / "other.pt"
    classifier.save_classifier(classifier.SmallCNN(10), other, {})
    assert extractors.domain_extractor(other).name != extractor.name


def test_reference_features_are_cached_under_the_weights_hash(weights, images, tmp_path):
    extractor = extractors.domain_extractor(weights)
    first = fid.fid_kid(
        images[:100], images[100:], extractor, reference_cache_name="synthetic-ref", cache_root=tmp_path, kid_subsets=10
    )
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert cached and all(extractor.name in name and name.startswith("synthetic-ref") for name in cached)
    # the reference now comes from the cache: a different tensor under the same name gives the same numbers
    second = fid.fid_kid(
        images[:100],
        torch.zeros_like(images[100:]),
        extractor,
        reference_cache_name="synthetic-ref",
        cache_root=tmp_path,
        kid_subsets=10,
    )
    assert second["fid"] == pytest.approx(first["fid"])


def test_gray_images_become_rgb_for_inception():
    gray = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = fid.ImageTensorDataset(gray, channels=3)
    assert len(data) == 2 and data[1].dtype == torch.uint8
    assert torch.equal(data[1], torch.stack([gray[1]] * 3))  # the gray image in each of R, G and B
    assert torch.equal(fid.ImageTensorDataset(gray, channels=1)[1], gray[1:2])
    with pytest.raises(ValueError):
        fid.ImageTensorDataset(torch.zeros(2, 28, 28), channels=1)


def test_class_histogram_entropy_and_coverage():
    collapsed = classes.coverage_summary(torch.tensor([3] * 97 + [1, 2, 4]), 10)
    assert collapsed["histogram"] == pytest.approx([0, 0.01, 0.01, 0.97, 0.01, 0, 0, 0, 0, 0])
    assert collapsed["classes_covered"] == 1 and collapsed["top_class"] == 3
    assert collapsed["entropy"] == pytest.approx(-(0.97 * math.log(0.97) + 3 * 0.01 * math.log(0.01)))
    uniform = classes.coverage_summary(torch.arange(10).repeat(10), 10)
    assert uniform["classes_covered"] == 10
    assert uniform["entropy"] == pytest.approx(math.log(10))
    assert uniform["histogram"] == pytest.approx([0.1] * 10)
    # exactly 5% counts as covered
    assert classes.classes_covered(torch.tensor([0.05, 0.95]), 0.05) == 2


def test_total_variation_separates_snow_from_strokes():
    smooth = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    smooth[:, :, 10:18, 10:18] = 255
    snow = torch.randint(0, 2, (4, 1, 28, 28), generator=torch.Generator().manual_seed(0)).to(torch.uint8) * 255
    assert classes.total_variation(snow) > 5 * classes.total_variation(smooth) > 0
