"""The agent's Prometheus metrics, with Akri's names, in a registry of its own.

akri-contract.md §2.7: Akri defines `akri_instance_count{configuration,is_shared}` (gauge),
`akri_discovery_response_result{discovery_handler_name,result}` (counter) and
`akri_discovery_response_time{configuration}` (histogram, buckets 0.25-60 s) but never exports
them (quirk #2); we export and update them, plus the process metrics. Values:
- instance_count: Instances of the Configuration that currently list this node, by shared flag;
- discovery_response_result: one per Discover response (`Success`) or failed stream (`Fail`);
- discovery_response_time: seconds from a Discover call to its first response.
The counter keeps Akri's exact name: prometheus_client would expose a Counter as `<name>_total`,
so it is exported by a small collector as an untyped metric named `akri_discovery_response_result`
(Prometheus queries it the same way). Each `AgentMetrics` owns its registry, so several agents can
run in one test process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

__all__ = ["AgentMetrics", "RESPONSE_TIME_BUCKETS_SECONDS"]

logger = logging.getLogger(__name__)

RESPONSE_TIME_BUCKETS_SECONDS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 60.0)


class _ResultCounter(Collector):
    """`akri_discovery_response_result{discovery_handler_name,result}`: monotonically increasing
    counts, exposed under the exact Akri name."""

    NAME = "akri_discovery_response_result"

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def inc(self, handler: str, result: str) -> None:
        with self._lock:
            self._counts[(handler, result)] = self._counts.get((handler, result), 0) + 1

    def value(self, handler: str, result: str) -> int:
        with self._lock:
            return self._counts.get((handler, result), 0)

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.NAME, "Akri Discovery Response Result Count", "unknown")
        with self._lock:
            for (handler, result), count in sorted(self._counts.items()):
                metric.add_sample(self.NAME, {"discovery_handler_name": handler, "result": result}, count)
        yield metric


class AgentMetrics:
    """Metric objects plus the registry they live in; `serve(port)` exposes `/metrics`."""

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
        self.instance_count = Gauge("akri_instance_count", "Akri Instance Count",
                                    ["configuration", "is_shared"], registry=self.registry)
        self.response_time = Histogram("akri_discovery_response_time", "Akri Discovery Response Time",
                                       ["configuration"], buckets=RESPONSE_TIME_BUCKETS_SECONDS,
                                       registry=self.registry)
        self.response_result = _ResultCounter()
        self.registry.register(self.response_result)
        self._server: Any = None

    def set_instance_count(self, configuration: str, *, shared: bool, count: int) -> None:
        """Instances of `configuration` listing this node with the given shared flag."""
        self.instance_count.labels(configuration=configuration, is_shared=str(shared).lower()).set(count)

    def forget_configuration(self, configuration: str) -> None:
        """Drop the instance-count series of a deleted Configuration."""
        for shared in ("true", "false"):
            try:
                self.instance_count.remove(configuration, shared)
            except KeyError:
                pass

    def discovery_result(self, handler: str, result: str) -> None:
        """Count one Discover outcome (`Success` per response, `Fail` per failed stream)."""
        self.response_result.inc(handler, result)

    def discovery_response_time(self, configuration: str, seconds: float) -> None:
        """Observe the seconds from a Discover call to its first response."""
        self.response_time.labels(configuration=configuration).observe(seconds)

    def render(self) -> bytes:
        """The text exposition of every metric (what `/metrics` answers)."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve `/metrics` on addr:port from a daemon thread (prometheus_client's WSGI server).
        Raises OSError when the port is taken."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        logger.info("metrics served on %s:%d/metrics", addr, server.server_port)

    @property
    def port(self) -> int | None:
        """The bound port while serving (useful with port 0 in tests)."""
        return None if self._server is None else int(self._server.server_port)

    def stop(self) -> None:
        """Stop the HTTP server if running."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
