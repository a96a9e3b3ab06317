"""Measuring the score networks: the official network for comparison, timed steps, FLOPs.
`python -m ncsn bench` (ncsn.bench) drives these."""
