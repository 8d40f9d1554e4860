"""Durable sends: acknowledged sends per second from 50 concurrent senders on SQLite.

One ``homer serve`` process (uvloop, the default SQLite store, WAL,
``synchronous=NORMAL``: an ack survives a crash of the process), 50 lean client
connections (50 users), each sending to its own room with one send
outstanding at a time: send, wait for the ack (which Homer gives only once the
message is committed, many senders' messages per transaction: group commit),
send the next. A round is a bounded count per sender; ``acks_per_s_50_senders``
is the median over rounds of all acks over the round's wall time. Each message
also goes out live to its room, whose only member is its sender.

No baseline: the python-socketio baseline stores nothing. Also reported: the
server's CPU per ack, and from ``/metrics`` the writer's batches over the
measured rounds (``homer_store_seconds``, one observation per commit): the mean
batch (messages per commit) and the mean time to store one.
"""

from __future__ import annotations

import statistics

from .common import Record, record
from .netkit import SENDERS, Lab, homer_template

SCENARIO = "persistence"


def run(quick: bool) -> list[Record]:
    rounds = 3 if quick else 5
    per_sender = 100 if quick else 400
    template = homer_template(quick)
    rates: list[float] = []
    cpu: list[float] = []
    with Lab() as lab:
        server = lab.homer(template)
        client = lab.client()
        opened = client.call(
            "open",
            kind="homer",
            host=server.host,
            port=server.port,
            tokens=template.homer["senders"][:SENDERS],
        )
        if opened["failed"]:
            raise RuntimeError(f"senders failed to connect: {opened}")
        rooms = [f"p{i}" for i in range(SENDERS)]
        client.call("sendloop", rooms=rooms, count=20)  # warm up
        before = server.metrics()
        for _ in range(rounds):
            server.settle(max_wait=5.0)
            cpu0 = server.cpu()
            result = client.call("sendloop", rooms=rooms, count=per_sender)
            cpu1 = server.cpu()
            if result["failed"]:
                raise RuntimeError(f"sends failed: {result['errors']}")
            rates.append(result["acks"] / (result["t1"] - result["t0"]))
            cpu.append((cpu1 - cpu0) / result["acks"] * 1e6)
        after = server.metrics()
        if not server.alive():
            raise RuntimeError("homer died during the persistence scenario")

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    expected = rounds * per_sender * SENDERS
    stored = grew("homer_messages_in_total")
    records = [
        record(
            SCENARIO,
            "homer",
            "acks_per_s_50_senders",
            round(statistics.median(rates)),
            "acks/s (target >= 20,000)",
        ),
        record(SCENARIO, "homer", "cpu_us_per_ack", round(statistics.median(cpu), 1), "us"),
        record(SCENARIO, "homer", "unstored_acks", int(expected - stored), "messages"),
    ]
    # The writer's batches, from /metrics: one homer_store_seconds observation each.
    batches = grew("homer_store_seconds_count")
    if batches > 0:
        records += [
            record(SCENARIO, "homer", "mean_batch", round(stored / batches, 1), "msgs/commit"),
            record(
                SCENARIO,
                "homer",
                "mean_store_ms_per_batch",
                round(grew("homer_store_seconds_sum") / batches * 1e3, 2),
                "ms",
            ),
        ]
    return records
