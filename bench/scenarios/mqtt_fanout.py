"""Fan-out over MQTT: one publisher, 1,000 MQTT subscribers of one topic, 100-byte
texts at QoS 0, on Homer and on Mosquitto in the same run.

What does a delivery to an MQTT subscriber cost Homer, next to a broker that
does nothing else? The systems:

* ``homer-mqtt``: Homer's MQTT listener (``homer serve --mqtt-port``, uvloop,
  presence deferred as in ``fanout``); 1,000 users, members of room ``m-mqtt``
  from the start (``netkit.rooms_template``), each connected with MQTT 3.1.1
  (clean session, its token as the password) and subscribed to
  ``rooms/m-mqtt`` at QoS 0. The publisher, the room's owner, publishes to
  ``rooms/m-mqtt`` at QoS 0: each message is checked, stored durably (SQLite,
  group commit) and delivered as an MQTT ``PUBLISH`` of its text.
* ``mosquitto``: Mosquitto (``netkit.MosquittoServer``: no persistence), 1,000
  subscribers of ``rooms/m-mqtt`` at QoS 0, the same publisher's shape.
* ``homer-ws``: for reference, the same Homer process's WebSocket (JSON)
  subscribers of a room of their own (``m-ws``), the publisher sending over
  WebSocket, as ``homer-ws`` in ``irc_fanout``.

The subscribers are lean client processes (``bench/clients/mqtt.py``: kind
``homer-mqtt`` on Homer, ``mqtt`` on Mosquitto, the same client), two of them,
every subscriber of every system connected at once; a delivery is found by its
packet type in the bytes read and never decoded, only its send time
(``@@<monotonic>@@`` in the text) looked up so that a duplicate cannot hide a
loss. The publisher is a third process. A QoS 0 send has no acknowledgement,
so the publisher subscribes to its own topic and counts a send done when its
copy comes back (both servers send a publisher its own message, as MQTT 3.1.1
says): the window of 50 unacknowledged sends is a window of copies not yet
back. The runs are ``FanRig``'s (``fanrig.py``): a warm-up, full-speed rounds
and paced rounds (5,000 deliveries/s), the systems in another order each
round.

Records, per system (N = 1,000; 200 in ``--quick``, with fewer messages and
rounds): ``cpu_us_per_delivery_N`` (the server process's CPU, psutil user +
system, over a full-speed run, per delivery), ``deliveries_per_s_N``,
``server_busy_pct_N``, the latency and paced-CPU figures, the CPU to open a
subscriber (for Homer: the login, the session, the subscription), and
``lost_N`` and ``duplicates_N`` (both must be 0). The ``ratio`` rows are
``homer-mqtt`` / ``mosquitto``; the goal for CPU per delivery at QoS 0 is at
most 1.0. ``ratio_ws`` rows are ``homer-mqtt`` / ``homer-ws``.

Figures on a shared 2-core machine: at N = 1,000, ``homer-mqtt`` 0.94 us of
CPU per delivery, ``mosquitto`` 5.70 (ratio 0.165), ``homer-ws`` 0.54; with
``--quick`` (N = 200) 0.90 against 3.60 (0.25). Paced at 5,000 deliveries a
second, where nothing is left to batch, the ratio was 1.33 (1.14 in another
run): one write per delivery on both sides, and Homer's commit per message.

Where Homer's time goes: before a connection's room messages were pipelined
(each took its place in the room's order, then the next packet was read),
every ``PUBLISH`` was awaited until durable, so each commit held one message
and each delivery was a ``write(2)`` of its own: 4.2 us per delivery, 72% of
it in ``write``, 1,000 commits for 1,000 messages. Pipelined, the messages of
one read are one commit and one write to each subscriber (10 commits for
1,000 messages sent in one write), as the WebSocket publisher's are.

Run it: ``python bench/run.py --only mqtt_fanout`` (``--quick`` for a short run;
``BENCH_MQTT_N`` sets another N, e.g. 50 for a smoke run).
"""

