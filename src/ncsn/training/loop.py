"""The training loop: DSM over the geometric schedule with Adam, two EMAs of the weights (torch's
AveragedModel and a warm-up average, ncsn.training.ema), resumable checkpoints.

Output layout under `out_dir` (results/train/{variant}):
  metrics.csv            one row per epoch
  state/epoch_{e}.pt     one checkpoint per configured epoch (`checkpoint_epochs`)
  state/step_{s}.pt      one checkpoint per configured optimizer step count (`checkpoint_steps`)
  state/last.pt          the latest state, written every `save_every_steps` steps, at each configured
                         step and after each epoch
  state.stale*/          the state folder of an earlier run with other settings, set aside (never read again)
Epoch and step checkpoints are hard links of state/last.pt as it was written at that point.
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

from ncsn import layout
from ncsn.data.images import load_split
from ncsn.errors import ConfigError, DivergenceError
from ncsn.losses import dsm_loss, dsm_losses
from ncsn.models.registry import build_model, count_parameters
from ncsn.training import optimizer, settings_match
from ncsn.training.checkpoint import capture_rng, link_atomic, load_checkpoint, restore_rng, save_atomic
from ncsn.training.ema import make_ema, make_warmup_ema
from ncsn.training.metrics import write_metrics
from ncsn.training.settings import TrainSettings

# 2: checkpoints hold the warm-up EMA ("ema_warmup"); a state of version 1 is set aside, not resumed.
FORMAT_VERSION = 2


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
        return self.out_dir / layout.TRAINING_LAST_STATE

    def epoch(self, e: int) -> Path:
        return self.out_dir / layout.training_epoch_state(e)

    def step(self, s: int) -> Path:
        return self.out_dir / layout.training_step_state(s)

    @property
    def metrics(self) -> Path:
        return self.out_dir / layout.TRAINING_METRICS


def _fingerprint(variant: str, settings: TrainSettings, seed: int) -> dict[str, Any]:
    """What must match for a checkpoint to be resumed (otherwise its state folder is set aside and the run
    starts afresh)."""
    return {"variant": variant, "settings": settings.as_dict(), "seed": seed, "format": FORMAT_VERSION}


def set_aside(folder: Path) -> Path:
    """Rename `folder` to the first free name of folder.stale, folder.stale2, ...; returns the new name."""
    target, n = folder.with_name(f"{folder.name}.stale"), 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{folder.name}.stale{n}")
    folder.rename(target)
    return target


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


def heldout_row(
    model: nn.Module, ema_model: nn.Module, warmup_model: nn.Module, images: Tensor, sigmas: Tensor, seed: int
) -> dict:
    """Held-out DSM loss of the raw, the EMA and the warm-up EMA weights with their standard errors over
    the batch, and the standard errors of the paired differences raw - EMA and raw - warm-up EMA: the
    noise of the comparison the poster makes."""
    raw = heldout_losses(model, images, sigmas, seed)
    ema = heldout_losses(ema_model, images, sigmas, seed)
    warmup = heldout_losses(warmup_model, images, sigmas, seed)
    return {
        "heldout_loss_raw": float(raw.mean()),
        "heldout_loss_ema": float(ema.mean()),
        "heldout_loss_raw_se": _standard_error(raw),
        "heldout_loss_ema_se": _standard_error(ema),
        "heldout_loss_diff_se": _standard_error(raw - ema),
        "heldout_loss_ema_warmup": float(warmup.mean()),
        "heldout_loss_ema_warmup_se": _standard_error(warmup),
        "heldout_loss_diff_ema_warmup_se": _standard_error(raw - warmup),
    }


def _weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _training_images(
    settings: TrainSettings, data_path: str | Path, seed: int, device: torch.device
) -> tuple[Tensor, Tensor]:
    """The (subset of the) training split, on the CPU, and the fixed held-out batch of the test split on
    `device`."""
    train_images, _ = load_split(data_path, "train")
    train_images = train_images[_fixed_subset(len(train_images), settings.train_subset, seed)]
    test_images, _ = load_split(data_path, "test")
    heldout = test_images[_fixed_subset(len(test_images), settings.heldout_size, seed + 1)].to(device)
    return train_images, heldout


class _Run:
    """One training run: its data, networks, optimizer, random generators, progress and files.

    Built in the order that fixes the global RNG's draws (seed, data, model init); `resume` then
    restores a checkpoint of the same run, `train_epoch` trains one epoch and records it."""

    def __init__(self, settings: TrainSettings, variant: str, data_path, out_dir, seed: int, device, log) -> None:
        self.settings, self.variant, self.data_path, self.seed, self.log = settings, variant, data_path, seed, log
        self.device = torch.device(device)
        self.paths = RunPaths(Path(out_dir))
        torch.manual_seed(seed)
        self.train_images, self.heldout = _training_images(settings, data_path, seed, self.device)
        self.n_batches = math.ceil(len(self.train_images) / settings.batch_size)
        self.sigmas = settings.sigmas().to(self.device)
        self.model = build_model(settings.arch, **dict(settings.model_kwargs(), sigmas=self.sigmas)).to(self.device)
        self.ema = make_ema(self.model, settings.ema_rate)
        self.ema_warmup = make_warmup_ema(self.model, settings.ema_rate)
        self.optimizer = optimizer.adam(self.model.parameters(), lr=settings.lr)
        self.data_gen = torch.Generator().manual_seed(seed)
        self.noise_gen = torch.Generator(device=self.device).manual_seed(seed + 2)
        self.generators = {"data": self.data_gen, "noise": self.noise_gen}
        self.progress = Progress()
        self.fingerprint = _fingerprint(variant, settings, seed)

    def snapshot(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "variant": self.variant,
            "arch": self.settings.arch,
            "model_kwargs": self.settings.model_kwargs(),
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict(),
            "ema_n_averaged": int(self.ema.n_averaged),
            "ema_warmup": self.ema_warmup.module.state_dict(),
            "ema_warmup_n_updates": self.ema_warmup.n_updates,
            "optimizer": self.optimizer.state_dict(),
            "progress": vars(self.progress).copy(),
            "rng": capture_rng(self.generators),
        }

    def save_last(self) -> None:
        if not _weights_finite(self.model):
            raise DivergenceError(
                f"variant '{self.variant}': the weights became non-finite at epoch "
                f"{self.progress.epoch + 1}, step {self.progress.step}. {self.after_divergence()}"
            )
        save_atomic(self.snapshot(), self.paths.last)

    def after_divergence(self) -> str:
        """What is kept and what to change: only what is true of this run."""
        last = self.paths.last
        if last.exists():
            kept = f"The last good checkpoint {last} (step {load_checkpoint(last)['progress']['step']}) is kept"
        else:
            kept = "No checkpoint had been written yet"
        if self.progress.step == 0:
            return (
                f"{kept}. It failed at the first step, before the learning rate could matter: check the "
                f"noise schedule (noise.sigma_max / sigma_min, now {self.settings.noise}) and the data file "
                f"{self.data_path}, then rerun."
            )
        return f"{kept}; lower 'variants.{self.variant}.lr' (now {self.settings.lr}) or check the data, and rerun."

    def resume(self) -> None:
        """Continue from state/last.pt when it belongs to this run. Otherwise (other settings, seed or code
        version) the state folder is set aside, kept whole, and the run starts afresh: the train rule reruns
        this way when Snakemake sees a variant's settings change."""
        last = self.paths.last
        checkpoint = load_checkpoint(last) if last.exists() else None  # on the CPU, like RNG states
        changed = self.changed_settings(checkpoint) if checkpoint is not None else ""
        if checkpoint is not None and not changed:
            self.restore(checkpoint)
        elif last.parent.is_dir() and any(last.parent.glob("*.pt")):
            reason = f"{last} belongs to another run ({changed})" if checkpoint else f"{last.parent} has no {last.name}"
            aside = set_aside(last.parent)
            self.log(f"{reason}; its state folder is set aside as {aside} (kept, not deleted); starting afresh")

    def changed_settings(self, checkpoint: dict[str, Any]) -> str:
        """What differs between the run that wrote `checkpoint` and this one; '' when it is this run."""
        recorded = checkpoint.get("fingerprint")
        if not isinstance(recorded, dict):
            return "it records no settings: an older version of the code wrote it"
        return settings_match.describe(settings_match.differences(recorded, self.fingerprint), "the state", "this run")

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.ema.module.load_state_dict(checkpoint["ema"])
        self.ema.n_averaged.fill_(checkpoint["ema_n_averaged"])
        self.ema_warmup.module.load_state_dict(checkpoint["ema_warmup"])
        self.ema_warmup.n_updates = int(checkpoint["ema_warmup_n_updates"])
        optimizer.load_state(self.optimizer, checkpoint["optimizer"])
        self.progress = Progress(**checkpoint["progress"])
        restore_rng(checkpoint["rng"], self.generators)
        p = self.progress
        self.log(
            f"resuming {self.variant} from {self.paths.last}: epoch {p.epoch} done, batch {p.batch} of the next, "
            f"step {p.step}"
        )
        self.link_missing_snapshots()

    def link_missing_snapshots(self) -> None:
        """Link state/last.pt as the epoch or step checkpoint it is, when a run killed between writing it
        and linking it left that checkpoint missing (a later step never reaches that point again)."""
        p = self.progress
        if p.batch == 0 and p.epoch in self.settings.checkpoint_epochs and not self.paths.epoch(p.epoch).exists():
            link_atomic(self.paths.last, self.paths.epoch(p.epoch))
        if p.step in self.settings.checkpoint_steps and not self.paths.step(p.step).exists():
            link_atomic(self.paths.last, self.paths.step(p.step))

    def check_checkpoint_steps(self) -> None:
        """Every configured step must be reached by the run (before anything is trained or written)."""
        total = self.settings.epochs * self.n_batches
        late = [s for s in self.settings.checkpoint_steps if s > total]
        if late:
            raise ConfigError(
                f"variant '{self.variant}': checkpoint_steps {late} exceed the run's {total} optimizer steps "
                f"({self.settings.epochs} epochs x {self.n_batches} batches of {self.settings.batch_size} of "
                f"{len(self.train_images)} training images); a checkpoint can only be written at a step that is "
                f"trained. Lower 'variants.{self.variant}.checkpoint_steps' or raise its epochs in the config."
            )

    def describe(self) -> str:
        s = self.settings
        return (
            f"variant {self.variant}: {s.arch} width {s.width}, {count_parameters(self.model):,} parameters, "
            f"{len(self.train_images)} training images, {self.n_batches} batches/epoch, device {self.device}"
        )

    def step(self, b: int, epoch: int) -> float:
        """One optimizer step on batch `b` of the epoch's order (and the EMA update); its loss."""
        p, batch_size = self.progress, self.settings.batch_size
        x = self.train_images[p.order[b * batch_size : (b + 1) * batch_size]].to(self.device)
        loss = dsm_loss(self.model, x, self.sigmas, generator=self.noise_gen)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise DivergenceError(
                f"variant '{self.variant}' diverged: non-finite training loss ({loss_value}) at epoch {epoch}, "
                f"step {p.step + 1}. {self.after_divergence()}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.ema.update_parameters(self.model)
        self.ema_warmup.update_parameters(self.model)
        p.step += 1
        p.batch = b + 1
        p.loss_sum += loss_value
        return loss_value

    def train_epoch(self) -> None:
        """The rest of the current epoch (all of it, unless resumed within it), then its metrics row."""
        p = self.progress
        epoch = p.epoch + 1
        if p.order is None:
            p.order = torch.randperm(len(self.train_images), generator=self.data_gen)
            p.loss_sum, p.seconds = 0.0, 0.0
        started = time.perf_counter() - p.seconds
        bar = tqdm(
            range(p.batch, self.n_batches),
            initial=p.batch,
            total=self.n_batches,
            file=sys.stderr,
            desc=f"{self.variant} epoch {epoch}/{self.settings.epochs}",
            mininterval=2.0,
            dynamic_ncols=True,
        )
        for b in bar:
            loss_value = self.step(b, epoch)
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
            if p.batch < self.n_batches:  # the epoch's last step is saved by end_epoch
                self.save_within_epoch(started)
        bar.close()
        self.end_epoch(epoch, started)

    def save_within_epoch(self, started: float) -> None:
        """state/last.pt every `save_every_steps` steps, and at a configured step, linked as its checkpoint."""
        p, snapshot = self.progress, self.progress.step in self.settings.checkpoint_steps
        if snapshot or p.step % self.settings.save_every_steps == 0:
            p.seconds = time.perf_counter() - started
            self.save_last()
        if snapshot:
            link_atomic(self.paths.last, self.paths.step(p.step))

    def end_epoch(self, epoch: int, started: float) -> None:
        """Record the epoch: metrics row, state/last.pt, the configured epoch and step checkpoints, metrics.csv."""
        p = self.progress
        row = {
            "epoch": epoch,
            "step": p.step,
            "train_loss": p.loss_sum / self.n_batches,
            **heldout_row(
                self.model, self.ema.module, self.ema_warmup.module, self.heldout, self.sigmas, self.seed + 3
            ),
            "seconds": round(time.perf_counter() - started, 3),
        }
        p.metrics.append(row)
        p.epoch, p.batch, p.order = epoch, 0, None
        self.log(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        self.save_last()
        if epoch in self.settings.checkpoint_epochs:
            link_atomic(self.paths.last, self.paths.epoch(epoch))
        if p.step in self.settings.checkpoint_steps:
            link_atomic(self.paths.last, self.paths.step(p.step))
        write_metrics(p.metrics, self.paths.metrics)


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
    same run; returns the metric rows. Raises DivergenceError on a non-finite loss, and ConfigError (before
    anything is trained) when a `checkpoint_steps` entry lies beyond the run's last step."""
    run = _Run(settings, variant, data_path, out_dir, seed, device, log)
    run.check_checkpoint_steps()
    run.resume()
    log(run.describe())
    run.model.train()
    while run.progress.epoch < settings.epochs:
        run.train_epoch()
    write_metrics(run.progress.metrics, run.paths.metrics)  # also when a finished run is resumed
    return run.progress.metrics
