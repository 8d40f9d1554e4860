"""Server libraries on the fan-out path: the same broadcast on several WebSocket stacks.

Each stack runs a minimal broadcast server as its own process
(``bench/baselines/ws_servers.py``: aiohttp three ways, the ``websockets``
library's ``broadcast``, a bare ``asyncio.Protocol``, picows), all on uvloop;
Homer runs as ``homer serve`` with the fan-out room and tokens of the
``fanout`` scenario. The protocol of the minimal servers: open ``/ws``, send
``join``; every text frame starting with ``pub:`` goes to every joined
connection unchanged. Homer does its full job for each message: checks the
sender, stores the message durably (SQLite, group commit), wraps it in its
JSON envelope and fans that out. The clients are the lean ones
(``bench/clients/lean.py``, extended with the minimal protocol by
``bench/baselines/plain_client.py``): two subscriber processes and a
publisher process, all on 127.0.0.1.

For each stack, a fresh server:

1. opens and closes 200 joined connections (warm-up), settles, reads its RSS;
2. opens 2,000 joined connections (1,000 in ``--quick``), settles, reads its
   RSS again: ``kib_per_idle_conn`` = RSS delta / connections. Homer's are
   the 1,000 members of its fan-out room, each connected twice in a full run
   (a user's second connection shares that user's state: this favours Homer
   a little);
3. keeps 1,000 of them as the subscribers of the fan-out.

Then, in rounds that rotate the order of the stacks (every server stays up),
the publisher sends 100-byte texts as fast as the server lets it, at most 50
not yet seen back (the minimal servers: its own copies coming back, as the
publisher joined too; Homer: its acks). ``cpu_us_per_delivery_1000`` is the
server process's CPU time (psutil, user + system, all threads) over the run
divided by the deliveries; median of rounds. ``..._one_at_a_time`` is the
same with one message in flight: nothing for a server to batch (Homer writes
the messages committed together to each member in one write; the minimal
servers write each message on its own at any pace). Every delivery is
checked: none lost, none twice.

On loopback much of the cost of a write is the kernel's (the send, and part
of the receiving side's work, is charged to the sending process): one write
per member per message costs every stack about the same few microseconds.

A stack whose library is not installed is left out, with a note on stderr.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from .common import Record, record
from .netkit import (
    BENCH,
    PYTHON,
    Client,
    Lab,
    Server,
    Template,
    call_all,
    homer_template,
    log,
    open_all,
    port_after_word,
    split,
)

SCENARIO = "servers"
WS_SERVERS = BENCH / "baselines" / "ws_servers.py"
PLAIN_CLIENT = BENCH / "baselines" / "plain_client.py"
HOMER = "homer"
#: The minimal servers, in ``ws_servers.py``'s names.
MINIMAL = [
    "aiohttp-send_str",
    "aiohttp-send_frame",
    "aiohttp-transport",
    "websockets",
    "asyncio-protocol",
    "picows",
]
#: What each stack needs installed beyond Homer's own dependencies.
NEEDS = {"websockets": "websockets.asyncio.server", "picows": "picows"}
N = 1000
SIZE = 100
WINDOW = 50
WARM = 200


def missing(stack: str) -> str | None:
    """Why ``stack`` cannot run here, or None."""
    module = NEEDS.get(stack)
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        found = None
    return None if found is not None else f"{module} is not installed"


class MinimalServer(Server):
    """``ws_servers.py --stack NAME`` as its own process."""

    def __init__(self, stack: str, log: Path) -> None:
        self.system = stack
        argv = [PYTHON, str(WS_SERVERS), "--stack", stack, "--host", "127.0.0.1", "--port", "0"]
        self._launch(argv, log, "listening ", port_after_word)


class PlainClient(Client):
    """A lean client process that also speaks the minimal protocol (``plain_client.py``)."""

    SCRIPT = PLAIN_CLIENT


def run(quick: bool) -> list[Record]:
    conns = 1000 if quick else 2000
    rounds = 3 if quick else 5
    # Messages per run, by (is Homer, window). At full speed Homer's CPU per delivery
    # is a fraction of the others' (it batches), so it is sent more for its CPU time
    # to span enough of psutil's 10 ms ticks; the figure is per delivery either way.
    count = {
        (True, WINDOW): 150 if quick else 1000,
        (False, WINDOW): 20 if quick else 100,
        (True, 1): 10 if quick else 100,
        (False, 1): 10 if quick else 100,
    }

    systems: list[str] = []
    for stack in MINIMAL:
        reason = missing(stack)
        if reason:
            print(f"servers: {stack} left out: {reason}", file=sys.stderr)
        else:
            systems.append(stack)
    systems.append(HOMER)
    template = homer_template(quick)

    kib: dict[str, float] = {}
    cpu: dict[tuple[str, int], list[float]] = defaultdict(list)
    with Lab() as lab:

        def client(name: str) -> PlainClient:
            made = PlainClient(lab.root / f"{name}.log")
            lab.clients.append(made)
            return made

        subscribers = [client("subscriber-a"), client("subscriber-b")]
        publisher = client("publisher")
        servers: dict[str, Server] = {}
        homer_publisher = 0

        for system in systems:
            if system == HOMER:
                server: Server = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"})
            else:
                server = MinimalServer(system, lab.root / f"{system}.log")
                lab.servers.append(server)
            servers[system] = server
            log(f"servers: {system} up")
            open_joined(subscribers, server, system, template, f"{system}/warm", WARM)
            call_all(subscribers, "drop", label=f"{system}/warm")
            server.settle(max_wait=10.0)
            before = server.rss()
            open_joined(subscribers, server, system, template, f"{system}/sub", N)
            if conns > N:
                open_joined(subscribers, server, system, template, f"{system}/extra", conns - N)
            server.settle(quiet=0.005, max_wait=10.0)
            kib[system] = (server.rss() - before) / conns / 1024
            call_all(subscribers, "drop", label=f"{system}/extra")
            if system == HOMER:
                opened = publisher.call(
                    "open",
                    kind="homer",
                    host=server.host,
                    port=server.port,
                    tokens=template.homer["owner"],
                    label=f"{system}/pub",
                )
                homer_publisher = opened["first"]
            else:
                publisher.call(
                    "open",
                    kind="plain",
                    host=server.host,
                    port=server.port,
                    tokens=[""],
                    joins=[[system]],
                    label=f"{system}/pub",
                )
            log(f"servers: {system}: {kib[system]:.2f} KiB per connection")

        def fanout(system: str, messages: int, window: int) -> float:
            server = servers[system]
            call_all(subscribers, "reset")
            cpu0 = server.cpu()
            if system == HOMER:
                sent = publisher.call(
                    "publish",
                    room="fan1000",
                    count=messages,
                    window=window,
                    size=SIZE,
                    conn=homer_publisher,
                )
                if sent["failed"]:
                    raise RuntimeError(f"{system}: sends failed: {sent['errors']}")
            else:
                publisher.call(
                    "plain_publish",
                    label=f"{system}/pub",
                    count=messages,
                    window=window,
                    size=SIZE,
                )
            waited = call_all(
                subscribers,
                "wait",
                kind="homer" if system == HOMER else "plain",
                room="fan1000" if system == HOMER else system,
                expected=messages,
                max_seconds=60.0,
            )
            cpu1 = server.cpu()
            members = sum(w["members"] for w in waited)
            lost = sum(w["lost"] for w in waited)
            extra = sum(w["extra"] for w in waited)
            if members != N or lost or extra:
                raise RuntimeError(
                    f"{system}: {members} subscribers, {lost} deliveries lost, {extra} extra"
                )
            return (cpu1 - cpu0) / (N * messages) * 1e6

        for system in systems:  # first use of each path, and a check that joins took
            fanout(system, 3, WINDOW)
            servers[system].settle(period=0.05, max_wait=5.0)
        log("servers: warmed up")
        # No settling between runs: CPU is counted per server process, and a server
        # runs again only after every other one has had its turn.
        for r in range(rounds):
            shift = r % len(systems)
            for window in (WINDOW, 1):
                for system in systems[shift:] + systems[:shift]:
                    messages = count[(system == HOMER, window)]
                    cpu[(system, window)].append(fanout(system, messages, window))
        log("servers: rounds done")
        for system, server in servers.items():
            if not server.alive():
                raise RuntimeError(f"{system} died during the servers scenario")
            lab.stop(server)
            log(f"servers: {system} stopped")

    records: list[Record] = []
    for system in systems:
        records += [
            record(
                SCENARIO,
                system,
                f"cpu_us_per_delivery_{N}",
                round(statistics.median(cpu[(system, WINDOW)]), 2),
                "us",
            ),
            record(
                SCENARIO,
                system,
                f"cpu_us_per_delivery_{N}_one_at_a_time",
                round(statistics.median(cpu[(system, 1)]), 2),
                "us",
            ),
            record(
                SCENARIO, system, "kib_per_idle_conn", round(kib[system], 2), f"KiB ({conns} conns)"
            ),
        ]
    return records


def open_joined(
    clients: list[Client],
    server: Server,
    system: str,
    template: Template,
    label: str,
    count: int,
) -> None:
    """``count`` connections that joined the broadcast (Homer: members of ``fan1000``)."""
    if system == HOMER:
        chosen = template.homer["fan"][:count]
        args: list[dict[str, Any]] = [{"tokens": part} for part in split(chosen, len(clients))]
        kind = "homer"
    else:
        args = [
            {"tokens": [""] * len(part), "joins": [[system]] * len(part)}
            for part in split(list(range(count)), len(clients))
        ]
        kind = "plain"
    open_all(clients, server, kind, args, None, label=label, max_seconds=120.0, timeout=150.0)
