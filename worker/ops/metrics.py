"""``cio-pipeline metrics``: the stats snapshot as Prometheus metrics (``metrics`` extra).

A custom collector reads one :func:`cio_pipeline.worker.ops.stats.snapshot` per scrape, so the
figures are exactly ``stats --json``'s; nothing is kept in this process. Counters come from the
all-time counters hash (Prometheus takes rates itself), gauges from the queues, partitions, surfaces
and workers. Metric names are documented in docs/operating.md; example alert rules are in
``config/prometheus-alerts.yml``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from cio_pipeline.worker.ops.counters import OUTCOMES, SURFACES

__all__ = ["SnapshotCollector", "serve"]


class SnapshotCollector:
    """Prometheus collector over a snapshot function (one Redis read per scrape)."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        """The metrics of one snapshot."""
        s = self.read()
        total: dict[str, int] = s["counters"]["total"]
        ops = CounterMetricFamily(
            "cio_operations", "Operations by surface and outcome", labels=["surface", "outcome"]
        )
        requests = CounterMetricFamily(
            "cio_http_requests", "HTTP requests to Customer.io", labels=["surface"]
        )
        throttled = CounterMetricFamily(
            "cio_http_429", "429 answers from Customer.io", labels=["surface"]
        )
        for surface in SURFACES:
            for outcome in OUTCOMES:
                ops.add_metric([surface, outcome], total.get(f"{surface}_{outcome}", 0))
            requests.add_metric([surface], total.get(f"{surface}_requests", 0))
            throttled.add_metric([surface], total.get(f"{surface}_429", 0))
        yield from (ops, requests, throttled)
        yield CounterMetricFamily(
            "cio_track_request_operations",
            "Operations carried by Track requests",
            value=total.get("track_request_ops", 0),
        )
        latency = HistogramMetricFamily(
            "cio_delivery_latency_seconds",
            "Produced to acknowledged by Customer.io",
            labels=["surface"],
        )
        for surface, h in s["latency"].items():
            cumulative, buckets = 0, []
            for bound, n in h["buckets"].items():
                cumulative += n
                buckets.append((bound, cumulative))
            latency.add_metric([surface], buckets, h["sum_s"])
        yield latency
        yield from self._gauges(s)
        webhooks = CounterMetricFamily(
            "cio_webhook_events", "Webhook counters by field", labels=["field"]
        )
        for field, n in s["webhooks"].items():
            webhooks.add_metric([field], n)
        yield webhooks

    def _gauges(self, s: dict[str, Any]) -> Iterator[Metric]:
        depth = GaugeMetricFamily("cio_queue_depth", "Jobs queued", labels=["queue"])
        age = GaugeMetricFamily(
            "cio_queue_oldest_age_seconds", "Age of the oldest job", labels=["queue"]
        )
        dead = GaugeMetricFamily("cio_dead_letters", "Dead letters", labels=["queue"])
        for q in s["queues"]:
            depth.add_metric([q["name"]], q["depth"])
            age.add_metric([q["name"]], q["oldest_age_s"] or 0.0)
            dead.add_metric([q["name"]], q["dead_letters"])
        rate = GaugeMetricFamily(
            "cio_requests_per_second", "Requests/s, last 60 s", labels=["surface"]
        )
        limit = GaugeMetricFamily(
            "cio_rate_limit_per_second", "Configured limit", labels=["surface"]
        )
        use = GaugeMetricFamily(
            "cio_rate_limit_use_ratio", "Requests/s over the limit", labels=["surface"]
        )
        for x in s["surfaces"]:
            rate.add_metric([x["surface"]], x["requests_per_s"])
            limit.add_metric([x["surface"]], x["limit_per_s"])
            use.add_metric([x["surface"]], x["use"])
        lease = GaugeMetricFamily(
            "cio_partition_lease", "1 per partition lease holder", labels=["partition", "worker"]
        )
        paused = GaugeMetricFamily(
            "cio_partition_paused_seconds", "Pause left", labels=["partition"]
        )
        for p in s["partitions"]:
            if p["lease_holder"]:
                lease.add_metric([str(p["partition"]), p["lease_holder"]], 1)
            paused.add_metric([str(p["partition"])], p["paused_for_s"])
        workers = GaugeMetricFamily(
            "cio_live_workers", "Workers with a live heartbeat", value=len(s["workers"])
        )
        yield from (depth, age, dead, rate, limit, use, lease, paused, workers)


def serve(
    read: Callable[[], dict[str, Any]],
    port: int,
    bind: str,
    stop: threading.Event,
    listening: Callable[[str, int], None] | None = None,
) -> None:
    """Serve ``/metrics`` on ``bind:port`` until ``stop`` is set; ``listening(host, port)`` is
    called once the socket is bound (with the real port when ``port`` is 0)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(read))
    server, thread = start_http_server(port, addr=bind, registry=registry)
    if listening is not None:
        host, bound_port = server.server_address[:2]
        listening(str(host), int(bound_port))
    try:
        stop.wait()
    finally:
        server.shutdown()
        thread.join(5)
