"""Connection set-up: server CPU per new connection (TCP connect, WebSocket handshake,
authentication, joining a room), Homer against the python-socketio baseline.

Both servers run for the whole scenario; rounds alternate between them. A round
opens C connections (1,000; 300 in --quick) from lean clients, 64 at a time per
client process: Homer: handshake + ``hello`` with a token, then ``join`` of a
room the user is not in yet; Socket.IO: Engine.IO open + namespace connect with
a JWT the server checks (PyJWT), then a ``join`` event with an ack. Each
connection is its own user and joins its own room (so no join announcement
fans out to the others: that would be a fan-out cost, measured elsewhere).
The server's CPU time (psutil, user + system) is read before and after each
phase, the connections are then closed and the server left to settle.

Homer's join is durable (a membership row and a ``join`` event in the room's
history, in SQLite); the baseline's is a set insert in memory.
"""

from __future__ import annotations

import statistics

from .common import Record, record
from .netkit import SIZES, SOURCES, Lab, Server, call_all, homer_template, split

SCENARIO = "connect"
HOMER, SIO = "homer", "python-socketio"


def run(quick: bool) -> list[Record]:
    size = SIZES[quick]["connect_size"]
    rounds = SIZES[quick]["connect_rounds"]
    template = homer_template(quick)
    auth: dict[str, list[float]] = {HOMER: [], SIO: []}
    join: dict[str, list[float]] = {HOMER: [], SIO: []}
    with Lab() as lab:
        servers: dict[str, Server] = {HOMER: lab.homer(template), SIO: lab.socketio(template)}
        clients = [lab.client() for _ in range(2)]
        for r in range(-1, rounds):  # round -1 warms both up and is not counted
            for system in [HOMER, SIO] if r % 2 == 0 else [SIO, HOMER]:
                server = servers[system]
                kind = "homer" if system == HOMER else "sio"
                row = max(r, 0)
                users = range(row * size, (row + 1) * size) if r >= 0 else range(50)
                tokens = [
                    (template.homer if kind == "homer" else template.sio)["idle"][i] for i in users
                ]
                rooms = [[f"c{row}-{i - row * size}"] for i in users] if r >= 0 else None
                server.settle(max_wait=10.0)
                cpu0 = server.cpu()
                opened = call_all(
                    clients,
                    "open",
                    [{"tokens": part} for part in split(tokens, len(clients))],
                    kind=kind,
                    host=server.host,
                    port=server.port,
                    sources=SOURCES,
                )
                cpu1 = server.cpu()
                failed = sum(o["failed"] for o in opened)
                if failed:
                    raise RuntimeError(f"{system}: {failed} connections failed: {opened}")
                if rooms is not None:
                    joined = call_all(
                        clients, "join", [{"rooms": part} for part in split(rooms, len(clients))]
                    )
                    cpu2 = server.cpu()
                    failed = sum(j["failed"] for j in joined)
                    if failed:
                        raise RuntimeError(f"{system}: {failed} joins failed: {joined}")
                    auth[system].append((cpu1 - cpu0) / size * 1e6)
                    join[system].append((cpu2 - cpu1) / size * 1e6)
                call_all(clients, "close")
        alive = {system: server.alive() for system, server in servers.items()}
    if not all(alive.values()):
        raise RuntimeError(f"a server died during the connect scenario: {alive}")

    records: list[Record] = []
    totals = {}
    for system in (HOMER, SIO):
        a, j = statistics.median(auth[system]), statistics.median(join[system])
        totals[system] = statistics.median(
            x + y for x, y in zip(auth[system], join[system], strict=True)
        )
        records += [
            record(SCENARIO, system, "cpu_us_per_connect", round(totals[system]), "us"),
            record(SCENARIO, system, "cpu_us_per_connect_auth", round(a), "us"),
            record(SCENARIO, system, "cpu_us_per_join", round(j), "us"),
        ]
    records.append(
        record(
            SCENARIO,
            "ratio",
            "cpu_us_per_connect",
            round(totals[HOMER] / totals[SIO], 3),
            "x (target <= 0.15)",
        )
    )
    return records
