"""Device simulators on pseudo-terminals: what tests and the demo plug into serial drivers."""
