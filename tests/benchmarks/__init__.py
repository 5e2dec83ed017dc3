"""Benchmarks (make bench): speeds reported as ratios against a baseline timed in the same run."""
