"""The transports client (``bench/clients/transports.py``) with one more kind: ``irc``.

An IRC subscriber for ``homer serve --irc-port``, and no more of the protocol
than a subscriber needs. It registers with ``PASS <token>``, ``NICK <name>``
and ``USER <name> 0 * :<name>`` (a Homer token as the password: no argon2 hash
per connection, as a password would cost), optionally after ``CAP REQ`` for the
capabilities given to ``open`` (``server-time``, say) and ``CAP END``. The
server joins the user's rooms itself at registration: every ``JOIN`` of its own
nick names a room the connection is in. Registration ends with a ``PING``
sent along with it: commands run in order, so its ``PONG`` comes after the
welcome and the ``JOIN`` lines, and the connection is open once it has come.

A delivery is a ``PRIVMSG`` line (the fan-out's texts are one line each),
found by the bytes of its command, never parsed into a message. IRC has no
``seq`` without the ``message-tags`` capability, which would change the lines
measured, so a delivery is told apart by the send time carried in its text
(``@@<monotonic, microseconds>@@``, unique per message, as one publisher
cannot send two messages in the same microsecond): one seen before on the same
connection is a duplicate, and ``wait`` counts lost and extra as the transports
client does. The server's ``PING`` is answered with a ``PONG``, as any client
must to stay connected. The other kinds of ``transports.py`` work here as
there, so one process holds a scenario's WebSocket and IRC subscribers alike.

``open`` takes ``names`` (the account name for each token: the nick must be
it) and ``caps``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lean
import transports

PRIVMSG = b" PRIVMSG "
STAMP = lean.STAMP
#: The token of the ``PING`` that ends registration.
READY = b"bench-ready"


class IrcConn(lean.Conn):
    """One IRC connection: lines in, ``PRIVMSG`` lines counted, the rest looked at only
    while registering (and for the server's ``PING``)."""

    __slots__ = ("nick", "seen")

    def __init__(self, worker: lean.Worker, nick: str) -> None:
        super().__init__(worker, "irc")
        self.handshaken = True
        self.nick = nick.encode()
        #: The send times of the deliveries since the last ``reset``.
        self.seen: set[bytes] = set()

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        while True:
            end = data.find(b"\r\n", pos)
            if end < 0:
                break
            if data.find(PRIVMSG, pos, end) >= 0:
                self.count += 1
                self.worker.delivered(data, pos, end, self)
                self.note_stamp(data, pos, end)
            else:
                self.other(data[pos:end])
            pos = end + 2
        if pos < len(data):
            self.buf = data[pos:]

    def note_stamp(self, data: bytes, start: int, end: int) -> None:
        """A delivery seen before on this connection (by its send time) is a duplicate;
        so is one without a send time."""
        i = data.find(STAMP, start, end)
        j = data.find(STAMP, i + 2, end) if i >= 0 else -1
        stamp = data[i + 2 : j] if j >= 0 else b""
        if not stamp or stamp in self.seen:
            self.dups += 1
        else:
            self.seen.add(stamp)

    def other(self, line: bytes) -> None:
        """Any other line: registration's, a room joined, the server's ``PING``."""
        words = line.split(b" ")
        if words[0].startswith(b"@"):  # tags (server-time): not needed here
            words = words[1:]
        source = words[0][1:] if words and words[0].startswith(b":") else b""
        if source:
            words = words[1:]
        if not words:
            return
        command = words[0]
        if command == b"PING":
            self.write(b"PONG " + (words[-1] if len(words) > 1 else b""))
        elif command == b"JOIN" and len(words) > 1 and source.split(b"!", 1)[0] == self.nick:
            room = words[1].lstrip(b":")[1:].decode().lower()
            self.rooms = (*self.rooms, room)
        elif self.waiter is None or self.waiter.done():
            pass
        elif command == b"PONG" and words[-1].lstrip(b":") == READY:
            self.waiter.set_result(None)
        elif command in (b"464", b"432", b"433", b"451", b"ERROR"):
            self.waiter.set_exception(lean.RequestFailed(line.decode(errors="replace")))

    def write(self, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(payload + b"\r\n")


class IrcWorker(transports.TransportWorker):
    def __init__(self) -> None:
        super().__init__()
        #: Token -> the account name the nick must be (set by ``open``).
        self.nicks: dict[str, str] = {}
        self.caps: list[str] = []

    async def cmd_open(  # type: ignore[override]
        self, names: list[str] | None = None, caps: list[str] | None = None, **args: Any
    ) -> dict[str, Any]:
        if names is not None:
            self.nicks = dict(zip(args["tokens"], names, strict=True))
        self.caps = caps or []
        return await super().cmd_open(**args)

    async def open_one(
        self, kind: str, host: str, port: int, token: str, source: str | None, path: str = "/ws"
    ) -> lean.Conn:
        if kind != "irc":
            return await super().open_one(kind, host, port, token, source, path)
        nick = self.nicks[token]
        sock = await lean.connect_socket(host, port, source)
        lines = [f"CAP REQ :{' '.join(self.caps)}", "CAP END"] if self.caps else []
        lines += [
            f"PASS {token}",
            f"NICK {nick}",
            f"USER {nick} 0 * :{nick}",
            f"PING :{READY.decode()}",
        ]
        greeting = "".join(f"{line}\r\n" for line in lines).encode()
        return await lean.greeted(IrcConn(self, nick), sock, greeting)  # the PONG

    def cmd_reset(self, latency: bool = False, stamps: bool = False) -> dict[str, Any]:
        for conn in self.conns:
            if isinstance(conn, IrcConn):
                conn.seen = set()
        return super().cmd_reset(latency, stamps)


if __name__ == "__main__":
    lean.run(IrcWorker)
