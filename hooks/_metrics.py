"""Prometheus metrics of the hooks server, in a registry owned by one flask app.

    akri_hooks_requests_total{hook, code}                 counter
    akri_hooks_request_duration_seconds{hook, code}       histogram (seconds)

`hook` is the route's hook name (`sync_instance`, `validate_configuration`, ...), `code` the HTTP
status answered. A dedicated CollectorRegistry per app keeps tests and multiple apps independent.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["HookMetrics", "CONTENT_TYPE_LATEST"]

# Hooks answer in well under a millisecond to a few milliseconds; Metacontroller's default hook
# timeout is 10 s (metacontroller-contract.md §2.2).
DURATION_BUCKETS_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HookMetrics:
    """Request counter and latency histogram of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "akri_hooks_requests",
            "Hook requests answered, by hook and HTTP status code.",
            ("hook", "code"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "akri_hooks_request_duration_seconds",
            "Time to answer a hook request, in seconds, by hook and HTTP status code.",
            ("hook", "code"),
            buckets=DURATION_BUCKETS_SECONDS,
            registry=self.registry,
        )

    def observe(self, hook: str, code: int, seconds: float) -> None:
        """Count one answered request of `hook` with HTTP `code` that took `seconds`."""
        labels = (hook, str(code))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (content type CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)
