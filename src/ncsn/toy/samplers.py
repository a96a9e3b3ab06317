"""`python -m ncsn toy-samplers`: the samplers experiment on the poster's two-mode mixture with the
exact score: error of the recovered weight of the (5, 5) mode against the number of score evaluations.

Cheap and exact, it checks the MNIST experiment's methods (ncsn.samplers, the same code): with a perfect
score, what each sampler needs is a property of the sampler alone. ALD runs over the toy's annealed
levels (toy.mixing.annealed) with T = NFE // L steps; the others over the same sigma range. Every seed
starts all methods from one uniform draw over [-init_bound, init_bound]^2 (the variance-exploding
methods perturb it at sigma_1, as on MNIST).

Writes, under --out-dir: samplers.csv (every seed), samplers.png and samplers.json.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd
import torch
from tqdm.auto import tqdm

from ncsn.cli_options import set_threads
from ncsn.errors import NcsnError
from ncsn.toy.common import add_common_arguments, generator, parse_settings, plt, save_figure, write_json
from ncsn.toy.mixing import TRUE_WEIGHT, mode_weight

REQUIRED = ("nfe", "methods", "n_samples", "n_seeds", "init_bound", "annealed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser, "samplers")


def weights_table(settings: dict, seed: int, sigmas: torch.Tensor) -> pd.DataFrame:
    from ncsn import samplers
    from ncsn.data.toy import POSTER_MIXTURE

    rows = []
    bound = settings["init_bound"]
    jobs = [(i, m, n) for i in range(settings["n_seeds"]) for m in settings["methods"] for n in settings["nfe"]]
    for index, method, nfe in tqdm(jobs, desc="toy samplers", file=sys.stderr, mininterval=5.0):
        if method not in samplers.METHODS:
            raise NcsnError(f"toy.samplers.methods names {method!r}; choose from {', '.join(samplers.METHODS)}.")
        start = (2 * torch.rand(settings["n_samples"], 2, generator=generator(seed, index, 0)) - 1) * bound
        out = samplers.METHODS[method](
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


def plot(table: pd.DataFrame, path) -> None:
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6.4, 4.2))
    summary = table.groupby(["method", "nfe"], sort=False)["abs_error"].agg(["mean", "std", "count"]).reset_index()
    for method, group in summary.groupby("method", sort=False):
        ax.errorbar(
            group["nfe"],
            group["mean"],
            yerr=1.96 * group["std"] / group["count"] ** 0.5,
            marker="o",
            capsize=3,
            label=method,
        )
    ax.set_xscale("log")
    ax.set_xlabel("score evaluations per chain (NFE)")
    ax.set_ylabel("|weight of the (5, 5) mode - 0.2|")
    ax.set_title("Exact score: weight error against NFE (mean over seeds, 95% interval)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def run(args: argparse.Namespace) -> int:
    from ncsn.noise import geometric_sigmas

    settings = parse_settings(args.settings, REQUIRED, "toy-samplers")
    set_threads(args.threads)
    annealed = settings["annealed"]
    sigmas = geometric_sigmas(annealed["sigma_max"], annealed["sigma_min"], annealed["n_levels"])
    table = weights_table(settings, args.seed, sigmas)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "samplers.csv", index=False)
    plot(table, out / "samplers.png")
    means = table.groupby(["method", "nfe"], sort=False)["abs_error"].mean()
    tolerance = settings.get("tolerance", 0.03)
    first = {}
    for method in settings["methods"]:
        hits = [int(n) for (m, n), err in means.items() if m == method and err < tolerance]
        first[method] = min(hits) if hits else None
    write_json(
        out / "samplers.json",
        {
            "profile": args.profile,
            "seed": args.seed,
            "true_weight": TRUE_WEIGHT,
            "tolerance": tolerance,
            "sigmas": sigmas.tolist(),
            "n_samples": settings["n_samples"],
            "n_seeds": settings["n_seeds"],
            "first_nfe_within_tolerance": first,
            "mean_abs_error": {f"{m}/{n}": float(e) for (m, n), e in means.items()},
        },
    )
    for method, nfe in first.items():
        print(f"{method}: mean weight error below {tolerance} from NFE {nfe}")
    return 0
