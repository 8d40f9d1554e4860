"""Fan-out: one publisher, N subscribers in one room (N = 1000 and 100), 100-byte texts.

Homer (``homer serve``, uvloop), the python-socketio baseline (AsyncServer on
aiohttp, uvloop, ``bench/baselines/socketio_server.py``) and Mosquitto (a broker
of its own, ``netkit.MosquittoServer``: one topic per room, every subscriber and
the publisher at QoS 0) each run as their own process; all are up for the whole
scenario and the rounds rotate the order of the systems, so drift in machine
load hits all alike. The subscribers are lean clients (``bench/clients/mqtt.py``:
raw WebSocket, and MQTT 3.1.1 for Mosquitto) in two client processes, the
publisher a third. Mosquitto's publisher has no acknowledgement at QoS 0: it is
subscribed to the topic too and counts a send as acknowledged when its own copy
comes back, as Homer's and Socket.IO's publishers also get theirs (the
publisher's copy is not counted as a delivery on any system).

Per system and N:

* ``cpu_us_per_delivery_N``: the server process's CPU time (psutil, user +
  system, all threads) over a full-speed run, divided by the deliveries.
* ``deliveries_per_s_N``: a full-speed run (a window of 50 unacknowledged
  sends, a bounded count), deliveries over the time from the first send to
  the last receipt at any subscriber. ``server_busy_pct_N`` says how much of
  one core the server used meanwhile: under ~100 means the clients, not the
  server, set the pace on this machine.
* ``p99_ms_at_5k_per_s_N`` (and p50): send -> receipt, at an offered 5,000
  deliveries/s (5 msgs/s to 1000, 50 msgs/s to 100), from the monotonic
  send time carried in each text.
* ``cpu_us_per_delivery_at_5k_per_s_N``: server CPU per delivery during those
  paced runs (no batching to amortise over: one message per commit for Homer,
  one write per subscriber per message; the messages are 20 ms (N = 100) or
  200 ms (N = 1000) apart, and the server's CPU in between counts too).
* ``cpu_us_per_delivery_N_one_at_a_time``: as ``cpu_us_per_delivery_N`` with one
  message in flight, the next sent on its ack: one message at a time as in the
  paced runs, without the time between them (as in the ``servers`` scenario).
* ``lost_N``: deliveries expected minus received over every run (warm-up, full
  speed, paced); must be 0. ``duplicates_N``: deliveries beyond that; must be 0.

Medians over rounds; the ``ratio`` rows are Homer / python-socketio, the
``ratio_mosquitto`` rows Homer / Mosquitto (the goals are in their units).
Homer stores each message durably (SQLite, group commit) before it fans it
out; the baselines store nothing. Homer's full-speed runs send more messages
than the baselines' (its CPU time must span enough of psutil's 10 ms ticks);
the figures are per delivery either way. Homer's presence announcements are
deferred (``limits.presence_delay``) in this scenario: 1000 members coming
online at once is a round of a thousand changes to each of them (the
``presence`` scenario measures that), not the fan-out measured here, and it
must not land in a measured run.

On a 2-core machine the client processes need about as much CPU per delivery
as Homer does (mostly the kernel's receive path), so Homer's full-speed rate
is bounded by the machine rather than by the server: see ``server_busy_pct``.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from .common import Record, record
from .netkit import (
    Lab,
    MqttClient,
    Server,
    call_all,
    homer_template,
    log,
    open_all,
    percentile,
    rotated,
)

SCENARIO = "fanout"
HOMER, SIO, MOSQ = "homer", "python-socketio", "mosquitto"
SYSTEMS = (HOMER, SIO, MOSQ)
KIND = {HOMER: "homer", SIO: "sio", MOSQ: "mqtt"}
ROOMS = {1000: "fan1000", 100: "fan100"}
OFFERED = 5000.0  # deliveries per second, for the latency runs
WINDOW = 50
SIZE = 100


def run(quick: bool) -> list[Record]:
    rounds = 3 if quick else 5
    paced_rounds = 1 if quick else 3
    paced_seconds = 1.2 if quick else 3.0
    # Messages per full-speed run: Homer is given more so that its CPU time spans
    # enough clock ticks (psutil reads 10 ms ticks); the rate is per delivery anyway.
    full = {
        (HOMER, 1000): 60 if quick else 200,
        (SIO, 1000): 15 if quick else 40,
        (MOSQ, 1000): 15 if quick else 40,
        (HOMER, 100): 600 if quick else 2000,
        (SIO, 100): 150 if quick else 400,
        (MOSQ, 100): 150 if quick else 400,
    }
    # One message in flight: each fans out alone (about 10 us a delivery on any server).
    one_at_a_time = {1000: 10 if quick else 40, 100: 100 if quick else 400}

    template = homer_template(quick)
    with Lab() as lab:
        # Presence: 1000 users coming online in one room is a thousand changes to each
        # member (scenario ``presence``), not this scenario's fan-out: deferred here.
        homer = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"})
        servers: dict[str, Server] = {
            HOMER: homer,
            SIO: lab.socketio(template),
            MOSQ: lab.mosquitto(),
        }
        subscribers = [lab.client(MqttClient) for _ in range(2)]
        publisher = lab.client(MqttClient)
        publisher_conn: dict[str, int] = {}
        # MQTT has no tokens: the client ids stand in for them.
        mqtt = {"fan": [f"f{i}" for i in range(1000)], "owner": ["owner"]}
        log("fanout: servers up, opening subscribers")
        for system, server in servers.items():
            kind = KIND[system]
            credentials = {"homer": template.homer, "sio": template.sio, "mqtt": mqtt}[kind]
            tokens = credentials["fan"][:1000]
            # Homer's subscribers are members already (their hello subscribes them);
            # Socket.IO's join their rooms, Mosquitto's subscribe to their topics.
            joins = [["fan1000", "fan100"] if i < 100 else ["fan1000"] for i in range(len(tokens))]
            # Dealt round-robin, so both client processes hold members of both rooms.
            parts = [list(range(i, len(tokens), len(subscribers))) for i in range(len(subscribers))]
            open_all(
                subscribers,
                server,
                kind,
                [
                    {
                        "tokens": [tokens[i] for i in part],
                        "joins": None if kind == "homer" else [joins[i] for i in part],
                    }
                    for part in parts
                ],
                qos=0,
            )
            result = publisher.call(
                "open",
                kind=kind,
                host=server.host,
                port=server.port,
                tokens=credentials["owner"],
                joins=None if kind == "homer" else [["fan1000", "fan100"]],
                qos=0,
            )
            publisher_conn[system] = result["first"]
        log("fanout: subscribers open")
        for server in servers.values():
            server.settle(max_wait=30.0)
        log("fanout: settled")

        lost: dict[tuple[str, int], int] = defaultdict(int)
        extra: dict[tuple[str, int], int] = defaultdict(int)

        def fanout(
            system: str, n: int, count: int, rate: float | None, window: int = WINDOW
        ) -> dict[str, Any]:
            server = servers[system]
            call_all(subscribers, "reset", latency=rate is not None)
            cpu0 = server.cpu()
            sent = publisher.call(
                "publish",
                room=ROOMS[n],
                count=count,
                window=window,
                rate=rate,
                size=SIZE,
                conn=publisher_conn[system],
            )
            waited = call_all(
                subscribers,
                "wait",
                kind=KIND[system],
                room=ROOMS[n],
                expected=count,
                max_seconds=60.0,
                latencies=rate is not None,
            )
            cpu1 = server.cpu()
            members = sum(w["members"] for w in waited)
            if members != n:
                raise RuntimeError(f"{system}: {members} subscribers in {ROOMS[n]}, not {n}")
            missing = sum(w["lost"] for w in waited)
            deliveries = n * count - missing
            lost[(system, n)] += missing
            extra[(system, n)] += sum(w["extra"] for w in waited)
            if sent["failed"]:
                raise RuntimeError(f"{system}: sends failed: {sent['errors']}")
            end = max(w["last_rx"] for w in waited)
            elapsed = end - sent["t0"]
            return {
                "cpu_us": (cpu1 - cpu0) / deliveries * 1e6,
                "rate": deliveries / elapsed,
                "busy": (cpu1 - cpu0) / elapsed * 100,
                "lat": [x for w in waited for x in w["lat"]],
            }

        # Warm up both paths once (first-use costs are not what is measured).
        for system in servers:
            for n in ROOMS:
                fanout(system, n, 3, None)
                servers[system].settle()

        log("fanout: warmed up")
        samples: dict[tuple[str, str, int], list[float]] = defaultdict(list)
        for r in range(rounds):
            for n in ROOMS:
                for system in rotated(SYSTEMS, r):
                    found = fanout(system, n, full[(system, n)], None)
                    samples[(system, "cpu", n)].append(found["cpu_us"])
                    samples[(system, "rate", n)].append(found["rate"])
                    samples[(system, "busy", n)].append(found["busy"])
                    servers[system].settle(max_wait=5.0)
                    found = fanout(system, n, one_at_a_time[n], None, window=1)
                    samples[(system, "one", n)].append(found["cpu_us"])
                    servers[system].settle(max_wait=5.0)
        log("fanout: full-speed rounds done")
        for r in range(paced_rounds):
            for n in ROOMS:
                rate = OFFERED / n
                for system in rotated(SYSTEMS, r):
                    found = fanout(system, n, max(2, round(rate * paced_seconds)), rate)
                    samples[(system, "p99", n)].append(percentile(found["lat"], 0.99) * 1e3)
                    samples[(system, "p50", n)].append(percentile(found["lat"], 0.50) * 1e3)
                    samples[(system, "paced_cpu", n)].append(found["cpu_us"])
                    servers[system].settle(max_wait=5.0)
        log("fanout: paced rounds done")
        alive = {system: server.alive() for system, server in servers.items()}

    records: list[Record] = []
    for n in ROOMS:
        med = {key: statistics.median(v) for key, v in samples.items() if key[2] == n}
        for system in SYSTEMS:
            if not alive[system]:
                raise RuntimeError(f"{system} died during the fan-out scenario")
            records += [
                record(
                    SCENARIO,
                    system,
                    f"cpu_us_per_delivery_{n}",
                    round(med[(system, "cpu", n)], 2),
                    "us",
                ),
                record(
                    SCENARIO,
                    system,
                    f"cpu_us_per_delivery_{n}_one_at_a_time",
                    round(med[(system, "one", n)], 2),
                    "us",
                ),
                record(
                    SCENARIO,
                    system,
                    f"deliveries_per_s_{n}",
                    round(med[(system, "rate", n)]),
                    "deliveries/s",
                ),
                record(
                    SCENARIO,
                    system,
                    f"server_busy_pct_{n}",
                    round(med[(system, "busy", n)]),
                    "% of a core",
                ),
                record(
                    SCENARIO,
                    system,
                    f"p50_ms_at_5k_per_s_{n}",
                    round(med[(system, "p50", n)], 2),
                    "ms",
                ),
                record(
                    SCENARIO,
                    system,
                    f"p99_ms_at_5k_per_s_{n}",
                    round(med[(system, "p99", n)], 2),
                    "ms",
                ),
                record(
                    SCENARIO,
                    system,
                    f"cpu_us_per_delivery_at_5k_per_s_{n}",
                    round(med[(system, "paced_cpu", n)], 2),
                    "us",
                ),
                record(SCENARIO, system, f"lost_{n}", lost[(system, n)], "deliveries"),
                record(SCENARIO, system, f"duplicates_{n}", extra[(system, n)], "deliveries"),
            ]
        records += [
            record(
                SCENARIO,
                "ratio",
                f"cpu_us_per_delivery_{n}",
                round(med[(HOMER, "cpu", n)] / med[(SIO, "cpu", n)], 3),
                "x (target <= 0.10)",
            ),
            record(
                SCENARIO,
                "ratio",
                f"deliveries_per_s_{n}",
                round(med[(HOMER, "rate", n)] / med[(SIO, "rate", n)], 2),
                "x (target >= 8)",
            ),
            record(
                SCENARIO,
                "ratio",
                f"p99_ms_at_5k_per_s_{n}",
                round(med[(HOMER, "p99", n)] / med[(SIO, "p99", n)], 3),
                "x (target <= 0.15)",
            ),
        ]
        # Homer / Mosquitto: the goals are for the paced runs, one message at a time.
        goals = {
            "paced_cpu": {100: 1.3, 1000: 1.0}[n],
            "p99": {100: 1.5, 1000: 1.0}[n],
        }
        for metric, key in (
            (f"cpu_us_per_delivery_{n}", "cpu"),
            (f"deliveries_per_s_{n}", "rate"),
            (f"p99_ms_at_5k_per_s_{n}", "p99"),
            (f"cpu_us_per_delivery_at_5k_per_s_{n}", "paced_cpu"),
            (f"cpu_us_per_delivery_{n}_one_at_a_time", "one"),
        ):
            goal = f" (target <= {goals[key]})" if key in goals else ""
            value = med[(HOMER, key, n)] / med[(MOSQ, key, n)]
            records.append(record(SCENARIO, "ratio_mosquitto", metric, round(value, 3), f"x{goal}"))
    return records
