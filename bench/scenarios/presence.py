"""Presence at scale: N distinct users (5,000; 2,000 in --quick) come online in one
room within 10 s (4 s in --quick), with presence on and with it off.

Every user is a member of the room from the start (``rooms_template``), so the
hello of each subscribes it and makes it ``online``: with presence on, every
change reaches every member already connected, the users of one window of
``limits.presence_delay`` (1 s) together. "Off" is presence deferred past the
run (``HOMER_LIMITS_PRESENCE_DELAY=3600``): the same connections, no
announcement. Both servers run for the whole scenario and the rounds alternate
between them, so drift in the machine's load hits both alike.

A round opens the N connections from two client processes
(``bench/clients/presence.py``, which counts the presence frames and changes
each connection hears) in 20 slices, one every span/20 seconds, 64 handshakes
at a time per process; then it waits for the last window to close and the
server to settle. Per mode, medians over rounds:

* ``cpu_s_N_online_presence_on`` / ``_off``: the server's CPU seconds (psutil,
  user + system, all threads) from the first connection until it settled;
  the ``ratio`` row is on / off.
* ``connect_s_N_presence_on`` / ``_off``: how long the N connections took to open.
* ``presence_frames_max_per_conn_N``, ``presence_changes_per_conn_N`` and
  ``presence_mib_N`` (on): the most presence frames one connection got, the
  changes each got on average, and the bytes of presence the clients read.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .common import Record, record
from .netkit import (
    BENCH,
    SOURCES,
    Client,
    HomerServer,
    Lab,
    call_all,
    log,
    rooms_template,
    split,
)

SCENARIO = "presence"
SYSTEM = "homer"
ROOM = "crowd"
#: How each mode runs the server: "off" defers every announcement past the run.
MODES: dict[str, dict[str, str]] = {
    "on": {},
    "off": {"HOMER_LIMITS_PRESENCE_DELAY": "3600"},
}
#: The default ``limits.presence_delay``: a round waits this long for the last window.
DELAY = 1.0
SLICES = 20


class PresenceClient(Client):
    """A lean client process whose connections count the presence they hear."""

    SCRIPT = BENCH / "clients" / "presence.py"


def run(quick: bool) -> list[Record]:
    users = 2000 if quick else 5000
    span = 4.0 if quick else 10.0
    rounds = 1 if quick else 3
    template = rooms_template({ROOM: users})
    tokens = template.homer[ROOM]
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    opened: dict[str, list[float]] = {mode: [] for mode in MODES}
    heard: list[dict[str, Any]] = []
    with Lab() as lab:
        servers = {mode: lab.homer(template, env=env) for mode, env in MODES.items()}
        clients = [lab.client(PresenceClient) for _ in range(2)]
        for r in range(rounds):
            for mode in ["on", "off"] if r % 2 == 0 else ["off", "on"]:
                log(f"presence: round {r}, {mode}")
                seconds, used, counts = _online(servers[mode], clients, tokens, span)
                opened[mode].append(seconds)
                cpu[mode].append(used)
                if mode == "on":
                    heard.append(counts)
                elif counts["frames"]:
                    raise RuntimeError(f"presence off, yet {counts['frames']} frames were heard")
        alive = {mode: server.alive() for mode, server in servers.items()}
    if not all(alive.values()):
        raise RuntimeError(f"a server died during the presence scenario: {alive}")

    on, off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    records = [
        record(SCENARIO, SYSTEM, f"cpu_s_{users}_online_presence_on", round(on, 2), "s"),
        record(SCENARIO, SYSTEM, f"cpu_s_{users}_online_presence_off", round(off, 2), "s"),
    ]
    for mode in MODES:
        seconds = statistics.median(opened[mode])
        records.append(
            record(SCENARIO, SYSTEM, f"connect_s_{users}_presence_{mode}", round(seconds, 1), "s")
        )
    records += [
        record(
            SCENARIO,
            SYSTEM,
            f"presence_frames_max_per_conn_{users}",
            statistics.median(h["max_frames"] for h in heard),
            "frames",
        ),
        record(
            SCENARIO,
            SYSTEM,
            f"presence_changes_per_conn_{users}",
            round(statistics.median(h["changes"] / h["conns"] for h in heard)),
            "changes",
        ),
        record(
            SCENARIO,
            SYSTEM,
            f"presence_mib_{users}",
            round(statistics.median(h["bytes"] for h in heard) / 2**20, 1),
            "MiB",
        ),
        record(
            SCENARIO, "ratio", f"cpu_s_{users}_online_presence", round(on / off, 3), "x (on / off)"
        ),
    ]
    return records


def _online(
    server: HomerServer, clients: list[Client], tokens: list[str], span: float
) -> tuple[float, float, dict[str, Any]]:
    """Open a connection per token within ``span`` seconds; the seconds that took, the
    server's CPU seconds until it settled after the last window, and what the clients
    heard. The connections are closed afterwards and the server left to settle."""
    server.settle(max_wait=30.0)
    cpu0 = server.cpu()
    started = time.monotonic()
    for index, part in enumerate(split(tokens, SLICES)):
        wait = started + index * span / SLICES - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        answers = call_all(
            clients,
            "open",
            [{"tokens": share} for share in split(part, len(clients))],
            kind="homer",
            host=server.host,
            port=server.port,
            sources=SOURCES,
        )
        failed = sum(a["failed"] for a in answers)
        if failed:
            raise RuntimeError(f"{failed} connections failed: {answers}")
    seconds = time.monotonic() - started
    time.sleep(DELAY + 0.5)  # the last window closes (with presence on)
    server.settle(max_wait=120.0)
    used = server.cpu() - cpu0
    counts = call_all(clients, "presence_counts")
    keys = ("conns", "frames", "changes", "bytes", "closed")
    total = {key: sum(c[key] for c in counts) for key in keys}
    total["max_frames"] = max(c["max_frames"] for c in counts)
    if total["closed"]:
        raise RuntimeError(f"{total['closed']} connections were closed: {total}")
    call_all(clients, "close")
    time.sleep(DELAY + 0.5)  # their "offline" window closes before the next round
    server.settle(max_wait=60.0)
    return seconds, used, total
