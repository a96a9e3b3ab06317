"""Training of the image score networks: loop (DSM + Adam), EMA, checkpoints with resume, metrics."""
