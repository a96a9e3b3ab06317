"""The methods of the samplers experiment ("beyond the poster"), registered with what the study needs to
know about each: its keyword settings (JSON-schema fragments, which ncsn.config turns into the schema of
`samplers.methods` and `toy.samplers.methods`), whether it evaluates the network between its trained noise
levels, and how many score evaluations it spends for a budget of NFE.

Each method turns a budget of score evaluations (NFE) into one call of a sampler of
ncsn.sampling.dynamics over the network's own noise range:

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

To add a sampler: one function here under ``@register(...)`` (its settings are its keyword parameters,
each declared with its type and range), and one key under `samplers.methods` in the config.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import torch

from ncsn.errors import NcsnError
from ncsn.noise import geometric_sigmas
from ncsn.sampling import dynamics

# method(score_fn, init, sigmas, nfe, generator, **settings) -> Sampled
MethodFn = Callable[..., dynamics.Sampled]


@dataclass(frozen=True)
class Method:
    name: str
    run: MethodFn
    settings: dict[str, dict[str, Any]]  # keyword -> JSON-schema fragment (type, range, description)
    trained_levels_only: bool  # False: it evaluates the network between its trained levels
    nfe_used: Callable[..., int]  # (nfe budget, n_levels, **settings) -> score evaluations per image

    def defaults(self) -> dict[str, Any]:
        """The keyword settings the function takes when the config gives none."""
        return {
            name: p.default
            for name, p in inspect.signature(self.run).parameters.items()
            if p.default is not inspect.Parameter.empty
        }


METHODS: dict[str, Method] = {}


def register(
    name: str,
    *,
    settings: dict[str, dict[str, Any]],
    trained_levels_only: bool = False,
    nfe_used: Callable[..., int] = lambda nfe, n_levels, **_: nfe,
):
    """Add the decorated function to METHODS under `name`."""

    def add(run: MethodFn) -> MethodFn:
        method = Method(name, run, settings, trained_levels_only, nfe_used)
        _check_declaration(method)
        METHODS[name] = method
        return run

    return add


def _check_declaration(method: Method) -> None:
    """The declared settings are exactly the function's keywords after (score_fn, init, sigmas, nfe,
    generator), and each keyword's default passes its own declaration: the config can then refuse any
    setting the function would not take."""
    keywords = list(inspect.signature(method.run).parameters)[5:]
    if keywords != list(method.settings):
        raise TypeError(
            f"sampler method {method.name!r} declares settings {list(method.settings)} but its function takes "
            f"the keywords {keywords}; declare each keyword, in order, and no other"
        )
    for key, default in method.defaults().items():
        jsonschema.validate(default, method.settings[key])


def check_method(method: str, arch: str) -> None:
    if method not in METHODS:
        raise NcsnError(f"unknown sampler method {method!r}; choose from {', '.join(METHODS)} (samplers.methods).")
    if not METHODS[method].trained_levels_only and arch != "unet":
        raise NcsnError(
            f"sampler {method!r} evaluates the network between its trained noise levels, which the "
            f"level-indexed {arch} network cannot do (it knows only its own sigmas); run it on a "
            f"custom U-Net variant (arch: unet), whose sigma enters by value."
        )


def settings_schema(method: str) -> dict[str, Any]:
    """The JSON schema of one method's settings: its declared keywords, no others."""
    return {"type": "object", "properties": METHODS[method].settings, "additionalProperties": False}


def check_settings(method: str, settings: Any) -> dict[str, Any]:
    """`settings` if they are valid keywords of `method`, else an NcsnError naming the key."""
    errors = sorted(jsonschema.Draft202012Validator(settings_schema(method)).iter_errors(settings), key=str)
    if errors:
        problems = "; ".join(f"{'.'.join(map(str, e.absolute_path)) or 'settings'}: {e.message}" for e in errors)
        raise NcsnError(
            f"the settings {settings} of sampler method {method!r} are invalid ({problems}); its settings: "
            f"{', '.join(METHODS[method].settings) or 'none'} (samplers.methods.{method} in the config)."
        )
    return settings


def trained_levels_only() -> set[str]:
    """The methods that evaluate the network at its trained levels only (usable with any network)."""
    return {name for name, m in METHODS.items() if m.trained_levels_only}


# ---- the methods --------------------------------------------------------------------------------------

ODE_SOLVERS = {"euler": 1, "midpoint": 2, "heun2": 2, "heun3": 3, "rk4": 4}  # score evaluations per step
_STEP_LR = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "epsilon of annealed Langevin, alpha_i = epsilon sigma_i^2 / sigma_L^2 (NCSN convention)",
}


