"""`python -m ncsn sample`: samples from a training checkpoint (raw or EMA weights), by the poster's
annealed Langevin sampler (--step-lr, --n-steps-each) or a registered method at a budget (--method, --nfe).

Writes a .pt with the uint8 images [N, 1, H, W] and the settings that produced them, and a PNG grid.
The chains start from uniform noise on [0, 1] (as in Song & Ermon) or a standard Gaussian; the draws
come from generators seeded with --seed (ncsn.sampling.driver), so a fixed seed gives the same images.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from ncsn.allocator import huge_pages_asked
from ncsn.cli_options import add_run_options, run_device
from ncsn.errors import NcsnError
from ncsn.json_settings import json_object
from ncsn.models import native
from ncsn.sampling.driver import SEEDINGS, draw_method, draw_samples, score_function, shard_batches
from ncsn.sampling.methods import METHODS, check_method, check_settings
from ncsn.sampling.sets import write_sample_set
from ncsn.training.checkpoint import load_checkpoint, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="results/train/{variant}/checkpoints/epoch_{e}.pt"
    )
    parser.add_argument(
        "--weights",
        choices=["raw", "ema", "ema_warmup"],
        default="ema",
        help="the checkpoint's raw weights, their EMA, or their EMA with warm-up (ncsn.training.ema)",
    )
    parser.add_argument("--step-lr", type=float, help="epsilon (NCSN paper convention); the poster's sampler")
    parser.add_argument("--n-steps-each", type=int, help="T, Langevin steps per noise level; the poster's sampler")
    parser.add_argument(
        "--method",
        help=f"instead of --step-lr / --n-steps-each: a method of the samplers "
        f"experiment ({', '.join(METHODS)}; ncsn.sampling.methods) ...",
    )
    parser.add_argument("--nfe", type=int, help="... at this budget of score evaluations per image")
    parser.add_argument("--method-settings", default="{}", help="JSON keywords of the method (samplers.methods)")
    parser.add_argument("--n-samples", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--init", choices=["uniform", "gaussian"], default="uniform")
    parser.add_argument("--denoise", action="store_true", help="finish with one Tweedie denoising step")
    parser.add_argument("--grid-size", type=int, default=64, help="images shown in the PNG grid")
    parser.add_argument(
        "--seeding",
        choices=SEEDINGS,
        default="set",
        help="set: one generator for the whole set; batch: one per batch (needed for --shard)",
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="draw only shard K (0-based) of N of the set (seeding batch); merge-samples joins them",
    )
    add_run_options(parser)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the network (pays off for long runs; falls back to eager if it fails)",
    )
    parser.add_argument(
        "--eager",
        action="store_true",
        help="evaluate the network op by op; by default the CPU runs a frozen TorchScript trace of it, which "
        "gives the same scores faster",
    )
    parser.add_argument("--bf16", action="store_true", help="CUDA only: evaluate the network under bf16 autocast")
    parser.add_argument("--out", required=True, type=Path, help="the .pt of uint8 samples and their settings")
    parser.add_argument("--grid", required=True, type=Path, help="PNG grid of the first --grid-size samples")


def check_arguments(args: argparse.Namespace) -> None:
    """The refusals of `sample` that need no file: a sampler fully given, sizes >= 1, a usable step."""
    if args.method is None and (args.step_lr is None or args.n_steps_each is None):
        raise NcsnError("give --step-lr and --n-steps-each (the poster's sampler), or --method and --nfe.")
    if args.method is not None and args.nfe is None:
        raise NcsnError(f"--method {args.method} needs --nfe, the budget of score evaluations per image.")
    for name in ("n_samples", "batch_size", "n_steps_each", "grid_size", "nfe"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise NcsnError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    if args.method is None and not (args.step_lr > 0 and math.isfinite(args.step_lr)):
        raise NcsnError(f"--step-lr must be a finite number > 0, got {args.step_lr}.")


def _open(args: argparse.Namespace) -> tuple[torch.device, dict[str, Any]]:
    """Output folders made (an unwritable folder fails now, not after the sampling), the device, and
    the checkpoint's description."""
    for output in (args.out, args.grid):
        output.parent.mkdir(parents=True, exist_ok=True)
    device = run_device(args)
    return device, load_checkpoint(args.checkpoint, "cpu")


def _source(args: argparse.Namespace, meta: dict[str, Any]) -> dict[str, Any]:
    """The first keys of a set's info: which checkpoint and weights drew it."""
    return {
        "checkpoint": str(args.checkpoint),
        "variant": meta.get("variant"),
        "arch": meta.get("arch"),
        "training_seed": (meta.get("fingerprint") or {}).get("seed"),
        "epoch": (meta.get("progress") or {}).get("epoch"),
        "step": (meta.get("progress") or {}).get("step"),
        "weights": args.weights,
    }


