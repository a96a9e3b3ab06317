"""The training loop: DSM over the geometric schedule with Adam, EMA weights, resumable checkpoints.

Output layout under `out_dir` (results/train/{variant}):
  metrics.csv            one row per epoch
  state/epoch_{e}.pt     one checkpoint per configured epoch
  state/last.pt          the latest state, written every `save_every_steps` steps and after each epoch
The workflow publishes state/epoch_{e}.pt as checkpoints/epoch_{e}.pt (rule train_checkpoint):
Snakemake deletes the outputs of a failed job, and the checkpoints already written must survive
for the resumed job.

Determinism: the model init and dropout use the global torch RNG (seeded from `seed`), the data order
comes from `data_gen`, the DSM levels and noise from `noise_gen`; all three states, the current epoch's
order and the position in it are in every checkpoint, so a resumed run takes exactly the steps an
uninterrupted run takes (bitwise equal weights on CPU).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ncsn.data.images import load_split
from ncsn.errors import DivergenceError
from ncsn.losses import dsm_loss, dsm_losses
from ncsn.models.registry import build_model, count_parameters
from ncsn.training.checkpoint import capture_rng, link_atomic, load_checkpoint, restore_rng, save_atomic
from ncsn.training.ema import make_ema
from ncsn.training.metrics import write_metrics
from ncsn.training.settings import TrainSettings

FORMAT_VERSION = 1


@dataclass
class Progress:
    epoch: int = 0  # completed epochs
    batch: int = 0  # completed batches of the current epoch
    step: int = 0  # completed optimizer steps overall
    order: Tensor | None = None  # the current epoch's permutation of the training images
    loss_sum: float = 0.0  # sum of the batch losses of the current epoch
    seconds: float = 0.0  # wall time spent in the current epoch (over resumes)
    metrics: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class RunPaths:
    out_dir: Path

    @property
    def last(self) -> Path:
        return self.out_dir / "state" / "last.pt"

    def epoch(self, e: int) -> Path:
        return self.out_dir / "state" / f"epoch_{e}.pt"

    @property
    def metrics(self) -> Path:
        return self.out_dir / "metrics.csv"


def _fingerprint(variant: str, settings: TrainSettings, seed: int) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (otherwise the run starts afresh)."""
    return {"variant": variant, "settings": settings.as_dict(), "seed": seed, "format": FORMAT_VERSION}


def _fixed_subset(n: int, size: int | None, seed: int) -> Tensor:
    if size is None or size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).narrow(0, 0, size).sort().values


