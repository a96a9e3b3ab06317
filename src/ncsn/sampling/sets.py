"""Sample-set files: a .pt of uint8 images [N, C, H, W] with the settings that drew them (written by
`python -m ncsn sample`, joined from shards by `merge-samples`, read by the evaluation), and the PNG
grid of its first images beside it. Writes are atomic (ncsn.torch_files)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ncsn.errors import NcsnError
from ncsn.torch_files import load_dict, replace_with, save_atomic


def load_samples(path: str | Path) -> tuple[torch.Tensor, dict[str, Any]]:
    remedy = "run the sample rule (python -m ncsn sample) for it"
    data = load_dict(path, "sample file", remedy, required=("images", "info"))
    images = data["images"]
    if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.ndim == 4 and len(images)):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        dtype = images.dtype if isinstance(images, torch.Tensor) else ""
        raise NcsnError(
            f"sample file {path}: 'images' must be a non-empty uint8 tensor [N, C, H, W], got "
            f"{dtype} {shape}. Delete it and {remedy}."
        )
    return images, data["info"]


def grid_array(images: torch.Tensor, nrow: int, padding: int = 2, pad_value: int = 255) -> torch.Tensor:
    """uint8 images [N, C, H, W] side by side, `nrow` per row, on a `pad_value` background: [C, H', W']
    (the layout of torchvision's make_grid)."""
    n, c, h, w = images.shape
    columns = min(nrow, n)
    rows = math.ceil(n / columns)
    grid = torch.full(
        (c, rows * (h + padding) + padding, columns * (w + padding) + padding), pad_value, dtype=torch.uint8
    )
    for i, image in enumerate(images):
        top, left = (i // columns) * (h + padding) + padding, (i % columns) * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = image
    return grid


def image_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """A PNG of uint8 images in a grid of `nrow` columns (default: square), 2 white pixels between them.
    Written with Pillow: importing torchvision for it took 2.4 s of every sampling job."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(images)))))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = grid_array(images, nrow)
    array = grid[0].numpy() if len(grid) == 1 else grid.permute(1, 2, 0).numpy()
    Image.fromarray(array).save(path, format="PNG")


def write_sample_set(images: torch.Tensor, info: dict[str, Any], out: Path, grid: Path, grid_size: int) -> None:
    """The set's .pt at `out` and the PNG grid of its first `grid_size` images at `grid`."""
    save_atomic({"images": images, "info": info}, out)
    replace_with(grid, lambda tmp: image_grid(images[:grid_size], tmp))


def merge_shards(paths: list[Path]) -> tuple[torch.Tensor, dict[str, Any]]:
    """The whole set from its shards (in shard order), after checking that they belong together."""
    parts = [load_samples(path) for path in paths]
    infos = [info for _, info in parts]
    n_shards = infos[0].get("n_shards")
    if n_shards is None or sorted(i.get("shard") for i in infos) != list(range(n_shards)):
        raise NcsnError(
            f"{len(paths)} shard file(s) do not hold shards 0..{n_shards} of one set: "
            f"{[(str(p), i.get('shard'), i.get('n_shards')) for p, i in zip(paths, infos)]}."
        )
    differing = {"shard", "batches", "seconds", "seconds_per_image"}
    first = {k: v for k, v in infos[0].items() if k not in differing}
    for path, info in zip(paths, infos):
        if {k: v for k, v in info.items() if k not in differing} != first:
            raise NcsnError(f"shard {path} was drawn with other settings than {paths[0]}; redraw the set's shards.")
    order = sorted(range(len(parts)), key=lambda i: infos[i]["shard"])
    images = torch.cat([parts[i][0] for i in order])
    info = {k: v for k, v in first.items() if k not in ("n_shards",)}
    seconds = sum(i["seconds"] for i in infos)
    info.update(seconds=round(seconds, 1), merged_from_shards=n_shards)
    if "seconds_per_image" in infos[0]:  # a method's set: its time per image, over every shard
        info["seconds_per_image"] = seconds / len(images)
    return images, info
