"""Statistical constants shared by the metrics, the figures and the verdicts (one definition each)."""

from __future__ import annotations

# The two-sided 95% quantile of the standard normal, scipy.stats.norm.ppf(0.975) to 7 digits (the value
# every interval of the study has been written with; tests/test_verdicts.py checks it against scipy).
Z_95 = 1.959964