def _ald_steps(nfe: int, n_levels: int, denoise: bool) -> int:
    return max(1, (nfe - int(denoise)) // n_levels)  # at NFE = L the denoising step comes on top


def _ald(denoise: bool) -> MethodFn:
    def run(score_fn, init, sigmas, nfe, generator, step_lr=1e-5):
        levels = len(sigmas)
        if nfe < levels:
            raise NcsnError(
                f"annealed Langevin over {levels} levels needs an NFE of at least {levels}, got {nfe}; "
                f"raise the smallest samplers.nfe."
            )
        steps = _ald_steps(nfe, levels, denoise)
        x = dynamics.annealed_langevin(score_fn, init, sigmas, step_lr, steps, generator=generator, denoise=denoise)
        return dynamics.Sampled(x, levels * steps + int(denoise))

    return run


register(
    "ald",
    settings={"step_lr": _STEP_LR},
    trained_levels_only=True,
    nfe_used=lambda nfe, n_levels, **_: n_levels * _ald_steps(nfe, n_levels, False),
)(_ald(False))
register(
    "ald_denoise",
    settings={"step_lr": _STEP_LR},
    trained_levels_only=True,
    nfe_used=lambda nfe, n_levels, **_: n_levels * _ald_steps(nfe, n_levels, True) + 1,
)(_ald(True))


def _perturbed(init, sigmas, generator):
    return init + float(sigmas[0]) * torch.randn(init.shape, generator=generator, device=init.device)


@register(
    "cas",
    settings={
        "eta": {
            "type": ["number", "null"],
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 2,
            "description": "share of the way to the Tweedie estimate per step; null = 1 - gamma^2 (consistent "
            "only within (1 - gamma, 1 + gamma), gamma the smallest ratio of successive levels)",
        }
    },
)
def _cas(score_fn, init, sigmas, nfe, generator, eta=None):
    if nfe < 2:
        raise NcsnError(f"consistent annealed sampling needs an NFE of at least 2, got {nfe}.")
    levels = geometric_sigmas(float(sigmas[0]), float(sigmas[-1]), nfe)
    return dynamics.consistent_annealed(
        score_fn, _perturbed(init, sigmas, generator), levels, eta=eta, generator=generator
    )


@register(
    "pc",
    settings={
        "corrector_steps": {
            "type": "integer",
            "minimum": 0,
            "maximum": 100,
            "description": "Langevin corrector steps per predictor step (0 = predictor only)",
            "x-why": "each corrector step costs one score evaluation per predictor step; Song et al. use 1",
        },
        "snr": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "description": "signal-to-noise ratio that sets the corrector's step",
            "x-why": "the ratio of the corrector's drift to its noise; Song et al. use 0.16, near 1 the drift swamps "
            "the noise",
        },
    },
    nfe_used=lambda nfe, n_levels, corrector_steps=1, **_: (nfe // (1 + corrector_steps)) * (1 + corrector_steps),
)
def _pc(score_fn, init, sigmas, nfe, generator, corrector_steps=1, snr=0.16):
    predictor_steps = nfe // (1 + corrector_steps)
    if predictor_steps < 1:
        raise NcsnError(
            f"predictor-corrector with {corrector_steps} corrector step(s) needs an NFE of at least "
            f"{1 + corrector_steps}, got {nfe}."
        )
    levels = geometric_sigmas(float(sigmas[0]), float(sigmas[-1]), predictor_steps + 1)
    return dynamics.predictor_corrector(
        score_fn,
        _perturbed(init, sigmas, generator),
        levels,
        corrector_steps=corrector_steps,
        snr=snr,
        generator=generator,
    )


@register(
    "ode",
    settings={"method": {"enum": list(ODE_SOLVERS), "description": "fixed-grid solver of torchdiffeq"}},
    nfe_used=lambda nfe, n_levels, method="midpoint", **_: (nfe - 1) // ODE_SOLVERS[method] * ODE_SOLVERS[method] + 1,
)
def _ode(score_fn, init, sigmas, nfe, generator, method="midpoint"):
    per_step = ODE_SOLVERS.get(method)
    if per_step is None:
        raise NcsnError(f"samplers.methods.ode.method is {method!r}; use {', '.join(ODE_SOLVERS)}.")
    steps = (nfe - 1) // per_step
    if steps < 1:
        raise NcsnError(f"the probability-flow ODE with {method} needs an NFE of at least {per_step + 1}, got {nfe}.")
    return dynamics.probability_flow(
        score_fn, _perturbed(init, sigmas, generator), float(sigmas[0]), float(sigmas[-1]), steps, method=method
    )
