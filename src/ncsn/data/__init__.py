"""Data: image datasets (acquisition, verification, loading) and 2-D toy distributions."""