from __future__ import annotations

import os

from .common import Record, record
from .fanrig import COLUMNS, FanRig, messages, summary_table
from .netkit import Lab, MqttClient, log, rooms_template

SCENARIO = "mqtt_fanout"
MQTT, MOSQ, WS = "homer-mqtt", "mosquitto", "homer-ws"
SYSTEMS = (MQTT, MOSQ, WS)
#: Homer's rooms: one per Homer system, its members users of their own.
ROOMS = {MQTT: "m-mqtt", WS: "m-ws"}
#: The topic both MQTT systems' subscribers and publisher use.
TOPIC = f"rooms/{ROOMS[MQTT]}"
#: Deliveries per full-speed run, by quick: enough for the server's CPU time over a
#: run to span many of psutil's 10 ms ticks.
DELIVERIES = {True: 100_000, False: 500_000}
#: Goal: Homer's CPU per delivery over MQTT at most this many times Mosquitto's.
GOAL = 1.0


def run(quick: bool) -> list[Record]:
    asked = os.environ.get("BENCH_MQTT_N")
    n = int(asked) if asked else (200 if quick else 1000)
    full = dict.fromkeys(SYSTEMS, messages(DELIVERIES[quick], n))
    template = rooms_template(dict.fromkeys(ROOMS.values(), n))
    owner = template.homer["owner"]

    with Lab() as lab:
        homer = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"}, mqtt=True)
        assert homer.mqtt_port is not None
        mosquitto = lab.mosquitto()
        rig = FanRig(lab, SCENARIO, n, quick, client=MqttClient, publisher=MqttClient)
        log(f"{SCENARIO}: servers up, opening {n} subscribers per system")
        rig.open(
            MQTT,
            homer,
            "homer-mqtt",
            TOPIC,
            template.homer[ROOMS[MQTT]],
            port=homer.mqtt_port,
            join=True,
            dedup=True,
        )
        # Mosquitto's subscribers: anonymous, a client id each.
        ids = [f"sub-{i}" for i in range(n)]
        rig.open(MOSQ, mosquitto, "mqtt", TOPIC, ids, join=True, dedup=True)
        rig.open(WS, homer, "homer", ROOMS[WS], template.homer[ROOMS[WS]])
        rig.connect([MQTT], homer, "homer-mqtt", owner, port=homer.mqtt_port, joins=[[TOPIC]])
        rig.connect([MOSQ], mosquitto, "mqtt", ["publisher"], joins=[[TOPIC]])
        rig.connect([WS], homer, "homer", owner)
        homer.settle(max_wait=30.0)
        log(f"{SCENARIO}: settled")
        rig.measure(full)

    med = rig.median
    records = rig.records(SCENARIO)
    for name, other, goal in (("ratio", MOSQ, f" (target <= {GOAL})"), ("ratio_ws", WS, "")):
        records += [
            record(
                SCENARIO,
                name,
                f"cpu_us_per_delivery_{n}",
                round(med[(MQTT, "cpu")] / med[(other, "cpu")], 3),
                f"x {other}{goal}",
            ),
            record(
                SCENARIO,
                name,
                f"cpu_us_per_delivery_at_5k_per_s_{n}",
                round(med[(MQTT, "paced_cpu")] / med[(other, "paced_cpu")], 3),
                f"x {other}",
            ),
            record(
                SCENARIO,
                name,
                f"deliveries_per_s_{n}",
                round(med[(MQTT, "rate")] / med[(other, "rate")], 2),
                f"x {other} (higher is better)",
            ),
            record(
                SCENARIO,
                name,
                f"p99_ms_at_5k_per_s_{n}",
                round(med[(MQTT, "p99")] / med[(other, "p99")], 3),
                f"x {other} (lower is better)",
            ),
        ]
    return records


def summary(records: list[Record]) -> str:
    """The scenario's records as one table, a row per system."""
    return summary_table(records, SCENARIO, "subscribers on", SYSTEMS, COLUMNS)
