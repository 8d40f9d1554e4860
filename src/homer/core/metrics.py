"""Prometheus metrics of one node, in a registry of its own (no global state)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge("homer_connections", "Open client connections", registry=r)
        self.requests = Counter("homer_requests_total", "Requests received", registry=r)
        self.messages_in = Counter("homer_messages_in_total", "Messages stored", registry=r)
        self.messages_out = Counter(
            "homer_messages_out_total", "Room events delivered to connections", registry=r
        )
        self.fanout_seconds = Histogram(
            "homer_fanout_seconds",
            "Time to hand one room event to every local subscriber",
            buckets=(1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5),
            registry=r,
        )
        self.store_seconds = Histogram(
            "homer_store_seconds",
            "Time to store one batch of messages (group commit)",
            buckets=(1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5, 1.0),
            registry=r,
        )
        self.errors = Counter(
            "homer_errors_total", "Error replies sent, by code", ["code"], registry=r
        )
        self.slow_consumers = Counter(
            "homer_slow_consumers_total", "Connections closed for falling behind", registry=r
        )
        self.broker_connected = Gauge(
            "homer_broker_connected", "1 while the broker carries live events, else 0", registry=r
        )
        self.broker_resyncs = Counter(
            "homer_broker_resyncs_total",
            "Times the broker came back and this node caught its sessions up from the store",
            registry=r,
        )
        self.publish_failures = Counter(
            "homer_publish_failures_total",
            "Events the broker could not take (stored messages are safe; published again"
            " when it is back)",
            registry=r,
        )
        self.gaps_filled = Counter(
            "homer_gaps_filled_total",
            "Room events read from the store because the broker had not brought them",
            registry=r,
        )

    @staticmethod
    def timer() -> float:
        return time.perf_counter()

    def delivered(self, count: int, started: float) -> None:
        self.messages_out.inc(count)
        self.fanout_seconds.observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)
