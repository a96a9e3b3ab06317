"""`python -m ncsn evaluate`: FID, KID and the class histogram of one sample set, as a JSON that says
which extractor and how many samples every number used."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ncsn.cli_options import add_run_options, run_device
from ncsn.errors import NcsnError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", required=True, type=Path, help="a .pt written by `python -m ncsn sample`")
    parser.add_argument("--reference", required=True, type=Path, help="JSON written by `python -m ncsn fid-reference`")
    parser.add_argument("--classifier", required=True, type=Path, help="results/classifier/{dataset}.pt")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples of the sample set")
    parser.add_argument("--min-share", type=float, default=0.05, help="a class counts as covered from this share on")
    add_run_options(parser)
    parser.add_argument("--out", required=True, type=Path)


def run(args: argparse.Namespace) -> int:
    from ncsn.generate import load_samples
    from ncsn.metrics.classes import coverage_summary, total_variation, total_variation_summary
    from ncsn.metrics.classifier import load_classifier, load_classifier_file, predict
    from ncsn.metrics.extractors import make_extractor
    from ncsn.metrics.fid import fid_kid_intervals, image_features
    from ncsn.metrics.reference import load_reference, reference_images
    from ncsn.torch_files import write_text_atomic

    device = run_device(args)
    samples, info = load_samples(args.samples)
    ref = load_reference(args.reference)
    extractor = make_extractor(ref["extractor"], ref["weights"])
    if extractor.name != ref["extractor_name"]:
        raise NcsnError(
            f"the weights {ref['weights']} changed since {args.reference} was written "
            f"({extractor.name} != {ref['extractor_name']}); rerun the fid_reference rule."
        )
    reference = reference_images(ref["data"], ref["n_reference"], ref["seed"])
    if args.kid_subsets < 1 or args.bootstrap < 2:
        raise NcsnError(
            f"--kid-subsets must be >= 1 and --bootstrap >= 2, got {args.kid_subsets} and {args.bootstrap}."
        )
    trained_on = load_classifier_file(args.classifier).get("dataset")
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
    reference_features = image_features(
        reference,
        extractor,
        batch_size=args.batch_size,
        device=device,
        cache_name=ref["cache_name"],
        cache_root=ref["cache_root"],
    )
    sample_features = image_features(samples, extractor, batch_size=args.batch_size, device=device)
    intervals = fid_kid_intervals(
        sample_features,
        reference_features,
        n_bootstrap=args.bootstrap,
        kid_subsets=args.kid_subsets,
        seed=args.seed,
        progress=True,
    )
    metrics = {
        "fid": intervals["fid"]["value"],
        "kid_mean": intervals["kid"]["value"],
        "kid_std": intervals["kid_std"],
        "fid_interval": intervals["fid"],
        "kid_interval": intervals["kid"],
        "n_bootstrap": args.bootstrap,
        "kid_subset_size": intervals["kid_subset_size"],
        "kid_subsets": args.kid_subsets,
        "n_samples": len(samples),
        "n_reference": len(reference),
        "extractor": extractor.kind,
        "extractor_name": extractor.name,
    }
    model = load_classifier(args.classifier, device)
    checkpoint = load_classifier_file(args.classifier)
    coverage = coverage_summary(predict(model, samples.squeeze(1)), checkpoint["n_classes"], args.min_share)
    result = {
        **metrics,
        "reference": {k: ref[k] for k in ("dataset", "split", "n_reference", "seed", "cache_name")},
        "classes": checkpoint.get("classes"),
        "classifier_test_accuracy": checkpoint.get("test_accuracy"),
        "coverage": coverage,
        "total_variation": total_variation(samples),
        "total_variation_interval": total_variation_summary(samples),
        "reference_total_variation_interval": total_variation_summary(reference),
        "floor": floor,
        "reference_total_variation": total_variation(reference),
        "sample_info": info,
        "samples": str(args.samples),
    }
    write_text_atomic(json.dumps(result, indent=2) + "\n", args.out)
    print(
        f"{args.samples}: FID {metrics['fid']:.3f} KID {metrics['kid_mean']:.4f} ({extractor.kind} features, "
        f"{metrics['n_samples']} samples vs {metrics['n_reference']} reference), "
        f"{coverage['classes_covered']} classes >= {args.min_share:.0%}"
    )
    return 0
