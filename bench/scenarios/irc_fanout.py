"""Fan-out over IRC: one publisher, 1,000 IRC clients in one room, 100-byte texts,
against the same fan-out over Homer's WebSocket in the same run.

Does an IRC client cost Homer more than a WebSocket client? The two systems
differ only in how the subscribers are reached:

* ``homer-irc``: IRC (``homer serve --irc-port``), registered with ``PASS
  <token>``, ``NICK``, ``USER`` and no capabilities; the server joins the user's
  room at registration, and each message arrives as one ``PRIVMSG`` line
  (rendered once per set of capabilities, ``IrcFormat``, then written to each
  connection);
* ``homer-ws``: WebSocket ``/ws``, JSON text frames, as ``homer-ws-json`` in the
  ``transports`` scenario.

One Homer process serves both (uvloop, presence deferred as in ``fanout``);
each system has a room of its own whose 1,000 members are users of their own
(``netkit.rooms_template``), so a message reaches that system's subscribers
only. The subscribers are lean client processes (``bench/clients/irc.py``,
which speaks IRC beside the transports client's kinds), two of them, every
subscriber of both systems connected at once; the publisher is a third process,
sending over Homer's WebSocket to either room (the sending path is the same,
only delivery differs). Subscribers log in with tokens, not passwords: a
password costs an argon2 hash per connection, a cost of logging in, not of
fan-out. The runs are ``FanRig``'s (``fanrig.py``): a warm-up, full-speed rounds
(a window of 50 unacknowledged sends) and paced rounds (5,000 deliveries/s),
the systems in another order each round.

Records, per system (N = 1,000, in ``--quick`` too, with fewer messages and
rounds): ``cpu_us_per_delivery_1000`` (the server process's CPU, psutil user +
system, over a full-speed run, per delivery), ``deliveries_per_s_1000``,
``server_busy_pct_1000``, the latency and paced-CPU figures, the CPU to open a
subscriber, and ``lost_1000`` and ``duplicates_1000`` (both must be 0; an IRC
delivery is told apart by the send time in its text, a WebSocket one by its
``seq``). The ``ratio`` rows are IRC / WebSocket; the goal for CPU per
delivery is at most 1.2.

Where IRC's cost lies: a WebSocket peer writes the bytes the hub rendered
once (``FramedSender.push``); an IRC peer does the same for someone else's
message in a channel it shows (``IrcPeer.push``, after a few checks), and
looks at anything else in ``IrcPeer._render`` (held before the welcome? a
direct message? its own echo? a kick of itself?). Before that fast path every
delivery went through ``_render``, and IRC cost 1.41-1.46x WebSocket's CPU per
delivery; with it, 1.07-1.19 (median 1.16 over five runs on a shared 2-core
machine). Opening an IRC
subscriber costs far more than a WebSocket one because registration joins the
user's rooms and lists each one's members (``353``): for a room of 1,000 that
is the whole member list, read and written per connection.

Run it: ``python bench/run.py --only irc_fanout`` (``--quick`` for a short run;
``BENCH_IRC_N`` sets another N, e.g. 50 for a smoke run; ``BENCH_IRC_CAPS``,
capabilities for the IRC subscribers to ask for, e.g. ``server-time``).
"""

from __future__ import annotations

import os

from .common import Record, record
from .fanrig import COLUMNS, FanRig, messages, summary_table
from .netkit import IrcClient, Lab, log, rooms_template

SCENARIO = "irc_fanout"
IRC, WS = "homer-irc", "homer-ws"
#: System -> (client kind in ``bench/clients/irc.py``, room).
SYSTEMS = {IRC: ("irc", "i-irc"), WS: ("homer", "i-ws")}
#: Deliveries per full-speed run, by quick: enough for the server's CPU time over a
#: run (some 300 ms and more) to span many of psutil's 10 ms ticks.
DELIVERIES = {True: 300_000, False: 500_000}
#: Goal: IRC's CPU per delivery at most this many times WebSocket's.
GOAL = 1.2


def run(quick: bool) -> list[Record]:
    n = int(os.environ.get("BENCH_IRC_N") or 1000)
    caps = os.environ.get("BENCH_IRC_CAPS", "").split()
    full = {system: messages(DELIVERIES[quick], n) for system in SYSTEMS}
    template = rooms_template({room: n for _, room in SYSTEMS.values()})

    with Lab() as lab:
        homer = lab.homer(template, env={"HOMER_LIMITS_PRESENCE_DELAY": "3600"}, irc=True)
        assert homer.irc_port is not None
        rig = FanRig(lab, SCENARIO, n, quick, client=IrcClient)
        log(f"{SCENARIO}: server up, opening {n} subscribers per system")
        for system, (kind, room) in SYSTEMS.items():
            irc = kind == "irc"
            rig.open(
                system,
                homer,
                kind,
                room,
                template.homer[room],
                port=homer.irc_port if irc else None,
                # rooms_template's users are <room>-<i>, in token order: the nicks.
                names=[f"{room}-{i}" for i in range(n)] if irc else None,
                caps=caps if irc else None,
            )
        rig.connect(SYSTEMS, homer, "homer", template.homer["owner"])
        homer.settle(max_wait=30.0)
        log(f"{SCENARIO}: settled")
        rig.measure(full)

    med = rig.median
    records = rig.records(SCENARIO)
    records += [
        record(
            SCENARIO,
            "ratio",
            f"cpu_us_per_delivery_{n}",
            round(med[(IRC, "cpu")] / med[(WS, "cpu")], 3),
            f"x {WS} (target <= {GOAL})",
        ),
        record(
            SCENARIO,
            "ratio",
            f"cpu_us_per_delivery_at_5k_per_s_{n}",
            round(med[(IRC, "paced_cpu")] / med[(WS, "paced_cpu")], 3),
            f"x {WS}",
        ),
        record(
            SCENARIO,
            "ratio",
            f"deliveries_per_s_{n}",
            round(med[(IRC, "rate")] / med[(WS, "rate")], 2),
            f"x {WS} (higher is better)",
        ),
        record(
            SCENARIO,
            "ratio",
            f"p99_ms_at_5k_per_s_{n}",
            round(med[(IRC, "p99")] / med[(WS, "p99")], 3),
            f"x {WS} (lower is better)",
        ),
    ]
    return records


def summary(records: list[Record]) -> str:
    """The scenario's records as one table, a row per system."""
    return summary_table(records, SCENARIO, "subscribers over", SYSTEMS, COLUMNS)
