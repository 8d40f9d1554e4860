"""Prometheus metrics of one node, in a registry of its own (no global state).

What every message touches (requests, messages in and out, the fan-out and
store timings) is counted in plain attributes and read at scrape time: the
client library's counters take a lock on every increment, which one message
paid about ten times. The rest are the library's own.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from homer.identity.security import KINDS

__all__ = ["Metrics"]


class Count:
    """A counter for one thread (the event loop's), read when scraped."""

    __slots__ = ("created", "documentation", "name", "value")

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def collect(self) -> Metric:
        return CounterMetricFamily(
            self.name, self.documentation, value=self.value, created=self.created
        )


class Timings:
    """A histogram of durations for one thread, read when scraped."""

    __slots__ = ("bounds", "counts", "created", "documentation", "name", "sum")

    def __init__(self, name: str, documentation: str, bounds: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = sorted(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one: above every bound
        self.sum = 0.0
        self.created = time.time()

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1  # a bound is "<="
        self.sum += seconds

    def collect(self) -> Metric:
        buckets: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            total += count
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], buckets, self.sum)
        family.add_sample(f"{self.name}_created", {}, self.created)
        return family


class _Plain(Collector):
    """Hands the plain counters and timings to the registry at scrape time."""

    def __init__(self, parts: Sequence[Count | Timings]) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield part.collect()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge("homer_connections", "Open client connections", registry=r)
        self.requests = Count("homer_requests", "Requests received")
        self.messages_in = Count("homer_messages_in", "Messages stored")
        self.messages_out = Count("homer_messages_out", "Room events delivered to connections")
        self.fanout_seconds = Timings(
            "homer_fanout_seconds",
            "Time to hand one room event to every local subscriber",
            (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5),
        )
        self.store_seconds = Timings(
            "homer_store_seconds",
            "Time to store one batch of messages (group commit)",
            (1e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.5, 1.0),
        )
        r.register(
            _Plain(
                [
                    self.requests,
                    self.messages_in,
                    self.messages_out,
                    self.fanout_seconds,
                    self.store_seconds,
                ]
            )
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

        self.security_events = Counter(
            "homer_security_events_total",
            "Security events by kind: failed and throttled logins, refused sign-ups,"
            " refused password work, password changes, token revocations",
            ["kind"],
            registry=r,
        )
        for kind in KINDS:  # every kind shows, at 0 until it happens
            self.security_events.labels(kind=kind)

    def security_event(self, kind: str) -> None:
        self.security_events.labels(kind=kind).inc()

    @staticmethod
    def timer() -> float:
        return time.perf_counter()

    def delivered(self, count: int, started: float) -> None:
        self.messages_out.inc(count)
        self.fanout_seconds.observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)
