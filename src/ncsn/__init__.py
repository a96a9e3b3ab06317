"""Reproducibility study of score-based generative models (NCSN).

The library holds everything that computes; the Snakemake workflow only calls its commands
(``python -m ncsn <command>``).
"""

__version__ = "0.1.0"
