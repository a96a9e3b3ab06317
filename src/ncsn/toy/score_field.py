"""`python -m ncsn toy-score-field`: the poster's score field on a circle.

A noise conditional MLP is trained by DSM on the uniform distribution on a circle over a geometric
sigma schedule, then compared on a grid with the exact score of every perturbed density p_sigma
(``ncsn.data.toy.Circle``). Writes, under --out-dir:
* field.png: learned and true fields at the largest, a middle and the smallest level;
* errors.csv / errors.png: score error by band of distance to the circle, at every level;
* score_field.json: the key numbers (error near the data vs far from it at the smallest level).
Poster: "the score is accurate near data but undefined/random far from it".
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ncsn import layout
from ncsn.cli_options import run_device
from ncsn.data.toy import Circle
from ncsn.errors import NcsnError
from ncsn.models.mlp import NoiseConditionalMLP
from ncsn.noise import geometric_sigmas
from ncsn.toy.common import add_common_arguments, generator, parse_settings, plt, write_figure, write_json
from ncsn.toy.fit import fit_dsm

FILES = layout.TOY_FILES["score_field"]  # what the command writes into --out-dir, by role

REQUIRED = ("radius", "noise", "train", "extent", "band_edges")
GRID = 201  # points per axis of the error grid
ARROWS = 21  # arrows per axis of the quiver plots


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "score_field")


def check_bands(edges: list[float]) -> list[float]:
    edges = [float(e) for e in edges]
    if len(edges) < 3 or edges[0] != 0 or any(a >= b for a, b in zip(edges, edges[1:])):
        raise NcsnError(
            f"toy.score_field.band_edges must start at 0, increase strictly and give at least two bands, got {edges}"
        )
    return edges


def grid(extent: float, n: int) -> tuple[torch.Tensor, float]:
    """n x n points over [-extent, extent]^2 [n*n, 2] (row-major, y outer) and the area of one cell."""
    axis = torch.linspace(-extent, extent, n)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1), (2 * extent / (n - 1)) ** 2


@torch.no_grad()
def error_table(
    model, circle, sigmas: torch.Tensor, extent: float, edges: list[float], device: torch.device
) -> pd.DataFrame:
    """Per level and distance band: mean ||s_theta - s||, its ratio to the mean ||s||, the cosine of
    the angle between them, and the share of p_sigma's mass that lies in the band (within the box).
    Points farther from the circle than the last edge are left out."""
    points, cell = grid(extent, GRID)
    distance = circle.distance(points)
    band = torch.bucketize(distance, torch.tensor(edges), right=True) - 1
    rows = []
    for level, sigma in enumerate(sigmas.tolist()):
        true = circle.score(points, sigma)
        learned = model(points.to(device), torch.full((len(points),), sigma, device=device)).cpu()
        error = (learned - true).norm(dim=1)
        cosine = torch.nn.functional.cosine_similarity(learned, true, dim=1, eps=1e-12)
        mass = circle.log_density(points, sigma).exp() * cell
        for b, (lo, hi) in enumerate(zip(edges, edges[1:])):
            inside = band == b
            if not bool(inside.any()):
                continue
            true_norm = true[inside].norm(dim=1).mean().item()
            rows.append(
                {
                    "level": level,
                    "sigma": sigma,
                    "band_lo": lo,
                    "band_hi": hi,
                    "n_points": int(inside.sum()),
                    "density_mass": mass[inside].sum().item(),
                    "mean_true_norm": true_norm,
                    "mean_abs_error": error[inside].mean().item(),
                    "relative_error": error[inside].mean().item() / true_norm,
                    "sigma_scaled_error": sigma * error[inside].mean().item(),
                    "mean_cosine": cosine[inside].mean().item(),
                }
            )
    return pd.DataFrame(rows)


@torch.no_grad()
def field_samples(
    model, circle, sigmas: list[float], extent: float, device: torch.device
) -> list[dict[str, torch.Tensor | float]]:
    """Per level: the true and learned score on the ARROWS x ARROWS grid, and p_sigma on a 120 x 120 grid."""
    points, _ = grid(extent, ARROWS)
    dense, _ = grid(extent, 120)
    fields = []
    for sigma in sigmas:
        learned = model(points.to(device), torch.full((len(points),), sigma, device=device)).cpu()
        fields.append(
            {
                "sigma": sigma,
                "points": points,
                "true": circle.score(points, sigma),
                "learned": learned,
                "density": circle.log_density(dense, sigma).exp().view(120, 120),
            }
        )
    return fields


def _field_panel(ax, points, field, density, extent: float, clim: tuple[float, float]):
    ax.imshow(density.numpy(), origin="lower", extent=(-extent, extent, -extent, extent), cmap="Greys", alpha=0.6)
    unit = field / field.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return ax.quiver(
        points[:, 0].numpy(),
        points[:, 1].numpy(),
        unit[:, 0].numpy(),
        unit[:, 1].numpy(),
        field.norm(dim=1).clamp_min(1e-12).log10().numpy(),
        cmap="viridis",
        clim=clim,
        scale=ARROWS * 1.3,
        width=0.004,
    )


def plot_fields(fields: list[dict], radius: float, extent: float):
    """Rows: true, learned field; columns: levels. Arrows show the direction only (the magnitude spans
    orders of magnitude between the circle and the corners); their colour is log10 ||s||, on one scale
    per column. The background is p_sigma."""
    pyplot = plt()
    fig, axes = pyplot.subplots(2, len(fields), figsize=(4.2 * len(fields), 8.2), squeeze=False)
    for col, level in enumerate(fields):
        magnitudes = torch.cat([level["true"].norm(dim=1), level["learned"].norm(dim=1)]).clamp_min(1e-12).log10()
        clim = (magnitudes.min().item(), magnitudes.max().item())
        for row, name in enumerate(["true", "learned"]):
            ax = axes[row][col]
            arrows = _field_panel(ax, level["points"], level[name], level["density"], extent, clim)
            ax.add_patch(pyplot.Circle((0, 0), radius, fill=False, color="tab:red", lw=1))
            ax.set_title(f"{name} score, sigma = {level['sigma']:.3g}")
            ax.set_aspect("equal")
            ax.set_xlim(-extent, extent)
            ax.set_ylim(-extent, extent)
        fig.colorbar(arrows, ax=axes[:, col].tolist(), shrink=0.6, label="log10 ||s||")
    return fig


def plot_errors(table: pd.DataFrame):
    pyplot = plt()
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2))
    cmap = pyplot.get_cmap("viridis")
    levels = sorted(table["level"].unique())
    for level in levels:
        part = table[table["level"] == level]
        middle = (part["band_lo"] + part["band_hi"]) / 2
        colour = cmap(level / max(1, len(levels) - 1))
        label = f"sigma = {part['sigma'].iloc[0]:.3g}"
        left.plot(middle, part["relative_error"], marker="o", color=colour, label=label)
        right.plot(middle, part["mean_cosine"], marker="o", color=colour, label=label)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("distance to the circle (band centre)")
    left.set_ylabel("mean ||s_theta - s|| / mean ||s||")
    right.set_xscale("log")
    right.set_xlabel("distance to the circle (band centre)")
    right.set_ylabel("mean cosine(s_theta, s)")
    right.set_ylim(-1.05, 1.05)
    left.legend(fontsize=7)
    fig.tight_layout()
    return fig


def summary(
    table: pd.DataFrame, sigmas: list[float], losses: list[float], settings: dict[str, Any], profile: str, seed: int
) -> dict[str, Any]:
    def band(level: int, which: int) -> dict[str, float]:
        row = table[table["level"] == level].iloc[which]
        return {
            key: float(row[key])
            for key in (
                "band_lo",
                "band_hi",
                "relative_error",
                "mean_abs_error",
                "sigma_scaled_error",
                "mean_cosine",
                "density_mass",
            )
        }

    smallest = len(sigmas) - 1
    near, far = band(smallest, 0), band(smallest, -1)
    return {
        "profile": profile,
        "seed": seed,
        "radius": settings["radius"],
        "sigmas": sigmas,
        "train": settings["train"],
        "final_dsm_loss": sum(losses[-100:]) / len(losses[-100:]),
        "smallest_sigma": {
            "sigma": sigmas[-1],
            "near": near,
            "far": far,
            "far_over_near_relative_error": far["relative_error"] / near["relative_error"],
        },
        "by_level": {f"{s:.4g}": {"near": band(level, 0), "far": band(level, -1)} for level, s in enumerate(sigmas)},
        "poster": {"claim": "the score is accurate near data but undefined/random far from it"},
        "claim_holds": far["relative_error"] > near["relative_error"],
    }


@dataclass
class ScoreField:
    """What toy-score-field computes: the error table, the fields shown, the DSM losses and the summary."""

    sigmas: torch.Tensor
    losses: list[float]
    table: pd.DataFrame
    fields: list[dict]
    summary: dict[str, Any]


def compute(settings: dict[str, Any], seed: int, device: torch.device, profile: str = "") -> ScoreField:
    """Train the noise conditional MLP by DSM on the circle and compare it with the exact score."""
    edges = check_bands(settings["band_edges"])
    noise, train = settings["noise"], settings["train"]
    try:
        sigmas = geometric_sigmas(noise["sigma_max"], noise["sigma_min"], noise["n_levels"])
        circle = Circle(settings["radius"])
    except ValueError as err:
        raise NcsnError(f"toy.score_field: {err}") from None

    torch.manual_seed(seed)
    model = NoiseConditionalMLP(dim=2, width=train["width"], data_std=circle.radius / math.sqrt(2)).to(device)
    losses = fit_dsm(
        model,
        circle.sample,
        sigmas,
        steps=train["steps"],
        batch_size=train["batch_size"],
        lr=train["lr"],
        generator=generator(seed, 0),
        desc="dsm on the circle",
    )
    table = error_table(model, circle, sigmas, settings["extent"], edges, device)
    shown = sorted({0, len(sigmas) // 2, len(sigmas) - 1})
    fields = field_samples(model, circle, [float(sigmas[i]) for i in shown], settings["extent"], device)
    result = summary(table, sigmas.tolist(), losses, settings, profile, seed)
    return ScoreField(sigmas, losses, table, fields, result)


def write(result: ScoreField, errors_figure, fields_figure, out: Path) -> None:
    """errors.csv, errors.png, field.png and score_field.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / FILES["table"], index=False)
    write_figure(errors_figure, out / FILES["errors"])
    write_figure(fields_figure, out / FILES["field"])
    write_json(out / FILES["summary"], result.summary)


def report(result: ScoreField) -> str:
    small = result.summary["smallest_sigma"]
    return (
        f"score field on the circle (radius {result.summary['radius']:g}), sigma = {result.sigmas[-1]:.3g}: "
        f"relative error {small['near']['relative_error']:.3f} within {small['near']['band_hi']:g} of the "
        f"circle, {small['far']['relative_error']:.3f} at {small['far']['band_lo']:g}-{small['far']['band_hi']:g}; "
        f"mean cosine {small['near']['mean_cosine']:.3f} vs {small['far']['mean_cosine']:.3f}\n"
        + result.table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    )


def run(args: argparse.Namespace) -> int:
    settings = parse_settings(args.settings, REQUIRED, "toy-score-field")
    check_bands(settings["band_edges"])  # a user error before the device is set up
    device = run_device(args)
    result = compute(settings, args.seed, device, args.profile)
    errors_figure = plot_errors(result.table)
    fields_figure = plot_fields(result.fields, float(settings["radius"]), settings["extent"])
    write(result, errors_figure, fields_figure, args.out_dir)
    print(report(result))
    return 0
