"""Measuring the score networks: the official network for comparison, timed steps, FLOPs, the cost of a
config. `python -m ncsn bench` (ncsn.perf.bench) and `python -m ncsn cost` (ncsn.perf.cost) drive these."""