def _seeding_info(args: argparse.Namespace, shard, n_shards, batches: range | None) -> dict[str, Any]:
    """The last keys of a set's info: how it was seeded, and which shard of the set it is."""
    info: dict[str, Any] = {"seeding": args.seeding} if args.seeding != "set" else {}
    if batches is not None:
        info.update(shard=shard, n_shards=n_shards, batches=[batches.start, batches.stop])
    return info


def _image_shape(meta: dict[str, Any]) -> tuple[int, int, int]:
    return (meta["model_kwargs"].get("channels", 1), 28, 28)


def sample_langevin(
    args: argparse.Namespace, model: torch.nn.Module, meta: dict[str, Any], device: torch.device
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The images and info of `sample --step-lr E --n-steps-each T` from `model` (no file read or written)."""
    sigmas = torch.tensor(meta["model_kwargs"]["sigmas"], dtype=torch.float32)
    shard, n_shards, batches = parse_shard(args.shard, args.n_samples, args.batch_size)
    start = time.perf_counter()
    images = draw_samples(
        model,
        sigmas,
        n_samples=args.n_samples,
        batch_size=args.batch_size,
        step_lr=args.step_lr,
        n_steps_each=args.n_steps_each,
        seed=args.seed,
        init=args.init,
        denoise=args.denoise,
        image_shape=_image_shape(meta),
        device=device,
        compile=args.compile,
        bf16=args.bf16,
        seeding=args.seeding,
        batches=batches,
        trace=_trace(args),
    )
    seconds = time.perf_counter() - start
    info: dict[str, Any] = {
        **_source(args, meta),
        "step_lr": args.step_lr,
        "step_lr_convention": "NCSN paper: alpha_i = eps * sigma_i^2 / sigma_L^2, x += alpha_i/2 s + sqrt(alpha_i) z",
        "n_steps_each": args.n_steps_each,
        "n_levels": len(sigmas),
        "n_samples": args.n_samples,
        "seed": args.seed,
        "init": args.init,
        "denoise": args.denoise,
        "device": str(device),
        "compile": args.compile,
        "eager": args.eager,
        "native_kernels": device.type == "cpu" and native.available(),
        "huge_pages": huge_pages_asked(),
        "bf16": args.bf16,
        "seconds": round(seconds, 1),
    }
    return images, {**info, **_seeding_info(args, shard, n_shards, batches)}


def _trace(args: argparse.Namespace) -> bool | None:
    """False under --eager, else the default of `score_function` (traced on the CPU)."""
    return False if args.eager else None


def run(args: argparse.Namespace) -> int:
    """`sample`: a set of the poster's sampler, or of a registered method (--method M --nfe N)."""
    check_arguments(args)
    settings = None if args.method is None else _method_settings(args)  # refused before anything is made
    device, meta = _open(args)
    if args.method is not None:
        check_method(args.method, meta["arch"])
    model = load_model(args.checkpoint, args.weights, device)
    if args.method is None:
        images, info = sample_langevin(args, model, meta, device)
    else:
        images, info = sample_method(args, settings, model, meta, device)
    write_sample_set(images, info, args.out, args.grid, args.grid_size)
    print(json.dumps(info))
    return 0


def parse_shard(text: str | None, n_samples: int, batch_size: int) -> tuple[int | None, int | None, range | None]:
    if text is None:
        return None, None, None
    try:
        shard, n_shards = (int(part) for part in text.split("/"))
    except ValueError:
        raise NcsnError(f"--shard {text!r}: expected K/N, e.g. 0/4.") from None
    return shard, n_shards, shard_batches(n_samples, batch_size, shard, n_shards)


def _method_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = json_object(args.method_settings, "--method-settings", f"the keywords of method {args.method!r}")
    return check_settings(args.method, settings)


def sample_method(
    args: argparse.Namespace,
    settings: dict[str, Any],
    model: torch.nn.Module,
    meta: dict[str, Any],
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The images and info of `sample --method M --nfe N` from `model` (no file read or written)."""
    sigmas = torch.tensor(meta["model_kwargs"]["sigmas"], dtype=torch.float32)
    shard, n_shards, batches = parse_shard(args.shard, args.n_samples, args.batch_size)
    start = time.perf_counter()
    images, used = draw_method(
        args.method,
        score_function(model, device, compile=args.compile, bf16=args.bf16, trace=_trace(args)),
        sigmas,
        nfe=args.nfe,
        n_samples=args.n_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        image_shape=_image_shape(meta),
        device=device,
        settings=settings,
        init=args.init,
        seeding=args.seeding,
        batches=batches,
    )
    seconds = time.perf_counter() - start
    info: dict[str, Any] = {
        **_source(args, meta),
        "method": args.method,
        "method_settings": settings,
        "nfe_budget": args.nfe,
        "nfe": used,
        "n_levels": len(sigmas),
        "n_samples": args.n_samples,
        "seed": args.seed,
        "init": args.init,
        "device": str(device),
        "seconds": round(seconds, 2),
        "seconds_per_image": seconds / args.n_samples,
    }
    return images, {**info, **_seeding_info(args, shard, n_shards, batches)}
