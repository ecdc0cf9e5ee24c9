"""Device-plugin benchmarks (`python -m benchmarks.allocate`): Allocate latency and agent RSS."""
