"""Statistical constants shared by the metrics, the figures and the verdicts (one definition each)."""

from __future__ import annotations

from scipy.stats import norm

# The two-sided 95% quantile of the standard normal: every "+- z sd" interval of the study uses it.
Z_95 = float(norm.ppf(0.975))
