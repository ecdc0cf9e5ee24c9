"""udev discovery benchmark: event → device list latency and full enumeration time (`python -m benchmarks.udev`)."""
