"""Small rooms: 1,000 users in 500 rooms of two, everyone connected, every member sending.

The other end of the scale from ``fanout``: a message reaches one other
person, so what a message costs the server is its own handling (read, store,
acknowledge) and two deliveries, not a long fan-out loop to amortise over.

Three servers, each its own process, all up for the whole scenario; the
rounds rotate the order of the systems, so drift in machine load hits all
alike:

* ``homer``: ``homer serve`` (uvloop) on a data dir whose 500 rooms have
  exactly their two members (``netkit.rooms_template(..., owner_member=False)``,
  made with direct store calls); presence on its default (``limits.presence_delay``
  of 1 s), as two people chatting would have it. Each message is stored durably
  (SQLite, group commit) before it is acknowledged and delivered.
* ``python-socketio``: the baseline of ``bench/baselines/socketio_server.py``;
  each member joins its room (a Socket.IO room of two); ``send`` emits to the
  room and acknowledges. Nothing stored.
* ``mosquitto``: Mosquitto (``netkit.MosquittoServer``): a topic per room, each
  member subscribed to it at QoS 1 and publishing to it at QoS 1: the PUBACK is
  the acknowledgement, and each delivery is itself a QoS 1 PUBLISH that its
  receiver acknowledges. Nothing stored (persistence off).

Every system sends a room's message to its sender too (Homer's echo, Socket.IO's
emit to the room, an MQTT 3.1.1 subscriber's own publication): the echo is
counted and checked, not filtered, so one message is one acknowledgement and
two deliveries on all three (Homer's sender gets the echo and the ack as two
frames). The members are lean client processes (``bench/clients/mqtt.py``:
``lean.py``'s client with an MQTT connection beside its WebSocket ones), two of
them, each holding 250 whole rooms of every system; each message carries its
sender, its number and its monotonic send time (``lean.Pairs``).

Two phases per round and system:

* paced: 5,000 messages/s in all, the members taking turns (5 a second each);
  ``cpu_us_per_message_paced``: the server process's CPU time (psutil, user +
  system, every thread) from the first send to the last receipt, per message
  (its acknowledgement and both deliveries included); ``p99_ms_at_5k_per_s``
  (and p50): send -> receipt by the other member.
* burst: every room keeps at most 8 messages unacknowledged, its two members
  taking turns; ``cpu_us_per_message_burst`` as above, ``acks_per_s``: messages
  acknowledged over the time from the first send to the last acknowledgement;
  ``server_busy_pct_burst`` how much of one core the server used meanwhile
  (well under 100: the client processes, on the same 2 cores, set the pace).
  Socket.IO sends fewer messages than the others here (it is several times
  slower); the figures are per message or per second either way.

``lost`` and ``duplicates``, over every run (warm-up included), message by
message: each must reach its sender once and the other member once; a receipt
that never came is lost, one more (or one of no message sent) a duplicate.
Both must be 0.

Medians over rounds; ``ratio`` rows are Homer / python-socketio,
``ratio_mosquitto`` rows Homer / Mosquitto, with the goals in their units.
``--quick`` sends fewer messages in fewer rounds.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .common import Record, record
from .netkit import (
    Lab,
    MqttClient,
    Server,
    call_all,
    log,
    open_all,
    percentile,
    rooms_template,
    rotated,
    split,
)

SCENARIO = "small_rooms"
HOMER, SIO, MOSQ = "homer", "python-socketio", "mosquitto"
SYSTEMS = (HOMER, SIO, MOSQ)
KIND = {HOMER: "homer", SIO: "sio", MOSQ: "mqtt"}
ROOMS = [f"r{i}" for i in range(500)]
RATE = 5000.0  # messages per second in all, in the paced phase
WINDOW = 8  # unacknowledged messages per room, in the burst phase
SIZE = 100
CLIENTS = 2


def run(quick: bool) -> list[Record]:
    rounds = 2 if quick else 3
    # Messages each member sends per phase: paced, 8 is 1.6 s at 5,000/s in all.
    paced = 8 if quick else 20
    burst = {HOMER: 20, SIO: 5, MOSQ: 20} if quick else {HOMER: 60, SIO: 15, MOSQ: 60}

    template = rooms_template(dict.fromkeys(ROOMS, 2), owner_member=False)
    with Lab() as lab:
        servers: dict[str, Server] = {
            HOMER: lab.homer(template),
            SIO: lab.socketio(template),
            MOSQ: lab.mosquitto(),
        }
        clients = [lab.client(MqttClient) for _ in range(CLIENTS)]
        # Whole rooms per client process: a message's sender and receiver are in one.
        parts = split(ROOMS, CLIENTS)
        first: dict[str, list[int]] = {}
        credentials = {
            HOMER: template.homer,
            SIO: template.sio,
            MOSQ: {room: [f"{room}-0", f"{room}-1"] for room in ROOMS},  # MQTT client ids
        }
        for system, server in servers.items():
            kind = KIND[system]
            opened = open_all(
                clients,
                server,
                kind,
                [
                    {
                        "tokens": [t for room in part for t in credentials[system][room]],
                        # Homer's members are in their rooms already (hello subscribes).
                        "joins": None
                        if kind == "homer"
                        else [[room] for room in part for _ in range(2)],
                    }
                    for part in parts
                ],
                qos=1,
            )
            first[system] = [o["first"] for o in opened]
        log("small_rooms: everyone connected")
        for server in servers.values():
            server.settle(max_wait=20.0)

        lost: dict[str, int] = defaultdict(int)
        duplicates: dict[str, int] = defaultdict(int)

        def phase(system: str, count: int, rate: float | None) -> dict[str, Any]:
            jobs = [{"rooms": part, "first": first[system][i]} for i, part in enumerate(parts)]
            return pairs_phase(
                clients, servers[system], system, jobs, count, rate, len(ROOMS), lost, duplicates
            )

        samples = rounds_of(phase, servers, SYSTEMS, rounds, paced, burst, SCENARIO)
        alive = {system: server.alive() for system, server in servers.items()}

    if not all(alive.values()):
        raise RuntimeError(f"a server died during the small-rooms scenario: {alive}")
    med = {key: statistics.median(values) for key, values in samples.items()}
    records: list[Record] = []
    for system in SYSTEMS:
        homer = system == HOMER
        for metric, key, digits, unit in (
            ("cpu_us_per_message_paced", "paced", 2, "us"),
            ("cpu_us_per_message_burst", "burst", 2, "us"),
            ("acks_per_s", "acks", 0, "messages/s (target >= 25,000)" if homer else "messages/s"),
            ("server_busy_pct_burst", "busy", 0, "% of a core"),
            ("p50_ms_at_5k_per_s", "p50", 2, "ms"),
            ("p99_ms_at_5k_per_s", "p99", 2, "ms (target < 2)" if homer else "ms"),
        ):
            value = round(med[(system, key)], digits or None)
            records.append(record(SCENARIO, system, metric, value, unit))
        records += [
            record(SCENARIO, system, "lost", lost[system], "messages x members"),
            record(SCENARIO, system, "duplicates", duplicates[system], "messages x members"),
        ]
    goals = {
        (MOSQ, "burst"): " (target <= 1.0)",
        (MOSQ, "paced"): " (target <= 2.0)",
    }
    for name, other in (("ratio", SIO), ("ratio_mosquitto", MOSQ)):
        for metric, key in (
            ("cpu_us_per_message_paced", "paced"),
            ("cpu_us_per_message_burst", "burst"),
            ("acks_per_s", "acks"),
            ("p99_ms_at_5k_per_s", "p99"),
        ):
            value = med[(HOMER, key)] / med[(other, key)]
            records.append(
                record(SCENARIO, name, metric, round(value, 3), "x" + goals.get((other, key), ""))
            )
    return records


def pairs_phase(
    clients: list[Any],
    server: Server,
    system: str,
    jobs: list[dict[str, Any]],
    count: int,
    rate: float | None,
    rooms: int,
    lost: dict[str, int],
    duplicates: dict[str, int],
) -> dict[str, Any]:
    """One phase of rooms of two: every member sends ``count`` messages (at ``rate``
    in all, or in a burst of ``WINDOW`` unacknowledged per room); the server's CPU
    per message, acknowledgements a second, how busy it was, the latencies."""
    cpu0 = server.cpu()
    done = call_all(
        clients,
        "pairs",
        jobs,
        timeout=150.0,
        count=count,
        rate=rate / len(clients) if rate else None,
        window=WINDOW,
        latency=rate is not None,
        size=SIZE,
    )
    cpu1 = server.cpu()
    failed = sum(d["failed"] for d in done)
    if failed:
        raise RuntimeError(f"{system}: {failed} sends failed: {done}")
    lost[system] += sum(d["lost"] for d in done)
    duplicates[system] += sum(d["duplicates"] for d in done)
    messages = 2 * rooms * count
    acks = sum(d["acks"] for d in done)
    elapsed = max(d["t_acked"] for d in done) - min(d["t0"] for d in done)
    return {
        "cpu": (cpu1 - cpu0) / messages * 1e6,
        "acks": acks / elapsed,
        "busy": (cpu1 - cpu0) / elapsed * 100,
        "lat": [x for d in done for x in d["lat"]],
    }


def rounds_of(
    phase: Callable[[str, int, float | None], dict[str, Any]],
    servers: dict[str, Server],
    systems: tuple[str, ...],
    rounds: int,
    paced: int,
    burst: dict[str, int],
    name: str,
) -> dict[tuple[str, str], list[float]]:
    """A warm-up, then ``rounds`` rounds of a paced and a burst phase per system
    (in another order each round): the samples, by (system, figure)."""
    for system in systems:  # first-use costs are not what is measured
        phase(system, 2, None)
        servers[system].settle(max_wait=5.0)
    log(f"{name}: warmed up")
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in range(rounds):
        for system in rotated(systems, r):
            found = phase(system, paced, RATE)
            samples[(system, "paced")].append(found["cpu"])
            samples[(system, "p99")].append(percentile(found["lat"], 0.99) * 1e3)
            samples[(system, "p50")].append(percentile(found["lat"], 0.50) * 1e3)
            servers[system].settle(max_wait=5.0)
            found = phase(system, burst[system], None)
            samples[(system, "burst")].append(found["cpu"])
            samples[(system, "acks")].append(found["acks"])
            samples[(system, "busy")].append(found["busy"])
            servers[system].settle(max_wait=5.0)
        log(f"{name}: round {r} done")
    return samples
