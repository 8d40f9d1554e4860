"""Fan-out through the ASGI adapter beside the lean path: one publisher, N subscribers.

What a host pays for serving Homer's WebSocket through ``homer.asgi_app``
(docs/decisions/0012-asgi-adapter.md) instead of ``homer serve``'s own
listener, measured in the same run:

* ``homer-ws-json``: ``homer serve`` (uvloop), WebSocket ``/ws``, JSON text
  frames: the lean path, as in the ``transports`` scenario.
* ``homer-asgi-ws-json``: the same Homer as ``asgi_app(homer)`` mounted at
  ``/chat`` in a Starlette application served by uvicorn (uvloop, its default
  WebSocket implementation; ``bench/baselines/asgi_server.py``), WebSocket
  ``/chat/ws``, JSON text frames. Each delivery is an ``await send(...)``
  through Starlette and uvicorn's per-connection machinery.

Both servers run for the whole scenario, on copies of the same data directory
(SQLite, group commit; presence deferred with ``limits.presence_delay``, as in
``transports``), each with its own room of N members. The subscribers are two
lean client processes (``bench/clients/transports.py``, every delivery's
``seq`` checked), the publisher a third (``bench/clients/lean.py``) with one
WebSocket to each server; the rounds alternate which server goes first.

Per system, with N subscribers (1,000; 250 in --quick; ``BENCH_ASGI_N``
overrides both, e.g. 50 for a smoke run), the ``transports`` scenario's
metrics: ``deliveries_per_s_N`` and ``server_busy_pct_N`` (full speed, a
window of 50 unacknowledged sends), ``cpu_us_per_delivery_N`` and its inverse
``deliveries_per_cpu_s_N`` (the server process's CPU time, psutil, over the
deliveries), ``p50_ms_at_5k_per_s_N`` and ``p99_...`` (send -> receipt at an
offered 5,000 deliveries/s), ``cpu_us_per_subscriber_open``, and ``lost_N``
and ``duplicates_N`` (both must be 0).

``ratio:homer-asgi-ws-json`` rows are ASGI / lean: the median over rounds of
each round's ratio (both systems measured back to back in that round), for
CPU per delivery (lower is better), deliveries per second and per server CPU
second (higher is better), and p99 latency at 5k/s (lower is better).
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from typing import Any

from .common import Record, record, table
from .fanrig import MAX_MESSAGES, OFFERED, SIZE, WINDOW, rotated
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

SCENARIO = "asgi"
LEAN = "homer-ws-json"
ASGI = "homer-asgi-ws-json"
#: System -> its room (each server's copy has both; only its own has members online).
ROOMS = {LEAN: "a-lean", ASGI: "a-asgi"}
SYSTEMS = list(ROOMS)
KIND = "homer"
#: Deliveries per full-speed run, by quick.
DELIVERIES = {True: 60_000, False: 200_000}


def subscribers(quick: bool) -> int:
    asked = os.environ.get("BENCH_ASGI_N")
    return int(asked) if asked else (250 if quick else 1000)


def run(quick: bool) -> list[Record]:
    n = subscribers(quick)
    rounds = 3 if quick else 5
    paced_rounds = 1 if quick else 3
    paced_seconds = 1.2 if quick else 3.0
    full = max(10, min(MAX_MESSAGES, round(DELIVERIES[quick] / n)))
    template = rooms_template(dict.fromkeys(ROOMS.values(), n))
    env = {"HOMER_LIMITS_PRESENCE_DELAY": "3600"}

    with Lab() as lab:
        lean = lab.homer(template, env=env)
        asgi = lab.asgi(template, env=env)
        servers: dict[str, Server] = {LEAN: lean, ASGI: asgi}
        paths = {LEAN: "/ws", ASGI: asgi.ws_path}
        clients = [lab.client(TransportClient) for _ in range(2)]
        publisher: Client = lab.client()
        publisher_conn: dict[str, int] = {}
        open_cpu: dict[str, float] = {}
        log(f"asgi: servers up, opening {n} subscribers per system")
        for system in SYSTEMS:
            server, room = servers[system], ROOMS[system]
            tokens = template.homer[room]
            parts = [list(range(i, n, len(clients))) for i in range(len(clients))]
            server.settle(max_wait=10.0)
            cpu0 = server.cpu()
            opened = call_all(
                clients,
                "open",
                [{"tokens": [tokens[i] for i in part]} for part in parts],
                kind=KIND,
                host=server.host,
                port=server.port,
                sources=SOURCES,
                path=paths[system],
            )
            failed = sum(o["failed"] for o in opened)
            if failed:
                raise RuntimeError(f"{system}: {failed} subscribers failed: {opened}")
            server.settle(max_wait=30.0)
            open_cpu[system] = (server.cpu() - cpu0) / n * 1e6
            publisher_conn[system] = publisher.call(
                "open",
                kind=KIND,
                host=server.host,
                port=server.port,
                tokens=template.homer["owner"],
                path=paths[system],
            )["first"]
            server.settle(max_wait=30.0)
            log(f"asgi: {system}: {n} open")

        lost: dict[str, int] = defaultdict(int)
        extra: dict[str, int] = defaultdict(int)

        def fanout(system: str, count: int, rate: float | None) -> dict[str, Any]:
            room, server = ROOMS[system], servers[system]
            call_all(clients, "reset", latency=rate is not None)
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
                clients,
                "wait",
                kind=KIND,
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
                log(f"asgi: {system}: {missing} lost, {closed} closed: {waited[0]['closes']}")
            deliveries = max(1, n * count - missing)
            elapsed = max(w["last_rx"] for w in waited) - sent["t0"]
            return {
                "cpu_us": (cpu1 - cpu0) / deliveries * 1e6,
                "rate": deliveries / elapsed,
                "busy": (cpu1 - cpu0) / elapsed * 100,
                "lat": [x for w in waited for x in w["lat"]],
            }

        # Warm up both paths once (first-use costs are not what is measured).
        for system in SYSTEMS:
            fanout(system, 3, None)
            servers[system].settle()
        log("asgi: warmed up")

        samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        for r in range(rounds):
            for system in rotated(SYSTEMS, r):
                found = fanout(system, full, None)
                samples[(system, "cpu")].append(found["cpu_us"])
                samples[(system, "rate")].append(found["rate"])
                samples[(system, "busy")].append(found["busy"])
                servers[system].settle(max_wait=5.0)
        log("asgi: full-speed rounds done")
        rate = OFFERED / n
        for r in range(paced_rounds):
            for system in rotated(SYSTEMS, r + rounds):
                found = fanout(system, max(2, round(rate * paced_seconds)), rate)
                samples[(system, "p99")].append(percentile(found["lat"], 0.99) * 1e3)
                samples[(system, "p50")].append(percentile(found["lat"], 0.50) * 1e3)
                samples[(system, "paced_cpu")].append(found["cpu_us"])
                servers[system].settle(max_wait=5.0)
        log("asgi: paced rounds done")
        for system, server in servers.items():
            if not server.alive():
                raise RuntimeError(f"{system} died during the asgi scenario")

    med = {key: statistics.median(values) for key, values in samples.items()}

    def paired(metric: str) -> float:
        """The median over rounds of ASGI / lean, each round's pair measured back to back."""
        return statistics.median(
            a / b for a, b in zip(samples[(ASGI, metric)], samples[(LEAN, metric)], strict=True)
        )

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
    ratio = f"ratio:{ASGI}"
    cpu_ratio = paired("cpu")
    records += [
        record(
            SCENARIO,
            ratio,
            f"cpu_us_per_delivery_{n}",
            round(cpu_ratio, 2),
            f"x {LEAN} (lower is better)",
        ),
        record(
            SCENARIO,
            ratio,
            f"deliveries_per_cpu_s_{n}",
            round(1 / cpu_ratio, 2),
            f"x {LEAN} (higher is better)",
        ),
        record(
            SCENARIO,
            ratio,
            f"deliveries_per_s_{n}",
            round(paired("rate"), 2),
            f"x {LEAN} (higher is better)",
        ),
        record(
            SCENARIO,
            ratio,
            f"p99_ms_at_5k_per_s_{n}",
            round(paired("p99"), 2),
            f"x {LEAN} (lower is better)",
        ),
    ]
    return records


def summary(records: list[Record]) -> str:
    """The scenario's records as one table, a row per system."""
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
        ("p50 ms", "p50_ms_at_5k_per_s", ".2f"),
        ("p99 ms", "p99_ms_at_5k_per_s", ".2f"),
        ("open us", "cpu_us_per_subscriber_open", ""),
        ("lost", "lost", ""),
        ("dups", "duplicates", ""),
    ]
    rows = [[f"WebSocket path (N={n})"] + [title for title, _, _ in columns]]
    for system in [*SYSTEMS, f"ratio:{ASGI}"]:
        row = [system]
        for _, metric, spec in columns:
            found = value.get((system, f"{metric}_{n}"), value.get((system, metric)))
            row.append("-" if found is None else format(found, spec))
        rows.append(row)
    return table(rows)
