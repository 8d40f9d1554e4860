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

import statistics

from .common import Record, record
from .fanrig import FanRig, messages, subscribers, summary_table
from .netkit import Lab, Server, log, rooms_template

SCENARIO = "asgi"
LEAN = "homer-ws-json"
ASGI = "homer-asgi-ws-json"
#: System -> its room (each server's copy has both; only its own has members online).
ROOMS = {LEAN: "a-lean", ASGI: "a-asgi"}
SYSTEMS = list(ROOMS)
KIND = "homer"
#: Deliveries per full-speed run, by quick.
DELIVERIES = {True: 60_000, False: 200_000}


def run(quick: bool) -> list[Record]:
    n = subscribers("BENCH_ASGI_N", quick)
    full = messages(DELIVERIES[quick], n)
    template = rooms_template(dict.fromkeys(ROOMS.values(), n))
    env = {"HOMER_LIMITS_PRESENCE_DELAY": "3600"}

    with Lab() as lab:
        lean = lab.homer(template, env=env)
        asgi = lab.asgi(template, env=env)
        servers: dict[str, Server] = {LEAN: lean, ASGI: asgi}
        paths = {LEAN: "/ws", ASGI: asgi.ws_path}
        rig = FanRig(lab, SCENARIO, n, quick)
        log(f"asgi: servers up, opening {n} subscribers per system")
        for system in SYSTEMS:
            server, room = servers[system], ROOMS[system]
            rig.open(system, server, KIND, room, template.homer[room], path=paths[system])
            rig.connect([system], server, KIND, template.homer["owner"], path=paths[system])
            server.settle(max_wait=30.0)
        rig.measure(dict.fromkeys(SYSTEMS, full))

    samples = rig.samples

    def paired(metric: str) -> float:
        """The median over rounds of ASGI / lean, each round's pair measured back to back."""
        return statistics.median(
            a / b for a, b in zip(samples[(ASGI, metric)], samples[(LEAN, metric)], strict=True)
        )

    records = rig.records(SCENARIO)
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
    return summary_table(records, SCENARIO, "WebSocket path", [*SYSTEMS, f"ratio:{ASGI}"])
