"""The keyword settings of each method of ncsn.samplers, declared for the config's validation.

Kept apart from ncsn.samplers (which imports torch) so that ncsn.config and `check-config` load in a
fraction of a second. Each method's settings are JSON-schema fragments; ncsn.config builds the schema of
`samplers.methods` and `toy.samplers.methods` from them, so a setting that is not declared here, or a value
out of its range, is refused before any job runs. tests/test_config_loading.py checks that these are
the methods of ncsn.samplers.METHODS and the keyword parameters of their functions.
"""

from __future__ import annotations

ODE_SOLVERS = {"euler": 1, "midpoint": 2, "heun2": 2, "heun3": 3, "rk4": 4}  # score evaluations per step
TRAINED_LEVELS_ONLY = {"ald", "ald_denoise"}  # the methods that evaluate the network at its trained levels only

_STEP_LR = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "epsilon of annealed Langevin, alpha_i = epsilon sigma_i^2 / sigma_L^2 (NCSN convention)",
}
SETTINGS: dict[str, dict[str, dict]] = {
    "ald": {"step_lr": _STEP_LR},
    "ald_denoise": {"step_lr": _STEP_LR},
    "cas": {
        "eta": {
            "type": ["number", "null"],
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 2,
            "description": "share of the way to the Tweedie estimate per step; null = 1 - gamma^2 (consistent "
            "only within (1 - gamma, 1 + gamma), gamma the smallest ratio of successive levels)",
        }
    },
    "pc": {
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
    "ode": {"method": {"enum": list(ODE_SOLVERS), "description": "fixed-grid solver of torchdiffeq"}},
}
