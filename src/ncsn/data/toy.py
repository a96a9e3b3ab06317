"""2-D toy distributions whose scores are known exactly, for the data and for every perturbed density.

The perturbed density at noise level sigma is p_sigma = p_data * N(0, sigma^2 I) (the law of
x + sigma z), the density that a noise conditional score network s(x, sigma) estimates. Every
``score(x, sigma)`` and ``log_density(x, sigma)`` takes ``sigma`` as a number or as a tensor with one
level per sample, so an instance's ``score`` is a ``score_fn(x, sigma)`` for ``ncsn.sampling``.

* ``GaussianMixture``: isotropic components N(mu_k, std^2 I); perturbing only widens each component
  to variance std^2 + sigma^2 and keeps the weights. ``POSTER_MIXTURE`` is the poster's
  1/5 N((5, 5), I) + 4/5 N((-5, -5), I).
* ``Circle``: the uniform distribution on a circle of radius r, a 1-D manifold in the plane, so the
  data itself has no density and no score (sigma must be > 0). Integrating the Gaussian kernel over
  the angle gives, with rho = |x| and z = r rho / sigma^2,
  ``p_sigma(x) = exp(-(rho^2 + r^2) / (2 sigma^2)) I0(z) / (2 pi sigma^2)`` and
  ``grad log p_sigma(x) = x (r I1(z) / (sigma^2 rho I0(z)) - 1 / sigma^2)``; I0, I1 are modified
  Bessel functions, evaluated through the scaled ``i0e`` / ``i1e`` so that nothing overflows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def _per_sample(sigma: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sigma as a column [N, 1] (or a [1, 1] scalar) on x's device and dtype."""
    sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
    if sigma.dim() == 0:
        return sigma.view(1, 1)
    if sigma.shape != (x.shape[0],):
        raise ValueError(
            f"sigma must be a number or have one entry per sample ({x.shape[0]}), got shape {tuple(sigma.shape)}"
        )
    return sigma.view(-1, 1)


def _check_points(x: torch.Tensor) -> None:
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"toy distributions live in the plane: x must have shape [N, 2], got {tuple(x.shape)}")


@dataclass(frozen=True)
class GaussianMixture:
    """sum_k weights[k] N(means[k], std^2 I) in the plane."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, float], ...]
    std: float = 1.0

    def __post_init__(self) -> None:
        if len(self.weights) != len(self.means) or not self.weights:
            raise ValueError("a mixture needs one mean per weight, and at least one component")
        if any(w <= 0 for w in self.weights) or not math.isclose(sum(self.weights), 1.0, rel_tol=1e-6):
            raise ValueError(f"mixture weights must be positive and sum to 1, got {self.weights}")
        if self.std <= 0:
            raise ValueError(f"component std must be > 0, got {self.std}")

    def _params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.tensor(self.weights, device=x.device, dtype=x.dtype)
        means = torch.tensor(self.means, device=x.device, dtype=x.dtype)
        return weights, means

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        weights = torch.tensor(self.weights, dtype=torch.float64)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        means = torch.tensor(self.means, dtype=torch.float32)[component]
        return means + self.std * torch.randn(n, 2, generator=generator)

    def _component_log_densities(
        self, x: torch.Tensor, sigma: float | torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log(w_k N(x; mu_k, v I)) per sample and component [N, K], and the variance v [N or 1, 1]."""
        _check_points(x)
        weights, means = self._params(x)
        variance = self.std**2 + _per_sample(sigma, x) ** 2
        sq_dist = (x.unsqueeze(1) - means).pow(2).sum(dim=-1)
        return weights.log() - sq_dist / (2 * variance) - torch.log(2 * math.pi * variance), variance

    def log_density(self, x: torch.Tensor, sigma: float | torch.Tensor = 0.0) -> torch.Tensor:
        """log p_sigma(x) [N]."""
        log_joint, _ = self._component_log_densities(x, sigma)
        return torch.logsumexp(log_joint, dim=1)

    def score(self, x: torch.Tensor, sigma: float | torch.Tensor = 0.0) -> torch.Tensor:
        """grad_x log p_sigma(x) = sum_k r_k(x) (mu_k - x) / (std^2 + sigma^2), r_k the responsibilities."""
        log_joint, variance = self._component_log_densities(x, sigma)
        responsibilities = torch.softmax(log_joint, dim=1)
        _, means = self._params(x)
        return (responsibilities @ means - x) / variance

    def posterior_mean(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """E[x0 | x0 + sigma z = x], from the components' own Gaussian posteriors (no score involved)."""
        log_joint, variance = self._component_log_densities(x, sigma)
        responsibilities = torch.softmax(log_joint, dim=1)
        _, means = self._params(x)
        shrink = self.std**2 / variance
        component_means = means + shrink.unsqueeze(-1) * (x.unsqueeze(1) - means)
        return (responsibilities.unsqueeze(-1) * component_means).sum(dim=1)


POSTER_MIXTURE = GaussianMixture(weights=(0.2, 0.8), means=((5.0, 5.0), (-5.0, -5.0)), std=1.0)
TRUE_WEIGHT = POSTER_MIXTURE.weights[0]  # of the (5, 5) mode


def mode_weight(samples: torch.Tensor) -> float:
    """Share of samples on the (5, 5) side of the line x + y = 0 (non-finite samples count as not)."""
    return (samples.sum(dim=1) > 0).float().mean().item()


def _positive_sigma(sigma: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    sigma = _per_sample(sigma, x)
    if bool((sigma <= 0).any()):
        raise ValueError("the uniform distribution on a circle has no density: its score exists only for sigma > 0")
    return sigma


@dataclass(frozen=True)
class Circle:
    """The uniform distribution on the circle of radius ``radius`` around the origin."""

    radius: float = 1.0

    def __post_init__(self) -> None:
        if self.radius <= 0:
            raise ValueError(f"radius must be > 0, got {self.radius}")

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        angle = 2 * math.pi * torch.rand(n, generator=generator)
        return self.radius * torch.stack([angle.cos(), angle.sin()], dim=1)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """Euclidean distance of each point to the circle [N]."""
        _check_points(x)
        return (x.norm(dim=1) - self.radius).abs()

    def log_density(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """log p_sigma(x) [N]; log I0(z) = log i0e(z) + z folds the exponentials together."""
        _check_points(x)
        sigma = _positive_sigma(sigma, x).squeeze(1)
        rho = x.norm(dim=1)
        variance = sigma**2
        z = self.radius * rho / variance
        return (
            -((rho - self.radius) ** 2) / (2 * variance)
            + torch.special.i0e(z).log()
            - torch.log(2 * math.pi * variance)
        )

    def score(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """grad_x log p_sigma(x) = x (r^2 / sigma^4 g(z) - 1 / sigma^2), g(z) = I1(z) / (z I0(z)), g(0) = 1/2."""
        _check_points(x)
        variance = _positive_sigma(sigma, x) ** 2
        z = self.radius * x.norm(dim=1, keepdim=True) / variance
        small = z < 1e-4
        z_safe = torch.where(small, torch.ones_like(z), z)
        g = torch.where(small, 0.5 - z**2 / 16, torch.special.i1e(z_safe) / (z_safe * torch.special.i0e(z_safe)))
        return x * (self.radius**2 / variance**2 * g - 1 / variance)
