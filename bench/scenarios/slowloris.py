"""Slow loris: sockets that never finish their handshake, while normal clients chat.

One Homer process (``homer serve --tcp-port 0``) with a short
``limits.handshake_timeout`` (T = 5 s; 2 s in --quick; set through
``HOMER_LIMITS_HANDSHAKE_TIMEOUT``) and the default per-address cap of 1,000
connections (``limits.max_connections_per_address``; every client here is
spread over the loopback addresses 127.0.0.2-9, so the cap is never reached).

K normal clients (50; lean WebSocket clients in one process,
``bench/clients/transports.py``) are in one room; each sends a 100-byte text
every second, on a fixed schedule whatever the acks do, and every member
receives every message. Each round measures them twice, in alternating order:

* ``quiet``: nothing else going on;
* ``under_attack``: an attacker process (``bench/clients/loris.py``) holds 500
  sockets to the HTTP/WebSocket port, each having sent an unfinished request
  head (``GET /ws HTTP/1.1`` and a few headers, then one more header line a
  second, never the blank line), and 500 to the raw TCP port that never send a
  greeting. A socket the server closes is opened again at once, so the 1,000
  hold throughout; when the phase ends the attacker stops reopening and waits
  for the server to close the rest.

Records:

* ``rtt_p50_ms_*``, ``rtt_p99_ms_*``: a send's round trip to its ack, per phase
  (target: under 100 ms); ``delivery_p99_ms_*``: send -> receipt at every member.
  ``ratio`` rows: under attack / quiet, same run.
* ``server_cpu_pct_*``: the server's CPU (psutil) over the phase, % of a core.
* ``slow_<port>_opened``: slow sockets opened over the run (reopens included);
  ``slow_<port>_closed_in_time``: closed by the server within T + slack (0.5 s
  on the HTTP port, whose timer runs per connection; 1.5 s on the TCP port,
  which the server checks once a second); ``slow_<port>_late_or_never``: those
  closed later, or never (must be 0); ``slow_<port>_early``: closed before
  T - 0.1 s (must be 0: something else cut them); ``slow_<port>_close_s_p50``
  and ``_max``: when, in seconds after connecting.
* ``lost``, ``duplicates``: the normal clients' deliveries, checked by seq.

Medians over rounds (1 in --quick, 3 otherwise). ``BENCH_SLOWLORIS_SLOW`` (per
port) and ``BENCH_SLOWLORIS_CLIENTS`` change the 500 and the 50 (at most 100).
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from typing import Any

from .common import Record, record, table
from .netkit import (
    BENCH,
    SOURCES,
    Client,
    Lab,
    TransportClient,
    homer_template,
    log,
    percentile,
)

SCENARIO = "slowloris"
HOMER = "homer"
ROOM = "fan100"  # members f0..f99 in the shared template
SIZE = 100
RATE = 1.0  # messages a second per normal client
QUIET, ATTACK = "quiet", "under_attack"
#: Seconds past the handshake timeout a slow socket may live, per port.
SLACK = {"http": 0.5, "tcp": 1.5}
HTTP_PREFIX = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
HTTP_DRIBBLE = "X-Loris: 1\r\n"


class LorisClient(Client):
    """The attacker process (``bench/clients/loris.py``)."""

    SCRIPT = BENCH / "clients" / "loris.py"


def run(quick: bool) -> list[Record]:
    slow = int(os.environ.get("BENCH_SLOWLORIS_SLOW") or 500)
    clients = min(100, int(os.environ.get("BENCH_SLOWLORIS_CLIENTS") or 50))
    timeout = 2.0 if quick else 5.0
    seconds = 4.0 if quick else 10.0
    rounds = 1 if quick else 3
    template = homer_template(quick)
    env = {
        "HOMER_LIMITS_HANDSHAKE_TIMEOUT": str(timeout),
        "HOMER_LIMITS_MAX_CONNECTIONS_PER_ADDRESS": "1000",
    }
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    lifetimes: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    lost = duplicates = 0
    with Lab() as lab:
        server = lab.homer(template, env=env, tcp=True)
        assert server.tcp_port is not None
        normal = lab.client(TransportClient)
        loris = lab.client(LorisClient)
        opened = normal.call(
            "open",
            kind="homer",
            host=server.host,
            port=server.port,
            tokens=template.homer["fan"][:clients],
            sources=SOURCES,
        )
        if opened["failed"]:
            raise RuntimeError(f"{opened['failed']} normal clients failed: {opened['errors']}")
        server.settle(max_wait=10.0)
        targets = [
            {
                "name": "http",
                "host": server.host,
                "port": server.port,
                "count": slow,
                "prefix": HTTP_PREFIX,
                "dribble": HTTP_DRIBBLE,
            },
            {"name": "tcp", "host": server.host, "port": server.tcp_port, "count": slow},
        ]

        def chat(phase: str) -> None:
            nonlocal lost, duplicates
            normal.call("reset", latency=True)
            cpu0 = server.cpu()
            sent = normal.call(
                "chat", room=ROOM, rate=RATE, seconds=seconds, size=SIZE, timeout=seconds + 90
            )
            cpu1 = server.cpu()
            if sent["failed"]:
                raise RuntimeError(f"{phase}: {sent['failed']} sends failed: {sent['errors']}")
            waited = normal.call(
                "wait", kind="homer", room=ROOM, expected=sent["sent"], latencies=True
            )
            lost += waited["lost"]
            duplicates += waited["extra"]
            samples[(phase, "rtt_p50")].append(percentile(sent["rtt"], 0.50) * 1e3)
            samples[(phase, "rtt_p99")].append(percentile(sent["rtt"], 0.99) * 1e3)
            samples[(phase, "delivery_p99")].append(percentile(waited["lat"], 0.99) * 1e3)
            samples[(phase, "cpu")].append((cpu1 - cpu0) / (sent["t1"] - sent["t0"]) * 100)
            p99 = samples[(phase, "rtt_p99")][-1]
            log(f"slowloris: {phase}: {sent['sent']} sent, rtt p99 {p99:.1f} ms")

        for r in range(rounds):
            for phase in [QUIET, ATTACK] if r % 2 == 0 else [ATTACK, QUIET]:
                if phase == QUIET:
                    chat(QUIET)
                else:
                    started = loris.call("loris_start", targets=targets, sources=SOURCES)
                    for name, got in started.items():
                        if got["open"] < slow:
                            log(f"slowloris: {name}: {got['open']} of {slow} open: {got['errors']}")
                    chat(ATTACK)
                    stopped = loris.call(
                        "loris_stop", wait_seconds=timeout + 5.0, timeout=timeout + 30.0
                    )
                    for name, got in stopped.items():
                        lifetimes[name] += got["lifetimes"]
                        counts[f"{name}_opened"] += got["opened"]
                        counts[f"{name}_failed"] += got["failed"]
                        counts[f"{name}_never"] += got["never_closed"]
                        log(
                            f"slowloris: {name}: {got['opened']} opened, {got['failed']} failed,"
                            f" {got['never_closed']} never closed"
                        )
                server.settle(max_wait=10.0)
        if not server.alive():
            raise RuntimeError("homer died during the slow-loris scenario")

    med = {key: statistics.median(values) for key, values in samples.items()}
    records: list[Record] = []
    for phase in (QUIET, ATTACK):
        records += [
            record(
                SCENARIO,
                HOMER,
                f"rtt_p50_ms_{phase}",
                round(med[(phase, "rtt_p50")], 2),
                "ms (target < 100)",
            ),
            record(
                SCENARIO,
                HOMER,
                f"rtt_p99_ms_{phase}",
                round(med[(phase, "rtt_p99")], 2),
                "ms (target < 100)",
            ),
            record(
                SCENARIO,
                HOMER,
                f"delivery_p99_ms_{phase}",
                round(med[(phase, "delivery_p99")], 2),
                "ms",
            ),
            record(
                SCENARIO,
                HOMER,
                f"server_cpu_pct_{phase}",
                round(med[(phase, "cpu")], 1),
                "% of a core",
            ),
        ]
    for metric in ("rtt_p50", "rtt_p99", "delivery_p99"):
        records.append(
            record(
                SCENARIO,
                "ratio",
                f"{metric}_ms",
                round(med[(ATTACK, metric)] / med[(QUIET, metric)], 2),
                "x (under attack / quiet)",
            )
        )
    for name in ("http", "tcp"):
        found = lifetimes[name]
        limit = timeout + SLACK[name]
        in_time = sum(1 for x in found if timeout - 0.1 <= x <= limit)
        early = sum(1 for x in found if x < timeout - 0.1)
        late = sum(1 for x in found if x > limit) + counts[f"{name}_never"]
        records += [
            record(SCENARIO, HOMER, f"slow_{name}_opened", counts[f"{name}_opened"], "sockets"),
            record(
                SCENARIO,
                HOMER,
                f"slow_{name}_closed_in_time",
                in_time,
                f"sockets (within {timeout:g} + {SLACK[name]:g} s)",
            ),
            record(SCENARIO, HOMER, f"slow_{name}_late_or_never", late, "sockets (must be 0)"),
            record(SCENARIO, HOMER, f"slow_{name}_early", early, "sockets (must be 0)"),
            record(
                SCENARIO,
                HOMER,
                f"slow_{name}_close_s_p50",
                round(percentile(found, 0.5), 3),
                f"s after connect (timeout {timeout:g})",
            ),
            record(
                SCENARIO,
                HOMER,
                f"slow_{name}_close_s_max",
                round(max(found, default=float("nan")), 3),
                f"s after connect (timeout {timeout:g})",
            ),
            record(
                SCENARIO,
                HOMER,
                f"slow_{name}_failed_to_connect",
                counts[f"{name}_failed"],
                "sockets",
            ),
        ]
    records += [
        record(SCENARIO, HOMER, "lost", lost, "deliveries (must be 0)"),
        record(SCENARIO, HOMER, "duplicates", duplicates, "deliveries (must be 0)"),
    ]
    return records


def summary(records: list[Record]) -> str:
    """The phases side by side, then the slow sockets per port."""
    value: dict[tuple[str, str], Any] = {
        (str(r["system"]), str(r["metric"])): r["value"]
        for r in records
        if r["scenario"] == SCENARIO
    }
    if not value:
        return ""
    rows = [["slow loris", "rtt p50 ms", "rtt p99 ms", "delivery p99 ms", "server CPU %"]]
    for phase in (QUIET, ATTACK):
        rows.append(
            [phase]
            + [
                f"{value[(HOMER, f'{m}_{phase}')]:.2f}"
                for m in ("rtt_p50_ms", "rtt_p99_ms", "delivery_p99_ms")
            ]
            + [f"{value[(HOMER, f'server_cpu_pct_{phase}')]:.1f}"]
        )
    rows.append(
        ["ratio"]
        + [f"{value[('ratio', f'{m}_ms')]:.2f}x" for m in ("rtt_p50", "rtt_p99", "delivery_p99")]
        + [""]
    )
    text = table(rows)
    rows = [
        ["slow sockets", "opened", "closed in time", "late/never", "early", "close s p50", "max"]
    ]
    for name in ("http", "tcp"):
        rows.append(
            [name]
            + [
                f"{value[(HOMER, f'slow_{name}_{m}')]}"
                for m in ("opened", "closed_in_time", "late_or_never", "early")
            ]
            + [f"{value[(HOMER, f'slow_{name}_close_s_{m}')]:.3f}" for m in ("p50", "max")]
        )
    return text + "\n\n" + table(rows)
