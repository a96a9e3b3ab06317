"""`python -m ncsn evaluate`: FID, KID and the class histogram of one sample set, as a JSON that says
which extractor and how many samples every number used.

Every file it reads can be named on its command line, and the workflow names (and declares) each: the
sample set, the reference description, the dataset, the extractor weights and the classifier; run by
hand, the dataset and weights default to those the reference description names. The one file never
named is the reference features that `fid-reference` cached (ncsn.metrics.fid's feature cache, found
from the reference description, written by the same job and recomputed here when it is missing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from ncsn.cli_options import add_run_options, run_device
from ncsn.errors import NcsnError
from ncsn.metrics.classes import coverage_summary, total_variation, total_variation_summary
from ncsn.metrics.classifier import load_classifier, load_classifier_file, predict
from ncsn.metrics.extractors import Extractor, find_inception_weights, make_extractor
from ncsn.metrics.fid import fid_kid_intervals, image_features
from ncsn.metrics.reference import load_reference, reference_images
from ncsn.sampling.sets import load_samples
from ncsn.torch_files import write_text_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", required=True, type=Path, help="a .pt written by `python -m ncsn sample`")
    parser.add_argument("--reference", required=True, type=Path, help="JSON written by `python -m ncsn fid-reference`")
    parser.add_argument(
        "--data", type=Path, default=None, help="results/data/{dataset}.pt (default: the file the reference names)"
    )
    parser.add_argument(
        "--weights", type=Path, default=None, help="the extractor's weights (default: those the reference names)"
    )
    parser.add_argument("--classifier", required=True, type=Path, help="results/classifier/{dataset}.pt")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the sample set")
    parser.add_argument("--min-share", type=float, default=0.05, help="a class counts as covered from this share on")
    add_run_options(parser)
    parser.add_argument("--out", required=True, type=Path)


def open_extractor(ref: dict[str, Any], weights: Path, reference_path: Path) -> Extractor:
    """The extractor the reference statistics were computed with, from the weights given here."""
    if ref["extractor"] == "inception":
        weights = find_inception_weights(weights)
    extractor = make_extractor(ref["extractor"], weights)
    if extractor.name != ref["extractor_name"]:
        raise NcsnError(
            f"the weights {weights} are not those {reference_path} was computed with "
            f"({extractor.name} != {ref['extractor_name']}); rerun the fid_reference rule."
        )
    return extractor


def check_inputs(
    args: argparse.Namespace, ref: dict[str, Any], samples: torch.Tensor, classifier: dict, data: Path
) -> None:
    """Refuse inputs that do not belong together, before any feature is computed."""
    if args.kid_subsets < 1 or args.bootstrap < 2:
        raise NcsnError(
            f"--kid-subsets must be >= 1 and --bootstrap >= 2, got {args.kid_subsets} and {args.bootstrap}."
        )
    if data.stem != ref["dataset"]:
        raise NcsnError(
            f"--data {data} is not the dataset of {args.reference} ({ref['dataset']}); pass "
            f"results/data/{ref['dataset']}.pt."
        )
    trained_on = classifier.get("dataset")
    if trained_on is not None and trained_on != ref["dataset"]:
        raise NcsnError(
            f"the classifier {args.classifier} was trained on {trained_on}, but {args.reference} and "
            f"the samples are {ref['dataset']}: its classes would label the samples wrongly. Pass "
            f"results/classifier/{ref['dataset']}.pt."
        )
    floor = ref.get("floor")
    if floor is not None and floor["n_samples"] != len(samples):
        raise NcsnError(
            f"{args.reference} holds the data floor for sets of {floor['n_samples']} images, but "
            f"{args.samples} has {len(samples)}; rerun the fid_reference rule with the sample size."
        )


def fid_kid(
    samples: torch.Tensor,
    reference_features: torch.Tensor,
    extractor: Extractor,
    *,
    batch_size: int,
    bootstrap: int,
    kid_subsets: int,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """FID and KID of `samples` against reference features, with their bootstrap intervals."""
    sample_features = image_features(samples, extractor, batch_size=batch_size, device=device)
    intervals = fid_kid_intervals(
        sample_features, reference_features, n_bootstrap=bootstrap, kid_subsets=kid_subsets, seed=seed, progress=True
    )
    return {
        "fid": intervals["fid"]["value"],
        "kid_mean": intervals["kid"]["value"],
        "kid_std": intervals["kid_std"],
        "fid_interval": intervals["fid"],
        "kid_interval": intervals["kid"],
        # per bootstrap resample, in resample order: sets of equal size and seed share the resamples'
        # indices, so two such sets' difference gets its interval paired (ncsn.stats.paired_difference)
        "fid_replicates": intervals["fid_replicates"],
        "kid_replicates": intervals["kid_replicates"],
        "n_bootstrap": bootstrap,
        "kid_subset_size": intervals["kid_subset_size"],
        "kid_subsets": kid_subsets,
        "n_samples": len(samples),
        "n_reference": len(reference_features),
        "extractor": extractor.kind,
        "extractor_name": extractor.name,
    }


def class_measures(
    samples: torch.Tensor, reference: torch.Tensor, classifier_model: torch.nn.Module, n_classes: int, min_share: float
) -> dict[str, Any]:
    """The class histogram of the samples (classifier predictions) and their pixel variation beside the data's."""
    return {
        "coverage": coverage_summary(predict(classifier_model, samples.squeeze(1)), n_classes, min_share),
        "total_variation": total_variation(samples),
        "total_variation_interval": total_variation_summary(samples),
        "reference_total_variation_interval": total_variation_summary(reference),
        "reference_total_variation": total_variation(reference),
    }


