"""Idle connections: server memory per authenticated connection that does nothing.

Each round starts a fresh server (Homer's ``homer serve``, then the
python-socketio baseline), opens and closes a few hundred connections to warm
it up, waits for it to settle and reads its RSS; then opens N connections
(5,000; 2,000 in --quick) from lean clients spread over several loopback
source addresses (Homer: WebSocket handshake + ``hello`` with a token, each
connection its own user, in no room; Socket.IO: Engine.IO open + namespace
connect with a JWT checked by the server), waits for the server to settle again
and reads RSS once more. ``kib_per_idle_conn`` = (RSS after - RSS before) / N.

The server CPU spent opening them is reported too (``cpu_us_per_connect_no_join``):
connect, handshake and authentication, without joining a room (see the
``connect`` scenario for that).

Then, Homer alone, the same per idle connection over its other transports
(``kib_per_idle_conn_<kind>``, 2,000 each; 500 in --quick): raw TCP in JSON
lines, a Server-Sent Events stream, a long-poll queue with its poll waiting.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from .common import Record, record
from .netkit import (
    SIZES,
    SOURCES,
    Client,
    Lab,
    Server,
    Template,
    TransportClient,
    call_all,
    homer_template,
    split,
)

SCENARIO = "idle"
HOMER, SIO = "homer", "python-socketio"
WARM = 200


def run(quick: bool) -> list[Record]:
    count = SIZES[quick]["idle"]
    rounds = 1 if quick else 3
    template = homer_template(quick)
    kib: dict[str, list[float]] = {HOMER: [], SIO: []}
    cpu: dict[str, list[float]] = {HOMER: [], SIO: []}
    with Lab() as lab:
        clients = [lab.client() for _ in range(2)]
        for r in range(rounds):
            for system in [HOMER, SIO] if r % 2 == 0 else [SIO, HOMER]:
                server: Server = lab.homer(template) if system == HOMER else lab.socketio(template)
                kind = "homer" if system == HOMER else "sio"
                tokens = (template.homer if system == HOMER else template.sio)["idle"][:count]

                def open_all(chosen: list[str], server: Server = server, kind: str = kind) -> None:
                    open_idle(clients, server, chosen, kind, server.port)

                open_all(tokens[:WARM])
                call_all(clients, "close")
                server.settle(max_wait=10.0)
                before = server.rss()
                cpu0 = server.cpu()
                open_all(tokens)
                cpu1 = server.cpu()
                server.settle(quiet=0.005, max_wait=10.0)
                after = server.rss()
                if not server.alive():
                    raise RuntimeError(f"{system} died with {count} connections open")
                kib[system].append((after - before) / count / 1024)
                cpu[system].append((cpu1 - cpu0) / count * 1e6)
                call_all(clients, "close")
                lab.stop(server)

        per_kind = other_transports(lab, template, quick)

    homer_kib, sio_kib = statistics.median(kib[HOMER]), statistics.median(kib[SIO])
    homer_cpu, sio_cpu = statistics.median(cpu[HOMER]), statistics.median(cpu[SIO])
    unit = f"KiB ({count} conns)"
    return [
        record(SCENARIO, HOMER, "kib_per_idle_conn", round(homer_kib, 2), unit),
        record(SCENARIO, SIO, "kib_per_idle_conn", round(sio_kib, 2), unit),
        record(
            SCENARIO,
            "ratio",
            "kib_per_idle_conn",
            round(homer_kib / sio_kib, 3),
            "x (target <= 0.10)",
        ),
        record(SCENARIO, HOMER, "cpu_us_per_connect_no_join", round(homer_cpu), "us"),
        record(SCENARIO, SIO, "cpu_us_per_connect_no_join", round(sio_cpu), "us"),
        record(SCENARIO, "ratio", "cpu_us_per_connect_no_join", round(homer_cpu / sio_cpu, 3), "x"),
        *(
            record(SCENARIO, HOMER, f"kib_per_idle_conn_{kind}", round(value, 2), unit_of)
            for kind, (value, unit_of) in per_kind.items()
        ),
    ]


def open_idle(
    clients: Sequence[Client], server: Server, tokens: list[str], kind: str, port: int
) -> None:
    """One idle connection per token, spread over ``clients``; any failure stops the run."""
    opened = call_all(
        clients,
        "open",
        [{"tokens": part} for part in split(tokens, len(clients))],
        kind=kind,
        host=server.host,
        port=port,
        sources=SOURCES,
        max_seconds=240.0,
        timeout=300.0,
    )
    failed = sum(o["failed"] for o in opened)
    if failed:
        raise RuntimeError(f"{server.system} {kind}: {failed} connections failed: {opened}")


#: Homer's other transports, by the lean transport client's kind.
OTHER_KINDS = ("tcp-lines", "sse", "longpoll")


def other_transports(lab: Lab, template: Template, quick: bool) -> dict[str, tuple[float, str]]:
    """KiB of server memory per idle connection over each of :data:`OTHER_KINDS`."""
    count = 500 if quick else 2000
    tokens = template.homer["idle"][:count]
    clients = [lab.client(TransportClient) for _ in range(2)]
    found: dict[str, tuple[float, str]] = {}
    for kind in OTHER_KINDS:
        server = lab.homer(template, tcp=True)
        port = server.tcp_port if kind == "tcp-lines" else server.port
        assert port is not None
        server.settle(max_wait=10.0)
        before = server.rss()
        open_idle(clients, server, tokens, kind, port)
        server.settle(quiet=0.005, max_wait=10.0)
        after = server.rss()
        found[kind] = ((after - before) / count / 1024, f"KiB ({count} conns)")
        call_all(clients, "close")
        lab.stop(server)
    return found