@torch.no_grad()
def heldout_losses(model: nn.Module, images: Tensor, sigmas: Tensor, seed: int) -> Tensor:
    """Per-image DSM losses [N] on a fixed batch with a fixed draw of levels and noise (the same at every
    call, so two models' losses are paired image by image)."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=images.device).manual_seed(seed)
    losses = dsm_losses(model, images, sigmas, generator=generator).double().cpu()
    model.train(was_training)
    return losses


def _standard_error(values: Tensor) -> float:
    return float(values.std() / math.sqrt(len(values))) if len(values) > 1 else float("nan")


def heldout_row(model: nn.Module, ema_model: nn.Module, images: Tensor, sigmas: Tensor, seed: int) -> dict:
    """Held-out DSM loss of the raw and the EMA weights with their standard errors over the batch, and the
    standard error of their paired difference (raw - EMA): the noise of the comparison the poster makes."""
    raw = heldout_losses(model, images, sigmas, seed)
    ema = heldout_losses(ema_model, images, sigmas, seed)
    return {
        "heldout_loss_raw": float(raw.mean()),
        "heldout_loss_ema": float(ema.mean()),
        "heldout_loss_raw_se": _standard_error(raw),
        "heldout_loss_ema_se": _standard_error(ema),
        "heldout_loss_diff_se": _standard_error(raw - ema),
    }


def _weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train(
    settings: TrainSettings,
    *,
    variant: str,
    data_path: str | Path,
    out_dir: str | Path,
    seed: int,
    device: str | torch.device = "cpu",
    log=print,
) -> list[dict[str, float]]:
    """Train `variant` to `settings.epochs` epochs, resuming from state/last.pt when it belongs to the
    same run; returns the metric rows. Raises DivergenceError on a non-finite loss."""
    device = torch.device(device)
    paths = RunPaths(Path(out_dir))
    torch.manual_seed(seed)

    train_images, _ = load_split(data_path, "train")
    train_images = train_images[_fixed_subset(len(train_images), settings.train_subset, seed)]
    test_images, _ = load_split(data_path, "test")
    heldout = test_images[_fixed_subset(len(test_images), settings.heldout_size, seed + 1)].to(device)
    sigmas = settings.sigmas().to(device)

    model = build_model(settings.arch, **dict(settings.model_kwargs(), sigmas=sigmas)).to(device)
    ema = make_ema(model, settings.ema_rate)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    data_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 2)
    generators = {"data": data_gen, "noise": noise_gen}
    progress = Progress()
    fingerprint = _fingerprint(variant, settings, seed)

    def snapshot() -> dict[str, Any]:
        return {
            "fingerprint": fingerprint,
            "variant": variant,
            "arch": settings.arch,
            "model_kwargs": settings.model_kwargs(),
            "model": model.state_dict(),
            "ema": ema.module.state_dict(),
            "ema_n_averaged": int(ema.n_averaged),
            "optimizer": optimizer.state_dict(),
            "progress": vars(progress).copy(),
            "rng": capture_rng(generators),
        }

    def save_last() -> None:
        if not _weights_finite(model):
            raise DivergenceError(
                f"variant '{variant}': the weights became non-finite at epoch "
                f"{progress.epoch + 1}, step {progress.step}. {_after_divergence()}"
            )
        save_atomic(snapshot(), paths.last)

    def _after_divergence() -> str:
        """What is kept and what to change: only what is true of this run."""
        if paths.last.exists():
            kept = f"The last good checkpoint {paths.last} (step {load_checkpoint(paths.last)['progress']['step']}) is kept"
        else:
            kept = "No checkpoint had been written yet"
        if progress.step == 0:
            return (
                f"{kept}. It failed at the first step, before the learning rate could matter: check the "
                f"noise schedule (noise.sigma_max / sigma_min, now {settings.noise}) and the data file "
                f"{data_path}, then rerun."
            )
        return f"{kept}; lower 'variants.{variant}.lr' (now {settings.lr}) or check the data, and rerun."

    checkpoint = load_checkpoint(paths.last) if paths.last.exists() else None  # on the CPU, like RNG states
    if checkpoint is not None and checkpoint.get("fingerprint") == fingerprint:
        model.load_state_dict(checkpoint["model"])
        ema.module.load_state_dict(checkpoint["ema"])
        ema.n_averaged.fill_(checkpoint["ema_n_averaged"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        progress = Progress(**checkpoint["progress"])
        restore_rng(checkpoint["rng"], generators)
        log(
            f"resuming {variant} from {paths.last}: epoch {progress.epoch} done, "
            f"batch {progress.batch} of the next, step {progress.step}"
        )
    elif paths.last.parent.exists():
        if checkpoint is not None:
            log(f"{paths.last} belongs to other settings or seed; starting afresh")
        for stale in paths.last.parent.glob("*.pt"):
            stale.unlink()

    n_images = len(train_images)
    n_batches = math.ceil(n_images / settings.batch_size)
    log(
        f"variant {variant}: {settings.arch} width {settings.width}, {count_parameters(model):,} parameters, "
        f"{n_images} training images, {n_batches} batches/epoch, device {device}"
    )
    model.train()

    while progress.epoch < settings.epochs:
        epoch = progress.epoch + 1
        if progress.order is None:
            progress.order = torch.randperm(n_images, generator=data_gen)
            progress.loss_sum, progress.seconds = 0.0, 0.0
        started = time.perf_counter() - progress.seconds
        bar = tqdm(
            range(progress.batch, n_batches),
            initial=progress.batch,
            total=n_batches,
            file=sys.stderr,
            desc=f"{variant} epoch {epoch}/{settings.epochs}",
            mininterval=2.0,
            dynamic_ncols=True,
        )
        for b in bar:
            x = train_images[progress.order[b * settings.batch_size : (b + 1) * settings.batch_size]].to(device)
            loss = dsm_loss(model, x, sigmas, generator=noise_gen)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise DivergenceError(
                    f"variant '{variant}' diverged: non-finite training loss ({loss_value}) at epoch {epoch}, "
                    f"step {progress.step + 1}. {_after_divergence()}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ema.update_parameters(model)
            progress.step += 1
            progress.batch = b + 1
            progress.loss_sum += loss_value
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            if progress.step % settings.save_every_steps == 0 and progress.batch < n_batches:
                progress.seconds = time.perf_counter() - started
                save_last()
        bar.close()

        row = {
            "epoch": epoch,
            "step": progress.step,
            "train_loss": progress.loss_sum / n_batches,
            **heldout_row(model, ema.module, heldout, sigmas, seed + 3),
            "seconds": round(time.perf_counter() - started, 3),
        }
        progress.metrics.append(row)
        progress.epoch, progress.batch, progress.order = epoch, 0, None
        log(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        save_last()
        if epoch in settings.checkpoint_epochs:
            link_atomic(paths.last, paths.epoch(epoch))
        write_metrics(progress.metrics, paths.metrics)

    write_metrics(progress.metrics, paths.metrics)  # also when a finished run is resumed
    return progress.metrics
