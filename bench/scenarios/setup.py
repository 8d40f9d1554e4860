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

A third server, Homer again, has every connecting user in a room with a backlog of
1,000,000 messages they have not read (``backlog_template``), so that ``hello``'s
room list counts them: ``cpu_us_per_connect_1m_unread``. A fourth has the same
users in the same room with no history at all (``cpu_us_per_connect_0_unread``):
the ratio of the two says whether set-up grows with history (the target: at most
1.2 times). Being in a room that a thousand others are connected to costs a
connection something whatever the history (subscribing, the snapshot, presence
bookkeeping), which is why the ratio is not taken against the first server's
connections, in no room. Both run with presence held back, as in the fan-out
scenarios: hundreds of users coming online in one room is a fan-out cost,
measured there, not a cost of set-up.
"""

from __future__ import annotations

import statistics

from .common import Record, record
from .netkit import (
    SIZES,
    SOURCES,
    Lab,
    Server,
    Template,
    backlog_template,
    call_all,
    homer_template,
    split,
)

SCENARIO = "connect"
HOMER, SIO = "homer", "python-socketio"
#: Homer with every connecting user's backlog unread (recorded under ``homer``).
BACKLOG = "homer-1m-unread"
BACKLOG_MESSAGES = 1_000_000
#: The same room and members with no history (recorded under ``homer``).
NO_BACKLOG = "homer-0-unread"


def run(quick: bool) -> list[Record]:
    size = SIZES[quick]["connect_size"]
    rounds = SIZES[quick]["connect_rounds"]
    templates: dict[str, Template] = {
        HOMER: homer_template(quick),
        SIO: homer_template(quick),
        BACKLOG: backlog_template(BACKLOG_MESSAGES, rounds, size),
        NO_BACKLOG: backlog_template(0, rounds, size),
    }
    systems = list(templates)
    auth: dict[str, list[float]] = {system: [] for system in systems}
    join: dict[str, list[float]] = {system: [] for system in systems}
    with Lab() as lab:
        servers: dict[str, Server] = {
            HOMER: lab.homer(templates[HOMER]),
            SIO: lab.socketio(templates[SIO]),
            BACKLOG: lab.homer(templates[BACKLOG], env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"}),
            NO_BACKLOG: lab.homer(
                templates[NO_BACKLOG], env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"}
            ),
        }
        clients = [lab.client() for _ in range(2)]
        for r in range(-1, rounds):  # round -1 warms them up and is not counted
            turn = r % len(systems)  # each round in another order
            for system in systems[turn:] + systems[:turn]:
                server = servers[system]
                kind = "sio" if system == SIO else "homer"
                template = templates[system]
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
    totals = {
        system: statistics.median(x + y for x, y in zip(auth[system], join[system], strict=True))
        for system in systems
    }
    for system in (HOMER, SIO):
        a, j = statistics.median(auth[system]), statistics.median(join[system])
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
    records += [
        record(SCENARIO, HOMER, "cpu_us_per_connect_1m_unread", round(totals[BACKLOG]), "us"),
        record(SCENARIO, HOMER, "cpu_us_per_connect_0_unread", round(totals[NO_BACKLOG]), "us"),
        record(
            SCENARIO,
            "ratio",
            "cpu_us_per_connect_1m_unread",
            round(totals[BACKLOG] / totals[NO_BACKLOG], 3),
            "x the same room with no history (target <= 1.2)",
        ),
    ]
    return records
