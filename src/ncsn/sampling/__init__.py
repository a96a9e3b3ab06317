"""Sampling: the samplers over a score function, the registered methods of the samplers experiment, one
batch driver for every sample set, and the sample-set files.

| module      | holds                                                                                   |
|-------------|-----------------------------------------------------------------------------------------|
| `dynamics`  | Langevin, annealed Langevin (+ Tweedie denoising), CAS, predictor-corrector, the ODE     |
| `methods`   | the registry: each method of the samplers experiment with its settings and NFE accounting |
| `driver`    | batches, seeds and shards of a set; the network as a score function (compile, bf16)      |
| `sets`      | sample-set files: read, write with their PNG grid, merge shards                          |
| `command`   | `python -m ncsn sample` and `python -m ncsn merge-samples`                               |

The samplers of `dynamics` are re-exported here: ``ncsn.sampling.langevin`` and
``ncsn.sampling.annealed_langevin`` are the public API named in the design.
"""

from ncsn.sampling.dynamics import (
    CountingScore,
    Sampled,
    ScoreFn,
    annealed_langevin,
    cas_eta_range,
    consistent_annealed,
    initial_noise,
    langevin,
    predictor_corrector,
    probability_flow,
    to_uint8,
    tweedie_denoise,
)

__all__ = [
    "CountingScore",
    "Sampled",
    "ScoreFn",
    "annealed_langevin",
    "cas_eta_range",
    "consistent_annealed",
    "initial_noise",
    "langevin",
    "predictor_corrector",
    "probability_flow",
    "to_uint8",
    "tweedie_denoise",
]
