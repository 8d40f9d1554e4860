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

from .common import Record, record
from .fanrig import COLUMNS, FanRig, messages, subscribers, summary_table
from .netkit import Lab, Server, log, rooms_template

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
#: Deliveries per full-speed run, by quick: (Homer, the baseline).
DELIVERIES = {True: (60_000, 15_000), False: (200_000, 40_000)}


def run(quick: bool) -> list[Record]:
    n = subscribers("BENCH_TRANSPORTS_N", quick)
    homer_deliveries, sio_deliveries = DELIVERIES[quick]
    full = {
        system: messages(sio_deliveries if system == SIO else homer_deliveries, n)
        for system in SYSTEMS
    }
    template = rooms_template({SYSTEMS[system][1]: n for system in HOMER_SYSTEMS})

    with Lab() as lab:
        homer = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"}, tcp=True)
        sio = lab.socketio(template)
        assert homer.tcp_port is not None
        servers: dict[str, Server] = {s: sio if s == SIO else homer for s in SYSTEMS}
        rig = FanRig(lab, SCENARIO, n, quick)
        log(f"transports: servers up, opening {n} subscribers per system")
        for system, (kind, room) in SYSTEMS.items():
            # The baseline's tokens: any N users' (it checks the signature, not the user).
            tokens = (
                template.sio[SYSTEMS[HOMER_SYSTEMS[0]][1]]
                if kind == "sio"
                else template.homer[room]
            )
            rig.open(
                system,
                servers[system],
                kind,
                room,
                tokens,
                port=homer.tcp_port if kind in TCP_KINDS else None,
                join=kind == "sio",
                rooms=[room] if kind in STREAM_KINDS else None,
            )
        rig.connect([SIO], sio, "sio", template.sio["owner"], joins=[[SYSTEMS[SIO][1]]])
        rig.connect(HOMER_SYSTEMS, homer, "homer", template.homer["owner"])
        for server in (homer, sio):
            server.settle(max_wait=30.0)
        log("transports: settled")
        rig.measure(full)

    med = rig.median
    records = rig.records(SCENARIO)
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
    columns = [*COLUMNS[:4], ("x sio/CPU s", "ratio:deliveries_per_cpu_s", ".2f"), *COLUMNS[4:]]
    return summary_table(records, SCENARIO, "transport", SYSTEMS, columns, same=SIO)