def describe(args: argparse.Namespace, ref: dict, classifier: dict, metrics: dict, classes: dict, info: dict) -> dict:
    """The evaluation JSON: the numbers, what they were measured against, and the set's own description."""
    return {
        **metrics,
        "reference": {k: ref[k] for k in ("dataset", "split", "n_reference", "seed", "cache_name")},
        "classes": classifier.get("classes"),
        "classifier_test_accuracy": classifier.get("test_accuracy"),
        **classes,
        "floor": ref.get("floor"),
        "sample_info": info,
        "samples": str(args.samples),
    }


def run(args: argparse.Namespace) -> int:
    device = run_device(args)
    samples, info = load_samples(args.samples)
    ref = load_reference(args.reference)
    classifier = load_classifier_file(args.classifier)
    data = args.data or Path(ref["data"])
    check_inputs(args, ref, samples, classifier, data)
    extractor = open_extractor(ref, args.weights or Path(ref["weights"]), args.reference)
    reference = reference_images(data, ref["n_reference"], ref["seed"])
    cached = {"cache_name": ref["cache_name"], "cache_root": ref["cache_root"]}
    reference_features = image_features(reference, extractor, batch_size=args.batch_size, device=device, **cached)
    metrics = fid_kid(
        samples,
        reference_features,
        extractor,
        batch_size=args.batch_size,
        bootstrap=args.bootstrap,
        kid_subsets=args.kid_subsets,
        seed=args.seed,
        device=device,
    )
    model = load_classifier(args.classifier, device)
    classes = class_measures(samples, reference, model, classifier["n_classes"], args.min_share)
    write_text_atomic(json.dumps(describe(args, ref, classifier, metrics, classes, info), indent=2) + "\n", args.out)
    print(
        f"{args.samples}: FID {metrics['fid']:.3f} KID {metrics['kid_mean']:.4f} ({extractor.kind} features, "
        f"{metrics['n_samples']} samples vs {metrics['n_reference']} reference), "
        f"{classes['coverage']['classes_covered']} classes >= {args.min_share:.0%}"
    )
    return 0
