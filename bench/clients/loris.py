"""A slow-loris process: many sockets that start a request and never finish it.

Driven like ``bench/clients/lean.py`` (whose command loop it reuses): JSON
commands on stdin, one answer per line on stdout.

* ``loris_start(targets, sources, dribble_every=1.0)``: for each target
  ``{"name", "host", "port", "count", "prefix", "dribble"}`` open ``count``
  sockets (bound round-robin to the loopback ``sources``), each writing
  ``prefix`` once connected (an unfinished HTTP request head, say; empty: say
  nothing at all) and then ``dribble`` every ``dribble_every`` seconds (one more
  header line: the head grows but never ends). A socket the server closes is
  opened again at once, so the count holds until ``loris_stop``.
* ``loris_stop(wait_seconds)``: stop reopening; wait (at most ``wait_seconds``)
  for the server to close what is still open, abort the rest. Returns, per
  target, the lifetime of every socket the server closed (seconds from connect
  to close as this side saw it), how many it never closed, how many failed to
  connect, and the bytes the server sent (a TCP listener's ``close`` event).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lean

_monotonic = lean._monotonic


class SlowSocket(asyncio.Protocol):
    __slots__ = ("attack", "opened", "transport")

    def __init__(self, attack: Attack) -> None:
        self.attack = attack
        self.transport: asyncio.Transport | None = None
        self.opened = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.opened = _monotonic()
        if self.attack.prefix:
            self.transport.write(self.attack.prefix)

    def data_received(self, data: bytes) -> None:
        self.attack.received += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.attack.closed(self, _monotonic())


class Attack:
    """``count`` slow sockets to one port, topped up while ``keep_up``."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        count: int,
        prefix: bytes,
        dribble: bytes,
        sources: list[str],
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.count = count
        self.prefix = prefix
        self.dribble = dribble
        self.sources = sources or [None]  # type: ignore[list-item]
        self.open: set[SlowSocket] = set()
        self.lifetimes: list[float] = []
        self.opened = 0
        self.failed = 0
        self.errors: list[str] = []
        self.received = 0
        self.keep_up = True
        self.tasks: set[asyncio.Task[None]] = set()

    async def open_one(self) -> None:
        source = self.sources[self.opened % len(self.sources)]
        self.opened += 1
        try:
            sock = await lean.connect_socket(self.host, self.port, source)
            slow = SlowSocket(self)
            await asyncio.get_running_loop().create_connection(lambda: slow, sock=sock)
        except OSError as exc:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(repr(exc))
            return
        if slow.transport is not None:
            self.open.add(slow)

    def closed(self, slow: SlowSocket, at: float) -> None:
        if slow in self.open:
            self.open.discard(slow)
            self.lifetimes.append(at - slow.opened)
        if self.keep_up:
            task = asyncio.ensure_future(self.open_one())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def stir(self) -> None:
        if self.dribble:
            for slow in self.open:
                if slow.transport is not None:
                    slow.transport.write(self.dribble)


class LorisWorker(lean.Worker):
    def __init__(self) -> None:
        super().__init__()
        self.attacks: list[Attack] = []
        self.stirring: asyncio.Task[None] | None = None

    async def cmd_loris_start(
        self,
        targets: list[dict[str, Any]],
        sources: list[str] | None = None,
        dribble_every: float = 1.0,
        concurrency: int = 200,
    ) -> dict[str, Any]:
        semaphore = asyncio.Semaphore(concurrency)
        attacks = [
            Attack(
                t["name"],
                t["host"],
                t["port"],
                t["count"],
                t.get("prefix", "").encode("latin-1"),
                t.get("dribble", "").encode("latin-1"),
                sources or [],
            )
            for t in targets
        ]
        self.attacks += attacks

        async def one(attack: Attack) -> None:
            async with semaphore:
                await attack.open_one()

        started = _monotonic()
        await asyncio.gather(*(one(a) for a in attacks for _ in range(a.count)))
        elapsed = _monotonic() - started
        if self.stirring is None:
            self.stirring = asyncio.ensure_future(self._stir(dribble_every))
        return {
            a.name: {
                "open": len(a.open),
                "failed": a.failed,
                "errors": a.errors,
                "elapsed": elapsed,
            }
            for a in attacks
        }

    async def _stir(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            for attack in self.attacks:
                attack.stir()

    async def cmd_loris_stop(self, wait_seconds: float) -> dict[str, Any]:
        for attack in self.attacks:
            attack.keep_up = False
        deadline = _monotonic() + wait_seconds
        while _monotonic() < deadline and any(  # noqa: ASYNC110
            a.open or a.tasks for a in self.attacks
        ):
            await asyncio.sleep(0.01)
        if self.stirring is not None:
            self.stirring.cancel()
            self.stirring = None
        found: dict[str, Any] = {}
        for attack in self.attacks:
            remaining = list(attack.open)
            attack.open.clear()  # aborted here: not closed by the server
            for slow in remaining:
                if slow.transport is not None:
                    slow.transport.abort()
            found[attack.name] = {
                "opened": attack.opened,
                "failed": attack.failed,
                "errors": attack.errors,
                "never_closed": len(remaining),
                "lifetimes": attack.lifetimes,
                "received": attack.received,
            }
        self.attacks = []
        return found


if __name__ == "__main__":
    lean.run(LorisWorker)
