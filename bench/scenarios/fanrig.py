"""One fan-out runner for every scenario that measures fan-out over a transport.

The ``transports`` and ``asgi`` scenarios measure the same thing over different
paths: one publisher, N subscribers in a room per system, 100-byte texts. What
differs is which servers run and how a subscriber reaches them; how a run is
timed, checked and reported must not differ, or their figures stop being
comparable. So that procedure lives here, once:

* ``FanRig.open``: a system's N subscribers, dealt round-robin over two lean
  client processes (``bench/clients/transports.py``, or another script that
  extends it, such as ``bench/clients/irc.py``), and the server CPU that
  opening cost per subscriber;
* ``FanRig.measure``: a warm-up run per system, then full-speed rounds (a
  window of ``WINDOW`` unacknowledged sends) and paced rounds (``OFFERED``
  deliveries/s), each round in another order of the systems;
* ``FanRig.records``: each system's records (``deliveries_per_s_N``,
  ``deliveries_per_cpu_s_N``, ``cpu_us_per_delivery_N``,
  ``server_busy_pct_N``, ``p50_ms_at_5k_per_s_N``, ``p99_ms_at_5k_per_s_N``,
  ``cpu_us_per_delivery_at_5k_per_s_N``, ``cpu_us_per_subscriber_open``,
  ``lost_N``, ``duplicates_N``), medians over rounds.

A scenario starts its servers, opens its systems on a rig, connects the
publisher and adds its own ``ratio:`` rows from ``median`` or ``samples``.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from .common import Record, record, table
from .netkit import SOURCES, Client, Lab, Server, TransportClient, call_all, log, percentile

OFFERED = 5000.0  # deliveries per second, for the latency runs
WINDOW = 50
SIZE = 100
#: The most messages in one full-speed run: below a long-poll queue's 1,000
#: unacknowledged events.
MAX_MESSAGES = 500


def subscribers(variable: str, quick: bool) -> int:
    """N: the environment ``variable`` if set, else 1,000 (250 in --quick)."""
    asked = os.environ.get(variable)
    return int(asked) if asked else (250 if quick else 1000)


def messages(deliveries: int, n: int) -> int:
    """Messages for a full-speed run of about ``deliveries`` to ``n`` subscribers."""
    return max(10, min(MAX_MESSAGES, round(deliveries / n)))


def rotated(items: list[str], by: int) -> list[str]:
    """``items`` starting at index ``by`` (modulo its length): each round another order."""
    by %= len(items)
    return items[by:] + items[:by]


class System(NamedTuple):
    """Where one measured system's subscribers wait: its server, client kind and room."""

    server: Server
    kind: str
    room: str


