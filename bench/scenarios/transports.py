"""Fan-out over each transport: one publisher, N subscribers in one room, 100-byte texts.

The same fan-out as the ``fanout`` scenario, delivered over every transport
Homer has, against the python-socketio baseline measured in the same run:

* ``homer-ws-json``: WebSocket ``/ws``, JSON text frames (no subprotocol);
* ``homer-ws-msgpack``: WebSocket with ``Sec-WebSocket-Protocol: homer.msgpack``;
* ``homer-tcp-lines-json``: raw TCP (``--tcp-port``), ``homer/1 json lines``;
* ``homer-tcp-length-msgpack``: raw TCP, ``homer/1 msgpack length``;
* ``homer-sse``: Server-Sent Events, ``GET /api/events?rooms=ROOM``;
* ``homer-longpoll``: long-poll queues, each poller looping
  ``GET /api/queues/{id}/events?after=<last id>`` on a keep-alive connection;
* ``python-socketio``: the baseline (``bench/baselines/socketio_server.py``,
  AsyncServer on aiohttp and uvloop), Socket.IO over WebSocket.

One Homer process (``homer serve --tcp-port 0``, uvloop) and the baseline are
up for the whole scenario; every subscriber of every transport is connected
at once and the rounds rotate the order of the systems, so drift in machine
load hits all alike. Each Homer transport has a room of its own whose N members
are users of their own (``netkit.rooms_template``), so a message reaches that
transport's subscribers only. The subscribers are lean client processes
(``bench/clients/transports.py``: one ``asyncio.Protocol`` per connection, a
delivery found by its first bytes), two of them; the publisher is a third
process (``bench/clients/lean.py``). It publishes over Homer's WebSocket to
every Homer room (the sending path is the same whatever carries the fan-out;
only delivery differs), over Socket.IO to the baseline's room.

Per system, with N subscribers (1,000; 250 in --quick; ``BENCH_TRANSPORTS_N``
overrides both, e.g. 50 for a smoke run):

* ``deliveries_per_s_N``: a full-speed run (a window of 50 unacknowledged
  sends, a bounded count), deliveries over the time from the first send to
  the last receipt at any subscriber; ``server_busy_pct_N`` is how much of one
  core the server used meanwhile (near 100: the server set the pace).
* ``cpu_us_per_delivery_N``: the server process's CPU time (psutil, user +
  system, every thread) over that run, divided by the deliveries;
  ``deliveries_per_cpu_s_N`` is its inverse: fan-out deliveries per second of
  server CPU.
* ``p50_ms_at_5k_per_s_N``, ``p99_ms_...``: send -> receipt at an offered
  5,000 deliveries/s (5,000 / N messages a second), from the monotonic send
  time carried in each text; ``cpu_us_per_delivery_at_5k_per_s_N`` the
  server's CPU per delivery meanwhile.
* ``cpu_us_per_subscriber_open``: server CPU to open one subscriber (connect,
  authenticate, subscribe; for long-poll the registration), one sample.
* ``lost_N`` and ``duplicates_N`` over every run: each subscriber checks the
  ``seq`` of every delivery; one short of the messages sent is lost, one that
  does not move the subscriber's last seq is a duplicate (or out of order).
  Both must be 0.

Medians over rounds; ``ratio:<system>`` rows are that system / python-socketio.
Homer stores each message durably (SQLite, group commit) before it fans it
out; the baseline stores nothing. Homer's full-speed runs send more messages
than the baseline's (its CPU time must span enough of psutil's 10 ms ticks;
at most 500, below a long-poll queue's 1,000 unacknowledged events); the
figures are per delivery either way. Presence is deferred
(``limits.presence_delay``), as in ``fanout``: thousands of users coming online
at once is not the fan-out measured here.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from typing import Any

from .common import Record, record, table
from .netkit import (
    SOURCES,
    Client,
    Lab,
    Server,
    TransportClient,
    call_all,
    log,
    percentile,
    rooms_template,
)

SCENARIO = "transports"
SIO = "python-socketio"
#: System -> (client kind in ``bench/clients/transports.py``, room).
SYSTEMS = {
    "homer-ws-json": ("homer", "t-ws-json"),
    "homer-ws-msgpack": ("homer-msgpack", "t-ws-msgpack"),
    "homer-tcp-lines-json": ("tcp-lines", "t-tcp-lines"),
    "homer-tcp-length-msgpack": ("tcp-length", "t-tcp-length"),
    "homer-sse": ("sse", "t-sse"),
    "homer-longpoll": ("longpoll", "t-longpoll"),
    SIO: ("sio", "fan"),
}
HOMER_SYSTEMS = [system for system in SYSTEMS if system != SIO]
TCP_KINDS = {"tcp-lines", "tcp-length"}
STREAM_KINDS = {"sse", "longpoll"}
OFFERED = 5000.0  # deliveries per second, for the latency runs
WINDOW = 50
SIZE = 100
MAX_MESSAGES = 500
#: Deliveries per full-speed run, by quick: (Homer, the baseline).
DELIVERIES = {True: (60_000, 15_000), False: (200_000, 40_000)}


def subscribers_per_room(quick: bool) -> int:
    asked = os.environ.get("BENCH_TRANSPORTS_N")
    return int(asked) if asked else (250 if quick else 1000)


def rotated(items: list[str], by: int) -> list[str]:
    """``items`` starting at index ``by`` (modulo its length): each round another order."""
    by %= len(items)
    return items[by:] + items[:by]


def run(quick: bool) -> list[Record]:
    n = subscribers_per_room(quick)
    rounds = 3 if quick else 5
    paced_rounds = 1 if quick else 3
    paced_seconds = 1.2 if quick else 3.0
    homer_deliveries, sio_deliveries = DELIVERIES[quick]
    full = {
        system: max(
            10,
            min(MAX_MESSAGES, round((sio_deliveries if system == SIO else homer_deliveries) / n)),
        )
        for system in SYSTEMS
    }
    template = rooms_template({SYSTEMS[system][1]: n for system in HOMER_SYSTEMS})

    with Lab() as lab:
        homer = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"}, tcp=True)
        sio = lab.socketio(template)
        servers: dict[str, Server] = {s: sio if s == SIO else homer for s in SYSTEMS}
        subscribers = [lab.client(TransportClient) for _ in range(2)]
        publisher: Client = lab.client()
        publisher_conn: dict[str, int] = {}
        open_cpu: dict[str, float] = {}
        log(f"transports: servers up, opening {n} subscribers per system")
        for system, (kind, room) in SYSTEMS.items():
            server = servers[system]
            # The baseline's tokens: any N users' (it checks the signature, not the user).
            tokens = (
                template.sio[SYSTEMS[HOMER_SYSTEMS[0]][1]]
                if kind == "sio"
                else template.homer[room]
            )
            parts = [list(range(i, n, len(subscribers))) for i in range(len(subscribers))]
            port = homer.tcp_port if kind in TCP_KINDS else server.port
            assert port is not None
            server.settle(max_wait=10.0)
            cpu0 = server.cpu()
            opened = call_all(
                subscribers,
                "open",
                [
                    {
                        "tokens": [tokens[i] for i in part],
                        "joins": [[room]] * len(part) if kind == "sio" else None,
                    }
                    for part in parts
                ],
                kind=kind,
                host=server.host,
                port=port,
                sources=SOURCES,
                rooms=[room] if kind in STREAM_KINDS else None,
            )
            failed = sum(o["failed"] for o in opened)
            if failed:
                raise RuntimeError(f"{system}: {failed} subscribers failed: {opened}")
            server.settle(max_wait=30.0)
            open_cpu[system] = (server.cpu() - cpu0) / n * 1e6
            log(f"transports: {system}: {n} open")
        publisher_conn[SIO] = publisher.call(
            "open",
            kind="sio",
            host=sio.host,
            port=sio.port,
            tokens=template.sio["owner"],
            joins=[[SYSTEMS[SIO][1]]],
        )["first"]
        first = publisher.call(
            "open", kind="homer", host=homer.host, port=homer.port, tokens=template.homer["owner"]
        )["first"]
        for system in HOMER_SYSTEMS:
            publisher_conn[system] = first
        for server in (homer, sio):
            server.settle(max_wait=30.0)
        log("transports: settled")

        lost: dict[str, int] = defaultdict(int)
        extra: dict[str, int] = defaultdict(int)

        def fanout(system: str, count: int, rate: float | None) -> dict[str, Any]:
            kind, room = SYSTEMS[system]
            server = servers[system]
            call_all(subscribers, "reset", latency=rate is not None)
            cpu0 = server.cpu()
            sent = publisher.call(
                "publish",
                room=room,
                count=count,
                window=WINDOW,
                rate=rate,
                size=SIZE,
                conn=publisher_conn[system],
            )
            waited = call_all(
                subscribers,
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
            lost[system] += missing
            extra[system] += sum(w["extra"] for w in waited)
            closed = sum(w["closed"] for w in waited)
            if missing or closed:
                log(f"transports: {system}: {missing} lost, {closed} closed: {waited[0]['closes']}")
            deliveries = max(1, n * count - missing)
            elapsed = max(w["last_rx"] for w in waited) - sent["t0"]
            return {
                "cpu_us": (cpu1 - cpu0) / deliveries * 1e6,
                "rate": deliveries / elapsed,
                "busy": (cpu1 - cpu0) / elapsed * 100,
                "lat": [x for w in waited for x in w["lat"]],
            }

        # Warm up every path once (first-use costs are not what is measured).
        for system in SYSTEMS:
            fanout(system, 3, None)
            servers[system].settle()
        log("transports: warmed up")

        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in range(rounds):
            for system in rotated(list(SYSTEMS), r):
                found = fanout(system, full[system], None)
                samples[(system, "cpu")].append(found["cpu_us"])
                samples[(system, "rate")].append(found["rate"])
                samples[(system, "busy")].append(found["busy"])
                servers[system].settle(max_wait=5.0)
        log("transports: full-speed rounds done")
        rate = OFFERED / n
        for r in range(paced_rounds):
            for system in rotated(list(SYSTEMS), r + rounds):
                found = fanout(system, max(2, round(rate * paced_seconds)), rate)
                samples[(system, "p99")].append(percentile(found["lat"], 0.99) * 1e3)
                samples[(system, "p50")].append(percentile(found["lat"], 0.50) * 1e3)
                samples[(system, "paced_cpu")].append(found["cpu_us"])
                servers[system].settle(max_wait=5.0)
        log("transports: paced rounds done")
        for system, server in servers.items():
            if not server.alive():
                raise RuntimeError(f"{system} died during the transports scenario")

    med = {key: statistics.median(values) for key, values in samples.items()}
    records: list[Record] = []
    for system in SYSTEMS:
        records += [
            record(
                SCENARIO,
                system,
                f"deliveries_per_s_{n}",
                round(med[(system, "rate")]),
                "deliveries/s",
            ),
            record(
                SCENARIO,
                system,
                f"deliveries_per_cpu_s_{n}",
                round(1e6 / med[(system, "cpu")]),
                "deliveries per server CPU s",
            ),
            record(
                SCENARIO, system, f"cpu_us_per_delivery_{n}", round(med[(system, "cpu")], 2), "us"
            ),
            record(
                SCENARIO,
                system,
                f"server_busy_pct_{n}",
                round(med[(system, "busy")]),
                "% of a core",
            ),
            record(
                SCENARIO, system, f"p50_ms_at_5k_per_s_{n}", round(med[(system, "p50")], 2), "ms"
            ),
            record(
                SCENARIO, system, f"p99_ms_at_5k_per_s_{n}", round(med[(system, "p99")], 2), "ms"
            ),
            record(
                SCENARIO,
                system,
                f"cpu_us_per_delivery_at_5k_per_s_{n}",
                round(med[(system, "paced_cpu")], 2),
                "us",
            ),
            record(SCENARIO, system, "cpu_us_per_subscriber_open", round(open_cpu[system]), "us"),
            record(SCENARIO, system, f"lost_{n}", lost[system], "deliveries (must be 0)"),
            record(SCENARIO, system, f"duplicates_{n}", extra[system], "deliveries (must be 0)"),
        ]
    for system in HOMER_SYSTEMS:
        ratio = f"ratio:{system}"
        records += [
            record(
                SCENARIO,
                ratio,
                f"deliveries_per_cpu_s_{n}",
                round(med[(SIO, "cpu")] / med[(system, "cpu")], 2),
                "x python-socketio (higher is better)",
            ),
            record(
                SCENARIO,
                ratio,
                f"deliveries_per_s_{n}",
                round(med[(system, "rate")] / med[(SIO, "rate")], 2),
                "x python-socketio (higher is better)",
            ),
            record(
                SCENARIO,
                ratio,
                f"p99_ms_at_5k_per_s_{n}",
                round(med[(system, "p99")] / med[(SIO, "p99")], 3),
                "x python-socketio (lower is better)",
            ),
        ]
    return records


def summary(records: list[Record]) -> str:
    """The scenario's records as one table, a row per transport."""
    mine = [r for r in records if r["scenario"] == SCENARIO]
    if not mine:
        return ""
    value = {(str(r["system"]), str(r["metric"])): r["value"] for r in mine}
    n = next(str(r["metric"])[5:] for r in mine if str(r["metric"]).startswith("lost_"))
    columns = [
        ("deliveries/s", "deliveries_per_s", ","),
        ("per CPU s", "deliveries_per_cpu_s", ","),
        ("CPU us/dlv", "cpu_us_per_delivery", ".2f"),
        ("busy %", "server_busy_pct", ""),
        ("x sio/CPU s", "ratio:deliveries_per_cpu_s", ".2f"),
        ("p50 ms", "p50_ms_at_5k_per_s", ".2f"),
        ("p99 ms", "p99_ms_at_5k_per_s", ".2f"),
        ("open us", "cpu_us_per_subscriber_open", ""),
        ("lost", "lost", ""),
        ("dups", "duplicates", ""),
    ]
    rows = [[f"transport (N={n})"] + [title for title, _, _ in columns]]
    for system in SYSTEMS:
        row = [system]
        for _, metric, spec in columns:
            who = system
            if metric.startswith("ratio:"):
                who, metric = f"ratio:{system}", metric[6:]
            found = value.get((who, f"{metric}_{n}"), value.get((who, metric)))
            if found is None and who == f"ratio:{SIO}":
                found = 1.0
            row.append("-" if found is None else format(found, spec))
        rows.append(row)
    return table(rows)
