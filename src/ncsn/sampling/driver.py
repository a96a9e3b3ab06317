"""One batch driver for every sample set: the poster's annealed Langevin and every registered method.

A set of n images is drawn in batches. Seeding "set": one generator, seeded with the set's seed, drives
every batch in turn (the study's default). Seeding "batch": batch i has its own generator, seeded with
batch_seed(seed, i), so any run of batches (a shard) can be drawn alone and gives the very images the
whole set has there. The generator lives on the sampling device and draws the inits and the sampler's
noise: a seed gives the same images on the same kind of device.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ncsn.errors import NcsnError
from ncsn.models.compiled import bf16_autocast, compile_score_fn, traced_score_fn
from ncsn.sampling.dynamics import ScoreFn, annealed_langevin, initial_noise, to_uint8
from ncsn.sampling.methods import METHODS

SEEDINGS = ("set", "batch")

# batch sampler: (score_fn, initial chains, generator) -> final chains in model space
BatchSampler = Callable[[ScoreFn, torch.Tensor, torch.Generator], torch.Tensor]


def score_function(
    model: torch.nn.Module, device: torch.device, compile: bool = False, bf16: bool = False, trace: bool | None = None
):
    """The model as score_fn: under torch.compile when asked, else on the CPU a frozen TorchScript trace
    (`trace`, default: on the CPU; the same scores as eager, faster: ncsn.models.compiled); optionally
    (CUDA only) under bf16 autocast, the scores coming back in the dtype of x so that the Langevin updates
    stay in float32."""
    if trace is None:
        trace = device.type == "cpu"
    score_fn = compile_score_fn(model, enabled=True) if compile else traced_score_fn(model, enabled=trace)
    if not bf16:
        return score_fn
    if device.type != "cuda":
        raise NcsnError(f"--bf16 needs a CUDA device, but sampling runs on {device}; drop --bf16.")
    return bf16_autocast(score_fn, "cuda")


def batch_seed(seed: int, index: int) -> int:
    """The seed of batch `index` under seeding "batch" (a fixed mix of the set's seed and the index)."""
    return (seed * 1_000_003 + index + 1) % 2**63


def shard_batches(n_samples: int, batch_size: int, shard: int, n_shards: int) -> range:
    """Batch indices of shard `shard` of `n_shards`: contiguous runs, so that the shards' images in shard
    order are the unsharded set's."""
    n_batches = math.ceil(n_samples / batch_size)
    if not 0 <= shard < n_shards <= n_batches:
        raise NcsnError(
            f"shard {shard} of {n_shards} does not exist for {n_batches} batch(es) of {batch_size}; "
            f"use at most {n_batches} shards (sampler.shards)."
        )
    edges = [round(i * n_batches / n_shards) for i in range(n_shards + 1)]
    return range(edges[shard], edges[shard + 1])


def _check_seeding(seeding: str, batches: range | None) -> None:
    if seeding not in SEEDINGS:
        raise NcsnError(f"unknown seeding {seeding!r}; use one of {', '.join(SEEDINGS)}.")
    if batches is not None and seeding != "batch":
        raise NcsnError("a shard of a set can only be drawn with seeding 'batch' (sampler.seeding).")


class _Counted:
    """score_fn that counts its calls and advances the progress bar by one per evaluation."""

    def __init__(self, score_fn: ScoreFn, bar):
        self.score_fn, self.bar, self.calls = score_fn, bar, 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.bar.update(1)
        return self.score_fn(x, sigma)


def draw(
    sample_batch: BatchSampler,
    score_fn: ScoreFn,
    *,
    n_samples: int,
    batch_size: int,
    seed: int,
    nfe_per_batch: int,
    image_shape: tuple[int, ...] = (1, 28, 28),
    device: torch.device | str = "cpu",
    init: str = "uniform",
    seeding: str = "set",
    batches: range | None = None,
    progress: bool = True,
    label: str = "score evaluations",
) -> tuple[torch.Tensor, int]:
    """uint8 images of the batches `batches` (all of the set's by default), each drawn by
    `sample_batch(score_fn, init, generator)` from chains started at `init` noise, and the score
    evaluations per image it made (counted, not computed)."""
    _check_seeding(seeding, batches)
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    indices = range(math.ceil(n_samples / batch_size)) if batches is None else batches
    # Progress in score evaluations: one batch of chains can take minutes on a CPU.
    bar = tqdm(
        total=len(indices) * nfe_per_batch,
        desc=label,
        unit="eval",
        file=sys.stderr,
        disable=not progress,
        mininterval=10.0,
    )
    counted_score_fn = _Counted(score_fn, bar)
    images = []
    with torch.inference_mode():
        for index in indices:
            n = min(batch_size, n_samples - index * batch_size)
            if seeding == "batch":
                generator = torch.Generator(device=device).manual_seed(batch_seed(seed, index))
            x = sample_batch(counted_score_fn, initial_noise((n, *image_shape), init, generator, device), generator)
            images.append(to_uint8(x.cpu()))
    bar.close()
    return torch.cat(images), counted_score_fn.calls // max(1, len(indices))


def annealed_langevin_batches(sigmas: torch.Tensor, step_lr: float, n_steps_each: int, denoise: bool) -> BatchSampler:
    """The poster's sampler as a batch sampler."""

    def sample_batch(score_fn, x, generator):
        return annealed_langevin(score_fn, x, sigmas, step_lr, n_steps_each, generator=generator, denoise=denoise)

    return sample_batch


def method_batches(method: str, sigmas: torch.Tensor, nfe: int, settings: dict) -> BatchSampler:
    """A registered method at a budget of `nfe` as a batch sampler; non-finite images are refused."""

    def sample_batch(score_fn, x, generator):
        out = METHODS[method].run(score_fn, x, sigmas, nfe, generator, **settings).x
        if not torch.isfinite(out).all():
            raise NcsnError(
                f"sampler {method!r} at NFE {nfe} produced non-finite images; its settings "
                f"{settings} are unstable for this network."
            )
        return out

    return sample_batch


def draw_samples(
    model: torch.nn.Module,
    sigmas: torch.Tensor,
    *,
    n_samples: int,
    batch_size: int,
    step_lr: float,
    n_steps_each: int,
    seed: int,
    init: str = "uniform",
    denoise: bool = False,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    device: torch.device | str = "cpu",
    progress: bool = True,
    compile: bool = False,
    bf16: bool = False,
    seeding: str = "set",
    batches: range | None = None,
    trace: bool | None = None,
) -> torch.Tensor:
    """uint8 images [n_samples, *image_shape] of `model` by annealed Langevin dynamics over `sigmas`
    (`compile`, `bf16`, `trace`: how the network is evaluated, see `score_function`)."""
    device = torch.device(device)
    sigmas = sigmas.to(device)
    images, _ = draw(
        annealed_langevin_batches(sigmas, step_lr, n_steps_each, denoise),
        score_function(model, device, compile=compile, bf16=bf16, trace=trace),
        n_samples=n_samples,
        batch_size=batch_size,
        seed=seed,
        nfe_per_batch=len(sigmas) * n_steps_each + int(denoise),
        image_shape=image_shape,
        device=device,
        init=init,
        seeding=seeding,
        batches=batches,
        progress=progress,
        label="Langevin steps",
    )
    return images


def draw_method(
    method: str,
    score_fn: ScoreFn,
    sigmas: torch.Tensor,
    *,
    nfe: int,
    n_samples: int,
    batch_size: int,
    seed: int,
    image_shape: tuple[int, int, int],
    device: torch.device | str,
    settings: dict | None = None,
    init: str = "uniform",
    seeding: str = "set",
    batches: range | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, int]:
    """uint8 images from a registered `method` at a budget of `nfe`, and the NFE per image it used."""
    settings = settings or {}
    device = torch.device(device)
    sigmas = sigmas.to(device)
    return draw(
        method_batches(method, sigmas, nfe, settings),
        score_fn,
        n_samples=n_samples,
        batch_size=batch_size,
        seed=seed,
        nfe_per_batch=METHODS[method].nfe_used(nfe, len(sigmas), **settings),
        image_shape=image_shape,
        device=device,
        init=init,
        seeding=seeding,
        batches=batches,
        progress=progress,
        label=f"{method} NFE {nfe}",
    )
