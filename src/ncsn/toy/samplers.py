"""`python -m ncsn toy-samplers`: the samplers experiment on the poster's two-mode mixture with the
exact score: error of the recovered weight of the (5, 5) mode against the number of score evaluations.

Cheap and exact, it checks the MNIST experiment's methods (ncsn.sampling.methods, the same code): with a perfect
score, what each sampler needs is a property of the sampler alone. ALD runs over the toy's annealed
levels (toy.mixing.annealed) with T = NFE // L steps; the others over the same sigma range. Every seed
starts all methods from one uniform draw over [-init_bound, init_bound]^2 (the variance-exploding
methods perturb it at sigma_1, as on MNIST).

Writes, under --out-dir: samplers.csv (every seed), samplers.png and samplers.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from ncsn import layout
from ncsn.cli_options import set_threads
from ncsn.data.toy import POSTER_MIXTURE, TRUE_WEIGHT, mode_weight
from ncsn.errors import NcsnError
from ncsn.noise import geometric_sigmas
from ncsn.sampling.methods import METHODS
from ncsn.stats import Z_95
from ncsn.toy.common import add_common_arguments, generator, parse_settings, plt, write_figure, write_json

FILES = layout.TOY_FILES["samplers"]  # what the command writes into --out-dir, by role

REQUIRED = ("nfe", "methods", "n_samples", "n_seeds", "init_bound", "annealed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "samplers")


def weights_table(settings: dict, seed: int, sigmas: torch.Tensor) -> pd.DataFrame:
    """One row per (seed, method, NFE budget): the recovered weight of the (5, 5) mode and its error."""
    rows = []
    bound = settings["init_bound"]
    jobs = [(i, m, n) for i in range(settings["n_seeds"]) for m in settings["methods"] for n in settings["nfe"]]
    for index, method, nfe in tqdm(jobs, desc="toy samplers", file=sys.stderr, mininterval=5.0):
        if method not in METHODS:
            raise NcsnError(f"toy.samplers.methods names {method!r}; choose from {', '.join(METHODS)}.")
        start = (2 * torch.rand(settings["n_samples"], 2, generator=generator(seed, index, 0)) - 1) * bound
        out = METHODS[method].run(
            POSTER_MIXTURE.score, start, sigmas, nfe, generator(seed, index, 1), **settings["methods"][method]
        )
        rows.append(
            {
                "seed_index": index,
                "method": method,
                "nfe_budget": nfe,
                "nfe": out.nfe,
                "weight": mode_weight(out.x),
                "abs_error": abs(mode_weight(out.x) - TRUE_WEIGHT),
                "in_modes": (out.x.sum(dim=1).abs() > 4).float().mean().item(),
            }
        )
    return pd.DataFrame(rows)


def plot(table: pd.DataFrame):
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6.4, 4.2))
    summary = table.groupby(["method", "nfe"], sort=False)["abs_error"].agg(["mean", "std", "count"]).reset_index()
    for method, group in summary.groupby("method", sort=False):
        ax.errorbar(
            group["nfe"],
            group["mean"],
            yerr=Z_95 * group["std"] / group["count"] ** 0.5,
            marker="o",
            capsize=3,
            label=method,
        )
    ax.set_xscale("log")
    ax.set_xlabel("score evaluations per chain (NFE)")
    ax.set_ylabel("|weight of the (5, 5) mode - 0.2|")
    ax.set_title("Exact score: weight error against NFE (mean over seeds, 95% interval)")
    ax.legend(fontsize=8)
    return fig


def annealed_sigmas(settings: dict[str, Any]) -> torch.Tensor:
    annealed = settings["annealed"]
    return geometric_sigmas(annealed["sigma_max"], annealed["sigma_min"], annealed["n_levels"])


def first_within_tolerance(table: pd.DataFrame, settings: dict[str, Any]) -> dict[str, int | None]:
    """Per method: the smallest NFE whose mean weight error over the seeds is below the tolerance."""
    means = table.groupby(["method", "nfe"], sort=False)["abs_error"].mean()
    tolerance = settings.get("tolerance", 0.03)
    first = {}
    for method in settings["methods"]:
        hits = [int(n) for (m, n), err in means.items() if m == method and err < tolerance]
        first[method] = min(hits) if hits else None
    return first


def summary(table: pd.DataFrame, settings: dict[str, Any], sigmas: torch.Tensor, profile: str, seed: int) -> dict:
    """The content of samplers.json."""
    means = table.groupby(["method", "nfe"], sort=False)["abs_error"].mean()
    return {
        "profile": profile,
        "seed": seed,
        "true_weight": TRUE_WEIGHT,
        "tolerance": settings.get("tolerance", 0.03),
        "sigmas": sigmas.tolist(),
        "n_samples": settings["n_samples"],
        "n_seeds": settings["n_seeds"],
        "first_nfe_within_tolerance": first_within_tolerance(table, settings),
        "mean_abs_error": {f"{m}/{n}": float(e) for (m, n), e in means.items()},
    }


def write(table: pd.DataFrame, figure, summary_json: dict[str, Any], out: Path) -> None:
    """samplers.csv, samplers.png and samplers.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / FILES["table"], index=False)
    write_figure(figure, out / FILES["plot"])
    write_json(out / FILES["summary"], summary_json)


def run(args: argparse.Namespace) -> int:
    settings = parse_settings(args.settings, REQUIRED, "toy-samplers")
    set_threads(args.threads)
    sigmas = annealed_sigmas(settings)
    table = weights_table(settings, args.seed, sigmas)
    result = summary(table, settings, sigmas, args.profile, args.seed)
    write(table, plot(table), result, args.out_dir)
    for method, nfe in result["first_nfe_within_tolerance"].items():
        print(f"{method}: mean weight error below {result['tolerance']} from NFE {nfe}")
    return 0
