"""The methods of the samplers experiment ("beyond the poster"): each turns a budget of score
evaluations (NFE) into one call of a sampler of ncsn.sampling over the network's own noise range.

To add a sampler: write it in ncsn.sampling, add one entry to METHODS here and one to SETTINGS in
ncsn.sampler_settings (the type and range of each of its keyword settings, which ncsn.config checks in
every config; a module without torch, so that checking a config stays fast) and one key under
`samplers.methods` in the config.

| method        | what runs at a budget of NFE                                                          |
|---------------|----------------------------------------------------------------------------------------|
| `ald`         | the poster's annealed Langevin: the trained L levels, T = NFE // L steps each           |
| `ald_denoise` | the same, ending with one Tweedie denoising step (NFE = L T + 1, T >= 1)                |
| `cas`         | consistent annealed sampling over NFE geometric levels from sigma_1 to sigma_L          |
| `pc`          | VE predictor-corrector: NFE / (1 + corrector_steps) predictor steps, one corrector each |
| `ode`         | probability-flow ODE, (NFE - 1) // 2 midpoint steps in log sigma, then Tweedie          |

ALD starts from the study's init (uniform noise, as in Song & Ermon); the variance-exploding samplers
start from that init perturbed at sigma_1 (x = u + sigma_1 z), the prior they assume. The samplers other
than ALD evaluate the network between its trained levels, which only a network conditioned on sigma by
value (the custom U-Net) can do; a level-indexed one (RefineNet) is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ncsn import sampling
from ncsn.errors import NcsnError
from ncsn.noise import geometric_sigmas
from ncsn.sampler_settings import ODE_SOLVERS, TRAINED_LEVELS_ONLY
from ncsn.sampler_settings import SETTINGS as SETTINGS  # the settings of each method of METHODS

Method = Callable[..., sampling.Sampled]


def _ald(denoise: bool):
    def run(score_fn, init, sigmas, nfe, generator, step_lr=1e-5):
        levels = len(sigmas)
        if nfe < levels:
            raise NcsnError(
                f"annealed Langevin over {levels} levels needs an NFE of at least {levels}, got {nfe}; "
                f"raise the smallest samplers.nfe."
            )
        steps = max(1, (nfe - int(denoise)) // levels)  # at NFE = L the denoising step comes on top
        x = sampling.annealed_langevin(score_fn, init, sigmas, step_lr, steps, generator=generator, denoise=denoise)
        return sampling.Sampled(x, levels * steps + int(denoise))

    return run


def _perturbed(init, sigmas, generator):
    return init + float(sigmas[0]) * torch.randn(init.shape, generator=generator, device=init.device)


def _cas(score_fn, init, sigmas, nfe, generator, eta=None):
    if nfe < 2:
        raise NcsnError(f"consistent annealed sampling needs an NFE of at least 2, got {nfe}.")
    levels = geometric_sigmas(float(sigmas[0]), float(sigmas[-1]), nfe)
    return sampling.consistent_annealed(
        score_fn, _perturbed(init, sigmas, generator), levels, eta=eta, generator=generator
    )


def _pc(score_fn, init, sigmas, nfe, generator, corrector_steps=1, snr=0.16):
    predictor_steps = nfe // (1 + corrector_steps)
    if predictor_steps < 1:
        raise NcsnError(
            f"predictor-corrector with {corrector_steps} corrector step(s) needs an NFE of at least "
            f"{1 + corrector_steps}, got {nfe}."
        )
    levels = geometric_sigmas(float(sigmas[0]), float(sigmas[-1]), predictor_steps + 1)
    return sampling.predictor_corrector(
        score_fn,
        _perturbed(init, sigmas, generator),
        levels,
        corrector_steps=corrector_steps,
        snr=snr,
        generator=generator,
    )


def _ode(score_fn, init, sigmas, nfe, generator, method="midpoint"):
    per_step = ODE_SOLVERS.get(method)
    if per_step is None:
        raise NcsnError(f"samplers.methods.ode.method is {method!r}; use euler, midpoint, heun2, heun3 or rk4.")
    steps = (nfe - 1) // per_step
    if steps < 1:
        raise NcsnError(f"the probability-flow ODE with {method} needs an NFE of at least {per_step + 1}, got {nfe}.")
    return sampling.probability_flow(
        score_fn, _perturbed(init, sigmas, generator), float(sigmas[0]), float(sigmas[-1]), steps, method=method
    )


METHODS: dict[str, Method] = {"ald": _ald(False), "ald_denoise": _ald(True), "cas": _cas, "pc": _pc, "ode": _ode}


def check_method(method: str, arch: str) -> None:
    if method not in METHODS:
        raise NcsnError(f"unknown sampler method {method!r}; choose from {', '.join(METHODS)} (samplers.methods).")
    if method not in TRAINED_LEVELS_ONLY and arch != "unet":
        raise NcsnError(
            f"sampler {method!r} evaluates the network between its trained noise levels, which the "
            f"level-indexed {arch} network cannot do (it knows only its own sigmas); run it on a "
            f"custom U-Net variant (arch: unet), whose sigma enters by value."
        )


@torch.inference_mode()
def draw(
    method: str,
    score_fn,
    sigmas: torch.Tensor,
    *,
    nfe: int,
    n_samples: int,
    batch_size: int,
    seed: int,
    image_shape: tuple[int, int, int],
    device: torch.device,
    settings: dict | None = None,
    init: str = "uniform",
    progress: bool = True,
) -> tuple[torch.Tensor, int]:
    """uint8 images from `method` at a budget of `nfe`, and the NFE per image it actually used."""
    generator = torch.Generator(device=device).manual_seed(seed)
    sigmas = sigmas.to(device)
    batches, used = [], 0
    for start in tqdm(range(0, n_samples, batch_size), desc=f"{method} NFE {nfe}", unit="batch", disable=not progress):
        n = min(batch_size, n_samples - start)
        x0 = sampling.initial_noise((n, *image_shape), init, generator, device)
        out = METHODS[method](score_fn, x0, sigmas, nfe, generator, **(settings or {}))
        if not torch.isfinite(out.x).all():
            raise NcsnError(
                f"sampler {method!r} at NFE {nfe} produced non-finite images; its settings "
                f"{settings or {}} are unstable for this network."
            )
        batches.append(sampling.to_uint8(out.x.cpu()))
        used = out.nfe
    return torch.cat(batches), used
