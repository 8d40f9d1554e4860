"""Reaction fan-out: one member reacting to a message in a room of 1,000 members.

A reaction is an event in the room's log like a message (decision 0019): stored
(with the message it changes updated in the same transaction), then fanned out
to every member, encoded once. This scenario runs ``homer serve`` with 1,000
subscribers in one room (lean clients in two processes, as in ``fanout``) and a
publisher that sends one message, then ``react`` and ``unreact`` in turn on it
(``count`` events, a window of 50 unacknowledged). In the same rounds, the same
publisher sends plain messages to the same room: the baseline.

* ``cpu_us_per_delivery_1000``: server CPU per reaction delivered;
  ``msg_cpu_us_per_delivery_1000`` the same for messages;
  ``react_vs_msg``: the ratio (goal: about 1, a reaction costs what a message
  costs).
* ``deliveries_per_s_1000``: reaction deliveries per second at full speed.
* ``lost_1000``: reactions expected minus received: must be 0.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from .common import Record, record
from .netkit import Lab, MqttClient, call_all, homer_template, log, open_all

SCENARIO = "reactions"
ROOM = "fan1000"
N = 1000
WINDOW = 50


def run(quick: bool) -> list[Record]:
    rounds = 3 if quick else 5
    count = 60 if quick else 200
    template = homer_template(quick)
    samples: dict[str, list[float]] = defaultdict(list)
    lost = 0
    with Lab() as lab:
        homer = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"})
        subscribers = [lab.client(MqttClient) for _ in range(2)]
        publisher = lab.client(MqttClient)
        tokens = template.homer["fan"][:N]
        parts = [list(range(i, N, len(subscribers))) for i in range(len(subscribers))]
        open_all(
            subscribers,
            homer,
            "homer",
            [{"tokens": [tokens[i] for i in part], "joins": None} for part in parts],
            qos=0,
        )
        conn = publisher.call(
            "open",
            kind="homer",
            host=homer.host,
            port=homer.port,
            tokens=template.homer["owner"],
            joins=None,
            qos=0,
        )["first"]
        homer.settle(max_wait=30.0)
        log("reactions: subscribers open")

        def fan(events: int, *, react: bool) -> dict[str, float]:
            nonlocal lost
            call_all(subscribers, "reset", latency=False)
            cpu0 = homer.cpu()
            sent = publisher.call(
                "publish", room=ROOM, count=events, window=WINDOW, conn=conn, react=react
            )
            expected = events + 1 if react else events
            waited = call_all(
                subscribers,
                "wait",
                kind="homer",
                room=ROOM,
                expected=expected,
                max_seconds=60.0,
                latencies=False,
            )
            cpu1 = homer.cpu()
            if sent["failed"]:
                raise RuntimeError(f"sends failed: {sent['errors']}")
            members = sum(w["members"] for w in waited)
            if members != N:
                raise RuntimeError(f"{members} subscribers in {ROOM}, not {N}")
            missing = sum(w["lost"] for w in waited)
            lost += missing
            deliveries = N * expected - missing
            elapsed = max(w["last_rx"] for w in waited) - sent["t0"]
            return {"cpu_us": (cpu1 - cpu0) / deliveries * 1e6, "rate": deliveries / elapsed}

        fan(4, react=True)  # warm up both paths
        fan(4, react=False)
        homer.settle(max_wait=5.0)
        for r in range(rounds):
            for react in (r % 2 == 0, r % 2 == 1):
                found = fan(count, react=react)
                kind = "react" if react else "msg"
                samples[f"{kind}_cpu"].append(found["cpu_us"])
                samples[f"{kind}_rate"].append(found["rate"])
                homer.settle(max_wait=5.0)
        if not homer.alive():
            raise RuntimeError("homer died during the reactions scenario")
    med = {key: statistics.median(values) for key, values in samples.items()}
    return [
        record(SCENARIO, "homer", f"cpu_us_per_delivery_{N}", round(med["react_cpu"], 2), "us"),
        record(SCENARIO, "homer", f"msg_cpu_us_per_delivery_{N}", round(med["msg_cpu"], 2), "us"),
        record(
            SCENARIO,
            "homer",
            "react_vs_msg",
            round(med["react_cpu"] / med["msg_cpu"], 2),
            "x a message (goal ~1)",
        ),
        record(
            SCENARIO, "homer", f"deliveries_per_s_{N}", round(med["react_rate"]), "deliveries/s"
        ),
        record(SCENARIO, "homer", f"lost_{N}", lost, "deliveries (must be 0)"),
    ]
