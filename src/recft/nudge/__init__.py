"""NUDGE: a candidate that moves corpus embeddings instead of weights (the algorithm, its versions, its maker)."""