class FanRig:
    """Two subscriber processes and a publisher in ``lab``, N subscribers per system.

    ``name`` is the scenario's, for its log lines and errors; the systems are
    measured and reported in the order they were opened. ``client``: the subscriber
    processes' kind (a :class:`TransportClient` or a subclass); ``publisher``: the
    publisher's (a :class:`Client` or a subclass).
    """

    def __init__(
        self,
        lab: Lab,
        name: str,
        n: int,
        quick: bool,
        client: type[Client] = TransportClient,
        publisher: type[Client] = Client,
    ) -> None:
        self.name = name
        self.n = n
        self.rounds = 3 if quick else 5
        self.paced_rounds = 1 if quick else 3
        self.paced_seconds = 1.2 if quick else 3.0
        self.subscribers = [lab.client(client) for _ in range(2)]
        self.publisher: Client = lab.client(publisher)
        self.systems: dict[str, System] = {}
        #: System -> the publisher's connection that sends to its room.
        self.conns: dict[str, int] = {}
        self.open_cpu: dict[str, float] = {}
        self.lost: dict[str, int] = defaultdict(int)
        self.extra: dict[str, int] = defaultdict(int)
        #: (system, "cpu" | "rate" | "busy" | "p50" | "p99" | "paced_cpu") -> one per round.
        self.samples: dict[tuple[str, str], list[float]] = defaultdict(list)

    def open(
        self,
        system: str,
        server: Server,
        kind: str,
        room: str,
        tokens: list[str],
        *,
        port: int | None = None,
        join: bool = False,
        names: list[str] | None = None,
        **options: Any,
    ) -> None:
        """Open ``system``'s N subscribers (``tokens[:N]``) to ``server`` (at ``port`` if
        given), each joining ``room`` itself if ``join``; ``names``: the account name
        of each token, dealt with it (IRC's nicks); ``options`` go to the clients'
        ``open``. Records the server CPU per subscriber opened."""
        n = self.n
        parts = [list(range(i, n, len(self.subscribers))) for i in range(len(self.subscribers))]
        server.settle(max_wait=10.0)
        cpu0 = server.cpu()
        opened = call_all(
            self.subscribers,
            "open",
            [
                {
                    "tokens": [tokens[i] for i in part],
                    "joins": [[room]] * len(part) if join else None,
                    **({"names": [names[i] for i in part]} if names is not None else {}),
                }
                for part in parts
            ],
            kind=kind,
            host=server.host,
            port=server.port if port is None else port,
            sources=SOURCES,
            **options,
        )
        failed = sum(o["failed"] for o in opened)
        if failed:
            raise RuntimeError(f"{system}: {failed} subscribers failed: {opened}")
        server.settle(max_wait=30.0)
        self.open_cpu[system] = (server.cpu() - cpu0) / n * 1e6
        self.systems[system] = System(server, kind, room)
        log(f"{self.name}: {system}: {n} open")

    def connect(
        self,
        systems: Iterable[str],
        server: Server,
        kind: str,
        tokens: list[str],
        *,
        port: int | None = None,
        **options: Any,
    ) -> None:
        """One publisher connection to ``server`` (at ``port`` if given; ``options`` to
        the client's ``open``), sending to the rooms of ``systems``."""
        opened = self.publisher.call(
            "open",
            kind=kind,
            host=server.host,
            port=server.port if port is None else port,
            tokens=tokens,
            **options,
        )
        if opened["failed"]:
            raise RuntimeError(f"{self.name}: the publisher failed to connect: {opened}")
        first = opened["first"]
        for system in systems:
            self.conns[system] = first

    def fanout(self, system: str, count: int, rate: float | None) -> dict[str, Any]:
        """Publish ``count`` texts to ``system``'s room (at ``rate`` a second, or at full
        speed) and wait for every subscriber's deliveries; lost and extra are counted."""
        server, kind, room = self.systems[system]
        n = self.n
        call_all(self.subscribers, "reset", latency=rate is not None)
        cpu0 = server.cpu()
        sent = self.publisher.call(
            "publish",
            room=room,
            count=count,
            window=WINDOW,
            rate=rate,
            size=SIZE,
            conn=self.conns[system],
        )
        waited = call_all(
            self.subscribers,
            "wait",
            kind=kind,
            room=room,
            expected=count,
            max_seconds=60.0,
            latencies=rate is not None,
        )
        cpu1 = server.cpu()
        members = sum(w["members"] for w in waited)
        if members != n:
            raise RuntimeError(f"{system}: {members} subscribers in {room}, not {n}")
        if sent["failed"]:
            raise RuntimeError(f"{system}: sends failed: {sent['errors']}")
        missing = sum(w["lost"] for w in waited)
        self.lost[system] += missing
        self.extra[system] += sum(w["extra"] for w in waited)
        closed = sum(w["closed"] for w in waited)
        if missing or closed:
            log(f"{self.name}: {system}: {missing} lost, {closed} closed: {waited[0]['closes']}")
        deliveries = max(1, n * count - missing)
        elapsed = max(w["last_rx"] for w in waited) - sent["t0"]
        return {
            "cpu_us": (cpu1 - cpu0) / deliveries * 1e6,
            "rate": deliveries / elapsed,
            "busy": (cpu1 - cpu0) / elapsed * 100,
            "lat": [x for w in waited for x in w["lat"]],
        }

    def measure(self, full: dict[str, int]) -> None:
        """Warm up, then the full-speed rounds (``full[system]`` messages each) and the
        paced rounds, filling ``samples``; every server must still be alive after."""
        systems = list(self.systems)
        # Warm up every path once (first-use costs are not what is measured).
        for system in systems:
            self.fanout(system, 3, None)
            self.systems[system].server.settle()
        log(f"{self.name}: warmed up")

        for r in range(self.rounds):
            for system in rotated(systems, r):
                found = self.fanout(system, full[system], None)
                self.samples[(system, "cpu")].append(found["cpu_us"])
                self.samples[(system, "rate")].append(found["rate"])
                self.samples[(system, "busy")].append(found["busy"])
                self.systems[system].server.settle(max_wait=5.0)
        log(f"{self.name}: full-speed rounds done")
        rate = OFFERED / self.n
        for r in range(self.paced_rounds):
            for system in rotated(systems, r + self.rounds):
                found = self.fanout(system, max(2, round(rate * self.paced_seconds)), rate)
                self.samples[(system, "p99")].append(percentile(found["lat"], 0.99) * 1e3)
                self.samples[(system, "p50")].append(percentile(found["lat"], 0.50) * 1e3)
                self.samples[(system, "paced_cpu")].append(found["cpu_us"])
                self.systems[system].server.settle(max_wait=5.0)
        log(f"{self.name}: paced rounds done")
        for system, (server, _, _) in self.systems.items():
            if not server.alive():
                raise RuntimeError(f"{system} died during the {self.name} scenario")

    @property
    def median(self) -> dict[tuple[str, str], float]:
        """The median over rounds of every sample."""
        return {key: statistics.median(values) for key, values in self.samples.items()}

    def records(self, scenario: str) -> list[Record]:
        """Every system's records, in the order the systems were opened."""
        n, med = self.n, self.median
        records: list[Record] = []
        for system in self.systems:
            records += [
                record(
                    scenario,
                    system,
                    f"deliveries_per_s_{n}",
                    round(med[(system, "rate")]),
                    "deliveries/s",
                ),
                record(
                    scenario,
                    system,
                    f"deliveries_per_cpu_s_{n}",
                    round(1e6 / med[(system, "cpu")]),
                    "deliveries per server CPU s",
                ),
                record(
                    scenario,
                    system,
                    f"cpu_us_per_delivery_{n}",
                    round(med[(system, "cpu")], 2),
                    "us",
                ),
                record(
                    scenario,
                    system,
                    f"server_busy_pct_{n}",
                    round(med[(system, "busy")]),
                    "% of a core",
                ),
                record(
                    scenario,
                    system,
                    f"p50_ms_at_5k_per_s_{n}",
                    round(med[(system, "p50")], 2),
                    "ms",
                ),
                record(
                    scenario,
                    system,
                    f"p99_ms_at_5k_per_s_{n}",
                    round(med[(system, "p99")], 2),
                    "ms",
                ),
                record(
                    scenario,
                    system,
                    f"cpu_us_per_delivery_at_5k_per_s_{n}",
                    round(med[(system, "paced_cpu")], 2),
                    "us",
                ),
                record(
                    scenario,
                    system,
                    "cpu_us_per_subscriber_open",
                    round(self.open_cpu[system]),
                    "us",
                ),
                record(scenario, system, f"lost_{n}", self.lost[system], "deliveries (must be 0)"),
                record(
                    scenario,
                    system,
                    f"duplicates_{n}",
                    self.extra[system],
                    "deliveries (must be 0)",
                ),
            ]
        return records


