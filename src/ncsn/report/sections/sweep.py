"""Sampler hyperparameters (the poster's Figure 1): FID over the step size epsilon x steps per level T."""

from __future__ import annotations

from pathlib import Path

from ncsn.report.html import Claim, Section
from ncsn.report.sections.common import measured_with, read_csv, read_json, scale_note, verdict

POSTER_EPS, POSTER_T = 1e-5, 100
# "Snow noise": samples whose neighbouring-pixel differences exceed the test images' by this factor.
SNOW_FACTOR = 1.5


def sweep_claims(summary: dict, config: dict) -> list[Claim]:
    best = summary["best"]
    tv = summary["total_variation"]
    largest = max(float(k.split(",")[0].split("=")[1]) for k in tv)
    tv_largest = max(v for k, v in tv.items() if float(k.split(",")[0].split("=")[1]) == largest)
    ref_tv = summary["reference_total_variation"]
    eps_ok, t_ok = best["step_lr"] == POSTER_EPS, best["n_steps_each"] >= POSTER_T
    optimum = ("reproduced" if eps_ok and t_ok else "partly reproduced" if eps_ok or t_ok else "not reproduced")
    snow = tv_largest > SNOW_FACTOR * ref_tv and summary["fid_at_largest_step_lr"] > best["fid"]
    return [
        Claim(claim="Sampling is best with a small step size and many steps per level",
              poster=f"epsilon ~ {POSTER_EPS:g}, T = {POSTER_T}",
              measured=f"lowest FID {best['fid']:.4g} at epsilon = {best['step_lr']:g}, T = {best['n_steps_each']}",
              verdict=optimum if config["profile"] == "full" else "not comparable",
              note=("epsilon in the NCSN paper convention (alpha_i = epsilon sigma_i^2 / sigma_L^2, x += alpha_i/2 s "
                    "+ sqrt(alpha_i) z), as in the poster's update rule." + scale_note(config))),
        Claim(claim="Large steps overshoot into 'snow noise'",
              poster="large epsilon gives speckled samples",
              measured=(f"at epsilon = {largest:g}: neighbouring-pixel variation {tv_largest:.3f} vs {ref_tv:.3f} for "
                        f"test images; best FID there {summary['fid_at_largest_step_lr']:.4g} vs {best['fid']:.4g} overall"),
              verdict=verdict(config, snow),
              note=(f"Counted as snow when the variation exceeds {SNOW_FACTOR}x the test images' and the FID is worse "
                    "than at the optimum." + scale_note(config))),
    ]


def sweep_section(results: Path, config: dict) -> Section | None:
    folder = results / "experiments" / "figure1"
    if "sweep" not in config or not (folder / "figure1.json").is_file():
        return None
    summary = read_json(folder / "figure1.json")
    table = read_csv(folder / "figure1.csv")[["step_lr", "n_steps_each", "fid", "kid_mean", "total_variation",
                                             "n_samples", "extractor"]]
    text = (f"<p>One checkpoint ({summary['variant']}, epoch {summary['epoch']}, {summary['weights']} weights) sampled "
            f"over every configured epsilon and T; {measured_with(summary)}. The poster's Figure 1 shows the same grid "
            "as images only.</p>")
    figures = [(folder / "figure1_fid.png", "FID over epsilon (columns) and T (rows)."),
               (folder / "figure1_samples.png", "Samples per (epsilon, T) cell.")]
    return Section("Sampler hyperparameters (Figure 1)", text, figures=figures,
                   tables=[("FID, KID and pixel variation per (epsilon, T)", table)],
                   claims=sweep_claims(summary, config))
