"""Small rooms over MQTT: 1,000 users in 500 rooms of two, everyone connected, every
member publishing, on Homer's MQTT listener and on Mosquitto in the same run.

``small_rooms``'s load, with MQTT clients on Homer too: a message reaches one
other person, so what it costs the server is its own handling (read, check,
store, acknowledge) and two deliveries, not a long fan-out loop. The systems,
each up for the whole scenario, the rounds rotating their order:

* ``homer-mqtt``: ``homer serve --mqtt-port`` (uvloop, presence on its default
  as two people chatting would have it) on a data dir whose rooms ``r0`` ...
  ``r499`` have exactly their two members (``netkit.rooms_template(...,
  owner_member=False)``). Each member connects with MQTT 3.1.1 (clean session,
  its token as the password), subscribes to ``rooms/<room>`` at QoS 1 and
  publishes to it at QoS 1: the PUBACK comes once the message is durably stored
  (SQLite, group commit), and each delivery is a QoS 1 ``PUBLISH`` that its
  receiver acknowledges.
* ``mosquitto``: Mosquitto (``netkit.MosquittoServer``, persistence off), the
  same topics, subscriptions and publishes at QoS 1. Nothing stored.
* ``homer-ws``: for reference, the same Homer process's WebSocket clients in
  rooms of their own (``w0`` ... ``w499``), as ``homer`` in ``small_rooms``.

Every system sends a room's message to its sender too (an MQTT subscriber's
own publication; Homer's echo over WebSocket), counted and checked: one
message is one acknowledgement and two deliveries everywhere. The members are
lean client processes (``bench/clients/mqtt.py``), two of them, each holding
250 whole rooms of every system; each message carries its sender, its number
and its monotonic send time (``lean.Pairs``).

Two phases per round and system, as in ``small_rooms``:

* paced: 5,000 messages/s in all, the members taking turns;
  ``cpu_us_per_message_paced``: the server process's CPU time (psutil, user +
  system) from the first send to the last receipt, per message (its
  acknowledgement and both deliveries included); ``p99_ms_at_5k_per_s`` (and
  p50): send -> receipt by the other member.
* burst: every room keeps at most 8 messages unacknowledged;
  ``cpu_us_per_message_burst``, ``acks_per_s`` and ``server_busy_pct_burst``.

``lost`` and ``duplicates`` over every run, message by message: both must be
0. Medians over rounds; ``ratio`` rows are ``homer-mqtt`` / ``mosquitto``
(goal for CPU per message: at most 1.0 in the burst, 2.0 paced, as
``small_rooms`` asks of Homer's WebSocket), ``ratio_ws`` rows ``homer-mqtt`` /
``homer-ws``. ``--quick`` sends fewer messages in fewer rounds.

Figures on a shared 2-core machine (full run): CPU per message in the burst,
``homer-mqtt`` 96 us, ``mosquitto`` 15.5, ``homer-ws`` 71 (ratio 6.2, and
1.35 to Homer's WebSocket); paced, 189, 24 and 178 (7.9 and 1.06): paced, a
commit holds few messages whatever the transport. Acknowledged messages a
second in the burst: 10,037, 56,649 and 13,515. Homer stores every message
durably and Mosquitto nothing: the gap is Homer's cost per message, the same
over WebSocket. Pipelining a connection's messages took the burst from 183 to
111 us, writing a publisher's own copy and its ``PUBACK`` together (a corked
write) from 111 to 96.

Where Homer's time goes over MQTT (py-spy and cProfile, 120,000 messages, when
each ``PUBLISH`` still waited for its commit before the next was read: 183 us
in the burst): the SQLite commit about 34%; the chain from ``MqttPeer._work``
to the writer 11%; ``PacketReader`` 7% (three packets decoded per message: the
``PUBLISH`` and two ``PUBACK``s); ``FramedSender._write`` 5%, a write of its
own for each ``PUBACK`` where a WebSocket sender's echo and ack leave in one
corked write; 301 Python calls per message.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from .common import Record, record, table
from .netkit import (
    Lab,
    MqttClient,
    Server,
    call_all,
    log,
    rooms_template,
    split,
)
from .small_rooms import pairs_phase, rounds_of

SCENARIO = "mqtt_small_rooms"
MQTT, MOSQ, WS = "homer-mqtt", "mosquitto", "homer-ws"
SYSTEMS = (MQTT, MOSQ, WS)
KIND = {MQTT: "homer-mqtt", MOSQ: "mqtt", WS: "homer"}
#: Homer's rooms over MQTT (and Mosquitto's topics, by the same names) and over
#: WebSocket: apart, as a WebSocket session hears every room of its user.
ROOMS = {MQTT: [f"r{i}" for i in range(500)], WS: [f"w{i}" for i in range(500)]}
ROOMS[MOSQ] = ROOMS[MQTT]
CLIENTS = 2
#: Goals for Homer over MQTT / Mosquitto, CPU per message.
GOALS = {"burst": 1.0, "paced": 2.0}


def topics(system: str, rooms: list[str]) -> list[str]:
    """What ``system``'s members name ``rooms`` by: a topic, or Homer's room id."""
    return rooms if system == WS else [f"rooms/{room}" for room in rooms]


def run(quick: bool) -> list[Record]:
    rounds = 2 if quick else 3
    # Messages each member sends per phase: paced, 8 is 1.6 s at 5,000/s in all.
    paced = 8 if quick else 20
    burst = 20 if quick else 60

    template = rooms_template(dict.fromkeys(ROOMS[MQTT] + ROOMS[WS], 2), owner_member=False)
    with Lab() as lab:
        homer = lab.homer(template, mqtt=True)
        assert homer.mqtt_port is not None
        servers: dict[str, Server] = {MQTT: homer, MOSQ: lab.mosquitto(), WS: homer}
        ports = {MQTT: homer.mqtt_port, MOSQ: servers[MOSQ].port, WS: homer.port}
        clients = [lab.client(MqttClient) for _ in range(CLIENTS)]
        first: dict[str, list[int]] = {}
        # Whole rooms per client process: a message's sender and receiver are in one.
        parts = {system: split(ROOMS[system], CLIENTS) for system in SYSTEMS}
        for system in SYSTEMS:
            if system == MOSQ:  # anonymous: a client id per member
                credentials = {room: [f"{room}-0", f"{room}-1"] for room in ROOMS[MOSQ]}
            else:
                credentials = template.homer
            opened = call_all(
                clients,
                "open",
                [
                    {
                        "tokens": [t for room in part for t in credentials[room]],
                        # Homer's WebSocket members are in their rooms already (hello).
                        "joins": None
                        if system == WS
                        else [[topic] for topic in topics(system, part) for _ in range(2)],
                    }
                    for part in parts[system]
                ],
                kind=KIND[system],
                host=servers[system].host,
                port=ports[system],
                qos=1,
            )
            failed = sum(o["failed"] for o in opened)
            if failed:
                raise RuntimeError(f"{system}: {failed} connections failed: {opened}")
            first[system] = [o["first"] for o in opened]
        log(f"{SCENARIO}: everyone connected")
        for server in servers.values():
            server.settle(max_wait=20.0)

        lost: dict[str, int] = defaultdict(int)
        duplicates: dict[str, int] = defaultdict(int)

        def phase(system: str, count: int, rate: float | None) -> dict[str, Any]:
            jobs = [
                {"rooms": topics(system, part), "first": first[system][i]}
                for i, part in enumerate(parts[system])
            ]
            rooms = len(ROOMS[system])
            return pairs_phase(
                clients, servers[system], system, jobs, count, rate, rooms, lost, duplicates
            )

        bursts = dict.fromkeys(SYSTEMS, burst)
        samples = rounds_of(phase, servers, SYSTEMS, rounds, paced, bursts, SCENARIO)
        alive = {system: server.alive() for system, server in servers.items()}

    if not all(alive.values()):
        raise RuntimeError(f"a server died during the {SCENARIO} scenario: {alive}")
    med = {key: statistics.median(values) for key, values in samples.items()}
    records: list[Record] = []
    for system in SYSTEMS:
        for metric, key, digits, unit in METRICS:
            value = round(med[(system, key)], digits or None)
            records.append(record(SCENARIO, system, metric, value, unit))
        records += [
            record(SCENARIO, system, "lost", lost[system], "messages x members (must be 0)"),
            record(
                SCENARIO, system, "duplicates", duplicates[system], "messages x members (must be 0)"
            ),
        ]
    for name, other in (("ratio", MOSQ), ("ratio_ws", WS)):
        for metric, key, _, _ in METRICS:
            if key == "busy":
                continue
            goal = f" (target <= {GOALS[key]})" if other == MOSQ and key in GOALS else ""
            value = med[(MQTT, key)] / med[(other, key)]
            records.append(record(SCENARIO, name, metric, round(value, 3), f"x {other}{goal}"))
    return records


#: (metric, sample, digits, unit) of each system's records.
METRICS = [
    ("cpu_us_per_message_paced", "paced", 2, "us"),
    ("cpu_us_per_message_burst", "burst", 2, "us"),
    ("acks_per_s", "acks", 0, "messages/s"),
    ("server_busy_pct_burst", "busy", 0, "% of a core"),
    ("p50_ms_at_5k_per_s", "p50", 2, "ms"),
    ("p99_ms_at_5k_per_s", "p99", 2, "ms"),
]


def summary(records: list[Record]) -> str:
    """The scenario's records as one table, a row per system and ratio."""
    mine = {(str(r["system"]), str(r["metric"])): r["value"] for r in records}
    if not mine:
        return ""
    titles = ["paced us/msg", "burst us/msg", "acks/s", "busy %", "p50 ms", "p99 ms"]
    rows = [["small rooms over", *titles, "lost", "dups"]]
    for system in (*SYSTEMS, "ratio", "ratio_ws"):
        row = [system]
        for metric, _, digits, _ in METRICS:
            found = mine.get((system, metric))
            spec = ".3f" if system.startswith("ratio") else (f".{digits}f" if digits else ",")
            row.append("-" if found is None else format(found, spec))
        row += [str(mine.get((system, "lost"), "-")), str(mine.get((system, "duplicates"), "-"))]
        rows.append(row)
    return table(rows)