#: The columns of a fan-out table: (title, metric, format); a metric named
#: ``ratio:<metric>`` is read from the row's ``ratio:<system>`` records.
COLUMNS = [
    ("deliveries/s", "deliveries_per_s", ","),
    ("per CPU s", "deliveries_per_cpu_s", ","),
    ("CPU us/dlv", "cpu_us_per_delivery", ".2f"),
    ("busy %", "server_busy_pct", ""),
    ("p50 ms", "p50_ms_at_5k_per_s", ".2f"),
    ("p99 ms", "p99_ms_at_5k_per_s", ".2f"),
    ("open us", "cpu_us_per_subscriber_open", ""),
    ("lost", "lost", ""),
    ("dups", "duplicates", ""),
]


def summary_table(
    records: list[Record],
    scenario: str,
    heading: str,
    systems: Iterable[str],
    columns: list[tuple[str, str, str]] = COLUMNS,
    same: str | None = None,
) -> str:
    """A scenario's fan-out records as one table, a row per system (``heading``
    names the first column, with N); ``same``: the system the ratios compare with,
    shown as 1.00 against itself."""
    mine = [r for r in records if r["scenario"] == scenario]
    if not mine:
        return ""
    value = {(str(r["system"]), str(r["metric"])): r["value"] for r in mine}
    n = next(str(r["metric"])[5:] for r in mine if str(r["metric"]).startswith("lost_"))
    rows = [[f"{heading} (N={n})"] + [title for title, _, _ in columns]]
    for system in systems:
        row = [system]
        for _, metric, spec in columns:
            who = system
            if metric.startswith("ratio:"):
                who, metric = f"ratio:{system}", metric[6:]
            found = value.get((who, f"{metric}_{n}"), value.get((who, metric)))
            if found is None and same is not None and who == f"ratio:{same}":
                found = 1.0
            row.append("-" if found is None else format(found, spec))
        rows.append(row)
    return table(rows)
