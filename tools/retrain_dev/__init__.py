"""Developer tooling for the retrain bundle: the demo, the local stack, benchmarks, a local S3 and
synthetic data. Not part of the production image (the Dockerfile copies include/ only)."""
