"""Benchmarks of the hooks server (`python -m benchmarks.hooks`); not tests."""
