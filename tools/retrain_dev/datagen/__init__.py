"""Deterministic synthetic data, so the pipeline can be demonstrated and tested without real data."""
