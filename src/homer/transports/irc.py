"""IRC: existing IRC clients in Homer's rooms (``homer serve --irc-port``).

A thin pump like the raw TCP peer: lines in (:mod:`homer.protocol.irc`), each
command turned into Homer operations run through the one request pipeline,
events out as IRC lines (:mod:`homer.transports.irc_lines`). ``#room`` is the
room ``room``, the nick is the account's name, a ``PRIVMSG`` to a nick is a
direct message. docs/topics/irc.md is the specification.

Commands of one connection run one after another, in the order they came
(IRC clients expect their messages to land, and their answers to come, in
order); a ``PRIVMSG`` to a room is done once its message is durably stored.
The connection has no task while idle: one runs only while commands wait.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, cast

from homer.core.logins import password_login
from homer.core.pipeline import Call, Context
from homer.core.session import CloseCode
from homer.errors import (
    Conflict,
    Forbidden,
    HomerError,
    NotFound,
    RateLimited,
)
from homer.messaging.hub import Outgoing
from homer.protocol.envelope import Envelope
from homer.protocol.irc import (
    IrcError,
    IrcMessage,
    IrcSyntaxError,
    LineReader,
    LineTooLong,
    NotUtf8,
    parse,
    render,
)
from homer.store.records import name_key
from homer.transports.framed import FramedSender, StreamFormat
from homer.transports.front import client_address
from homer.transports.irc_lines import (
    ACTION_PREFIX,
    RENDER_CAPS,
    IrcFormat,
    hostmask,
    irc_time,
    message_lines,
    parse_msgid,
)

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["CAPABILITIES", "IrcPeer", "IrcServer"]

log = logging.getLogger("homer.irc")

#: What ``CAP LS`` offers, with the values of those that have one.
CAPABILITIES: Final[dict[str, str]] = {
    "account-tag": "",
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "draft/chathistory": "",
    "draft/message-redaction": "",
    "draft/multiline": "max-bytes=8000,max-lines=100",
    "draft/read-marker": "",
    "echo-message": "",
    "extended-join": "",
    "invite-notify": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "sasl": "PLAIN",
    "server-time": "",
    "setname": "",
    "userhost-in-names": "",
}

#: The commands a client may send before it is registered.
_BEFORE_REGISTRATION: Final = frozenset(
    {"CAP", "PASS", "NICK", "USER", "AUTHENTICATE", "PING", "PONG", "QUIT"}
)
#: The most commands that may wait for their turn; past it the client is too fast.
_QUEUE_LIMIT: Final = 200
#: Events about the user rather than a room: each connection shows them its own way.
_OWN_EVENTS: Final = frozenset({"joined", "left", "invited", "unread"})
#: The most events of each room replayed at registration to a client without
#: ``draft/chathistory``.
PLAYBACK: Final = 100
#: The most nicks one ``MONITOR`` list holds.
MONITOR_LIMIT: Final = 100


class IrcServer:
    """What every IRC connection of a node shares: its names, its formats (one per
    set of capabilities that change how events look), its protocol factory."""

    def __init__(self, app: Homer) -> None:
        self.app = app
        config = app.config.irc
        self.name = config.server_name
        self.network = config.network
        self.motd = config.motd
        self.created = irc_time(app.clock())
        self._formats: dict[frozenset[str], IrcFormat] = {}
        #: Account name key -> its connections here in bot mode (user mode ``+B``).
        self.bots: dict[str, int] = {}

    def format(self, caps: set[str]) -> IrcFormat:
        key = frozenset(caps & RENDER_CAPS)
        found = self._formats.get(key)
        if found is None:
            found = self._formats[key] = IrcFormat(key, self.name)
        return found

    def __call__(self) -> IrcPeer:
        return IrcPeer(self)


class IrcPeer(FramedSender, asyncio.Protocol):
    """One IRC connection, registered or not."""

    __slots__ = (
        "_cid_serial",
        "_echo_labels",
        "_echoed",
        "_held",
        "_label",
        "_labeled",
        "_queue",
        "_worker",
        "account",
        "away_seen",
        "bot",
        "caps",
        "channels",
        "cid_prefix",
        "dm_rooms",
        "dms",
        "irc",
        "monitoring",
        "negotiating",
        "nick",
        "password",
        "played",
        "read_at",
        "reader",
        "realname",
        "registered",
        "sasl",
        "sasl_buffer",
        "username",
    )
    corks = False

    def __init__(self, irc: IrcServer) -> None:
        app = irc.app
        super().__init__(app, "unknown", cast(StreamFormat, irc.format(set())))
        self.irc = irc
        self.reader = LineReader()
        self.nick = "*"
        self.username = ""
        self.realname = ""
        self.password: str | None = None
        self.caps: set[str] = set()
        self.negotiating = False
        #: ``PLAIN`` while an ``AUTHENTICATE`` exchange is open.
        self.sasl: str | None = None
        self.sasl_buffer = ""
        #: The user and token SASL logged in as, until registration uses them.
        self.account: tuple[Any, str] | None = None
        self.registered = False
        #: Events that came before the welcome was written; then ``None``.
        self._held: list[Envelope] | None = []
        self._queue: deque[IrcMessage] = deque()
        self._worker: asyncio.Task[None] | None = None
        #: The channels this connection shows as joined: room id -> room information.
        self.channels: dict[str, dict[str, Any]] = {}
        #: DM room id -> the other user's name, and back (by name key).
        self.dms: dict[str, str] = {}
        self.dm_rooms: dict[str, str] = {}
        #: What this connection's sends are named by: its echoes are recognised by it.
        self.cid_prefix = f"irc-{secrets.token_hex(4)}-"
        self._cid_serial = 0
        #: The label of the command running now, and the lines it answered.
        self._label: str | None = None
        self._labeled: list[bytes] = []
        #: Client ids of labeled messages whose echo carries the label; the label of
        #: the last echo that did.
        self._echo_labels: dict[str, str] = {}
        self._echoed: str | None = None
        #: Nick -> the status last shown with away-notify or MONITOR.
        self.away_seen: dict[str, str] = {}
        self.monitoring: dict[str, str] = {}
        #: User mode ``+B``: this connection is a bot.
        self.bot = False
        #: Room -> the last seq replayed at registration (live copies are skipped).
        self.played: dict[str, int] = {}
        #: Room -> the user's read marker as last known here.
        self.read_at: dict[str, int] = {}

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.address = client_address(transport)
        self.app.connected(self)

    def data_received(self, data: bytes) -> None:
        lifecycle = self.lifecycle
        lifecycle.received(self.app.clock())
        if lifecycle.ended:
            return
        for line in self.reader.feed(data):
            if isinstance(line, IrcError):
                self._refuse(line)
                continue
            try:
                message = parse(line)
            except IrcSyntaxError as exc:
                self._refuse(exc)
                continue
            if len(self._queue) >= _QUEUE_LIMIT:
                self.close(CloseCode.TOO_SLOW, "Excess Flood")
                return
            self._queue.append(message)
        if self._queue and self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    def _refuse(self, error: IrcError) -> None:
        if isinstance(error, LineTooLong):
            self.numeric("417", "Input line was too long")
        elif isinstance(error, NotUtf8):
            self.line("FAIL", "*", "INVALID_UTF8", "Lines must be UTF-8", source=self.irc.name)
        else:
            self.line("FAIL", "*", "INVALID_LINE", str(error), source=self.irc.name)

    async def _work(self) -> None:
        """Run the waiting commands, in order, until none is left."""
        try:
            while self._queue and not self.lifecycle.ended:
                message = self._queue.popleft()
                await self._run(message)
        finally:
            self._worker = None

    async def _run(self, message: IrcMessage) -> None:
        command = message.command
        handler = COMMANDS.get(command)
        if not self.registered and command not in _BEFORE_REGISTRATION:
            self.numeric("451", "You have not registered")
            return
        label = (message.tags or {}).get("label")
        if label is not None and "labeled-response" in self.caps and self.registered:
            self._label, self._labeled = label[:64], []
        try:
            if handler is None:
                self.numeric("421", command, "Unknown command")
            else:
                await handler(self, message)
        except HomerError as exc:
            self.numeric("400", command, exc.message)
        except Exception:
            log.exception("IRC command failed", extra={"command": command, "conn": id(self)})
            self.numeric("400", command, "internal error")
        finally:
            if self._label is not None:
                self._flush_labeled()

    # -- writing --------------------------------------------------------------------

    def line(
        self,
        command: str,
        *params: str,
        source: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """A line for this connection (answers to a labeled command wait for its end)."""
        self.write_lines([render(command, *params, source=source, tags=tags)])

    def numeric(self, code: str, *params: str) -> None:
        """A numeric reply to this client: ``:server CODE nick params...``."""
        self.line(code, self.nick, *params, source=self.irc.name)

    def _flush_labeled(self) -> None:
        label, lines = self._label, self._labeled
        self._label, self._labeled = None, []
        assert label is not None
        echoed, self._echoed = self._echoed, None
        if not lines and (label == echoed or label in self._echo_labels.values()):
            return  # the echo of the message answers (or will)
        self.write_lines([labeled(lines, label, self.irc.name)])

    def write_lines(self, lines: list[bytes]) -> None:
        """Lines for this connection (a labeled command's wait for its end)."""
        if self._label is not None:
            self._labeled += lines
            return
        transport = self._writable()
        if transport is not None and lines:
            transport.write(b"".join(lines))

    @property
    def me(self) -> str:
        return hostmask(self.nick, self.irc.name)

    # -- events ---------------------------------------------------------------------

    def push(self, out: Outgoing) -> None:
        self.push_rendered(out)

    def push_many(self, outs: list[Outgoing]) -> None:
        self.push_many_rendered(outs)

    def _render(self, out: Outgoing) -> bytes:
        """A fanned-out event on this connection: the shared lines of its format, or
        lines of its own (direct messages, its own echoes, presence), or nothing."""
        env = out.envelope
        held = self._held
        if held is not None:
            held.append(env)
            return b""
        op = env.op
        if op in _OWN_EVENTS:  # one user's, through the hub: lines of this connection's own
            self.send(env)
            return b""
        if op == "msg":
            room = env.room or ""
            other = self.dms.get(room)
            if other is not None:
                return self._direct(env, other)
            if room not in self.channels:
                return b""
            kind = env.kind
            if env.uid is not None and self.session is not None and env.uid == self.session.user.id:
                if kind in ("join", "leave"):  # shown when ``joined`` and ``left`` came
                    return b""
                cid = env.cid or ""
                if kind == "msg" and cid.startswith(self.cid_prefix):
                    if "echo-message" not in self.caps:
                        return b""
                    label = self._echo_labels.pop(cid, None)
                    if label is not None:
                        self._echoed = label
                        return self._labeled_echo(env, "#" + room, label)
            if (
                kind in ("kick", "ban")
                and isinstance(env.body, dict)
                and name_key(str(env.body.get("user", ""))) == name_key(self.nick)
            ):
                self.channels.pop(room, None)
            return out.render(self.fmt)
        if op == "typing":
            return self._typing(env)
        if op in ("presence", "presences"):
            return self._presence(env)
        if op == "broadcast":
            text = env.body.get("text", "") if isinstance(env.body, dict) else ""
            source = hostmask(env.sender or self.irc.name, self.irc.name)
            return render("NOTICE", self.nick, f"[broadcast] {text}", source=source)
        if op == "purged" and env.room in self.channels:
            return render(
                "NOTICE", "#" + (env.room or ""), "History was purged", source=self.irc.name
            )
        return b""

    def _labeled_echo(self, env: Envelope, target: str, label: str) -> bytes:
        lines = message_lines(env, frozenset(self.caps), target, self.irc.name)
        return labeled(lines, label, self.irc.name)

    def _direct(self, env: Envelope, other: str) -> bytes:
        """A direct message: to this nick when the other wrote it; from this nick to
        the other when written here or on another of this user's connections."""
        mine = self.session is not None and env.uid == self.session.user.id
        if env.kind != "msg":
            return b""  # the DM's own bookkeeping has no IRC form
        cid = env.cid or ""
        if mine and cid.startswith(self.cid_prefix):
            if "echo-message" not in self.caps:
                return b""
            label = self._echo_labels.pop(cid, None)
            if label is not None:
                self._echoed = label
                return self._labeled_echo(env, other, label)
        target = other if mine else self.nick
        return b"".join(message_lines(env, frozenset(self.caps), target, self.irc.name))

    def _typing(self, env: Envelope) -> bytes:
        if "message-tags" not in self.caps or env.sender is None:
            return b""
        if self.session is not None and env.uid == self.session.user.id:
            return b""
        room = env.room or ""
        other = self.dms.get(room)
        target = self.nick if other is not None else "#" + room
        if other is None and room not in self.channels:
            return b""
        source = hostmask(env.sender, self.irc.name)
        return render("TAGMSG", target, source=source, tags={"+typing": "active"})

    def _presence(self, env: Envelope) -> bytes:
        body = env.body if isinstance(env.body, dict) else {}
        if env.op == "presence":
            changes = [(env.sender or "", str(body.get("status", "")))]
        else:
            changes = [
                (str(c.get("name", "")), str(c.get("status", "")))
                for c in body.get("changes", ())
                if isinstance(c, dict)
            ]
        lines: list[bytes] = []
        for name, status in changes:
            if not name:
                continue
            seen = self.away_seen.get(name)
            self.away_seen[name] = status
            # Nothing to show for someone online who was never shown away.
            news = seen != status and not (status == "online" and seen is None)
            if news and "away-notify" in self.caps and name_key(name) != name_key(self.nick):
                source = hostmask(name, self.irc.name)
                if status == "online":
                    lines.append(render("AWAY", source=source))
                else:
                    lines.append(render("AWAY", status, source=source))
            lines += self._monitor_lines(name, status)
        return b"".join(lines)

    def _monitor_lines(self, name: str, status: str) -> list[bytes]:
        key = name_key(name)
        if key not in self.monitoring:
            return []
        was = self.monitoring[key]
        now = "offline" if status == "offline" else "online"
        if was == now:
            return []
        self.monitoring[key] = now
        code = "731" if now == "offline" else "730"
        shown = name if now == "offline" else hostmask(name, self.irc.name)
        return [render(code, self.nick, shown, source=self.irc.name)]

    def send(self, envelope: Envelope) -> None:
        """An event for this connection alone: its rooms coming and going, invitations,
        read markers; a replayed message goes the way of a live one."""
        op = envelope.op
        if self._held is not None and op in ("msg", "joined", "left", "invited", "unread"):
            self._held.append(envelope)
            return
        if op == "joined":
            self.show_joined(envelope.body if isinstance(envelope.body, dict) else {})
        elif op == "left":
            self._left(envelope.room or "", envelope.body)
        elif op == "invited" and envelope.sender:
            source = hostmask(envelope.sender, self.irc.name)
            self.line("INVITE", self.nick, "#" + (envelope.room or ""), source=source)
        elif op == "unread":
            body = envelope.body if isinstance(envelope.body, dict) else {}
            if isinstance(body.get("read"), int):
                self.read_at[envelope.room or ""] = body["read"]
            self._read_marker(envelope)
        elif op in ("msg", "typing", "presence", "presences", "broadcast", "purged"):
            data = self._render(Outgoing(envelope))
            if data:
                self._write(data)

    def show_joined(self, info: dict[str, Any]) -> None:
        room = str(info.get("id", ""))
        if info.get("kind") == "dm":
            users = (info.get("meta") or {}).get("users") or []
            others = [u for u in users if name_key(u) != name_key(self.nick)] or users[:1]
            if others:
                self.dms[room] = others[0]
                self.dm_rooms[name_key(others[0])] = room
            return
        if room in self.channels:
            return
        self.channels[room] = info
        channel = "#" + room
        if "extended-join" in self.caps:
            self.line("JOIN", channel, self.nick, self.realname or self.nick, source=self.me)
        else:
            self.line("JOIN", channel, source=self.me)
        topic = str(info.get("topic") or "")
        if topic:
            self.numeric("332", channel, topic)
        self.app.spawn(self._after_join(room, int(info.get("read") or 0)))

    async def _after_join(self, room: str, read: int) -> None:
        """The names, and the read marker for a client that keeps them."""
        with contextlib.suppress(HomerError):
            await names(self, room)
            if "draft/read-marker" in self.caps:
                marker = await marker_of(self, room, read)
                self.line("MARKREAD", "#" + room, marker, source=self.irc.name)

    def _left(self, room: str, body: Any) -> None:
        reason = body.get("reason") if isinstance(body, dict) else None
        if self.channels.pop(room, None) is not None and reason == "leave":
            self.line("PART", "#" + room, source=self.me)

    def _read_marker(self, envelope: Envelope) -> None:
        if "draft/read-marker" not in self.caps or envelope.room not in self.channels:
            return
        body = envelope.body if isinstance(envelope.body, dict) else {}
        seq = body.get("read")
        if isinstance(seq, int):
            self.app.spawn(self._send_marker(envelope.room or "", seq))

    async def _send_marker(self, room: str, seq: int) -> None:
        with contextlib.suppress(HomerError):
            self.line(
                "MARKREAD", "#" + room, await marker_of(self, room, seq), source=self.irc.name
            )

    # -- the rest of what a stream peer does ---------------------------------------------

    def ping(self) -> None:
        self._write(render("PING", self.irc.name, source=self.irc.name))

    def _goodbye(self, code: int, reason: str) -> bytes:
        return render("ERROR", f"Closing Link: {self.address} ({reason})")

    def connection_lost(self, exc: Exception | None) -> None:
        self.set_bot(False)
        seen = self._seen_up_to()
        super().connection_lost(exc)
        worker = self._worker
        if worker is not None:
            worker.cancel()
        if seen:
            self.app.spawn(self._mark_seen(seen))

    def _seen_up_to(self) -> dict[str, int]:
        """Room -> the last seq this connection showed, where that is past the user's
        read marker: for a client that keeps no read markers of its own (no
        ``draft/read-marker``), what it showed counts as read when it goes."""
        session = self.session
        if session is None or not self.registered or "draft/read-marker" in self.caps:
            return {}
        seen: dict[str, int] = {}
        for room in session.rooms:
            cursor = self.app.hub.cursor(room, self)
            if cursor is not None and cursor > self.read_at.get(room, 0):
                seen[room] = cursor
        return seen

    async def _mark_seen(self, seen: dict[str, int]) -> None:
        for room, seq in seen.items():
            with contextlib.suppress(HomerError):
                await self.server_op("read", room=room, seq=seq)

    # -- running operations ----------------------------------------------------------------

    async def op(self, name: str, **params: Any) -> Any:
        """Run the operation ``name`` for this connection through the whole pipeline
        (rate limits and permissions included): its result, or its ``HomerError``."""
        app = self.app
        app.metrics.requests.inc()
        handler = app.handlers[name]
        call = Call(handler, Context(app, self, None, self.session), params)
        return await app.pipeline.run(call)

    async def server_op(self, name: str, **params: Any) -> Any:
        """An operation the server runs on the client's behalf (the names after a
        join): its permission is checked, it does not count against the client's rate."""
        app = self.app
        return await app.call(app.handlers[name], Context(app, self, None, self.session), params)

    def set_bot(self, on: bool) -> None:
        """User mode ``+B``: ``WHOIS`` of the account says it is a bot (``335``)."""
        if on == self.bot:
            return
        self.bot = on
        bots, key = self.irc.bots, name_key(self.nick)
        count = bots.get(key, 0) + (1 if on else -1)
        if count > 0:
            bots[key] = count
        else:
            bots.pop(key, None)

    def next_cid(self) -> str:
        self._cid_serial += 1
        return f"{self.cid_prefix}{self._cid_serial}"

    def label_echo(self, cid: str) -> None:
        """The echo of the message ``cid`` answers the command running now."""
        if self._label is not None and "echo-message" in self.caps and len(self._echo_labels) < 100:
            self._echo_labels[cid] = self._label

    def release_held(self) -> None:
        """The welcome is written: what came before it goes out now, in order (less
        what the replay showed already)."""
        held, self._held = self._held, None
        played = self.played
        for envelope in held or ():
            if envelope.op == "msg" and (envelope.seq or 0) <= played.get(envelope.room or "", 0):
                continue
            self.send(envelope)


def with_tag(line: bytes, key: str, value: str) -> bytes:
    """``line`` with one more tag (``value`` is a label or batch reference: no escaping)."""
    tag = f"{key}={value}".encode()
    if line.startswith(b"@"):
        return b"@" + tag + b";" + line[1:]
    return b"@" + tag + b" " + line


def labeled(lines: list[bytes], label: str, server: str) -> bytes:
    """The answer to a labeled command: ``ACK``, its one line, or a batch of them."""
    if not lines:
        return render("ACK", source=server, tags={"label": label})
    if len(lines) == 1:
        return with_tag(lines[0], "label", label)
    ref = "l" + secrets.token_hex(3)
    opening = render("BATCH", f"+{ref}", "labeled-response", source=server, tags={"label": label})
    closing = render("BATCH", f"-{ref}", source=server)
    return opening + b"".join(with_tag(line, "batch", ref) for line in lines) + closing


# -- commands ------------------------------------------------------------------------------

Command = Callable[[IrcPeer, IrcMessage], Awaitable[None]]
COMMANDS: dict[str, Command] = {}


def command(*names: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        for name in names:
            COMMANDS[name] = func
        return func

    return register


def _room_of(channel: str) -> str | None:
    """``#room`` -> ``room`` (lower case), or ``None`` for anything else."""
    if not channel.startswith("#") or len(channel) < 2:
        return None
    return channel[1:].lower()


def _enough(peer: IrcPeer, message: IrcMessage, count: int) -> bool:
    if len(message.params) < count or not all(message.params[:count]):
        peer.numeric("461", message.command, "Not enough parameters")
        return False
    return True


# registration


@command("CAP")
async def cap(peer: IrcPeer, message: IrcMessage) -> None:
    sub = message.param(0).upper()
    if sub == "LS":
        if not peer.registered:
            peer.negotiating = True
        listed = " ".join(
            f"{name}={value}" if value and message.param(1) >= "302" else name
            for name, value in CAPABILITIES.items()
        )
        peer.line("CAP", peer.nick, "LS", listed, source=peer.irc.name)
    elif sub == "LIST":
        peer.line("CAP", peer.nick, "LIST", " ".join(sorted(peer.caps)), source=peer.irc.name)
    elif sub == "REQ":
        if not peer.registered:
            peer.negotiating = True
        asked = message.param(1).split()
        adding = {name for name in asked if not name.startswith("-")}
        removing = {name[1:] for name in asked if name.startswith("-")}
        if asked and (adding | removing) <= CAPABILITIES.keys() and not (removing & {"cap-notify"}):
            peer.caps |= adding
            peer.caps -= removing
            peer.fmt = cast(StreamFormat, peer.irc.format(peer.caps))
            peer.line("CAP", peer.nick, "ACK", message.param(1), source=peer.irc.name)
        else:
            peer.line("CAP", peer.nick, "NAK", message.param(1), source=peer.irc.name)
    elif sub == "END":
        if not peer.registered:
            peer.negotiating = False
            await _try_register(peer)
    else:
        peer.numeric("410", sub or "*", "Invalid CAP command")


@command("PASS")
async def pass_(peer: IrcPeer, message: IrcMessage) -> None:
    if peer.registered:
        peer.numeric("462", "You may not reregister")
    elif _enough(peer, message, 1):
        peer.password = message.params[0]


@command("NICK")
async def nick(peer: IrcPeer, message: IrcMessage) -> None:
    if not message.params or not message.params[0]:
        peer.numeric("431", "No nickname given")
        return
    wanted = message.params[0]
    if peer.registered:
        if wanted != peer.nick:
            peer.numeric("432", wanted, "Your nick is your account's name")
        return
    if wanted.startswith(("#", ":", "$")) or any(c in wanted for c in ",*?!@ "):
        peer.numeric("432", wanted, "Erroneous nickname")
        return
    peer.nick = wanted
    await _try_register(peer)


@command("USER")
async def user(peer: IrcPeer, message: IrcMessage) -> None:
    if peer.registered:
        peer.numeric("462", "You may not reregister")
        return
    if not _enough(peer, message, 4):
        return
    peer.username, peer.realname = message.params[0], message.params[3]
    await _try_register(peer)


@command("AUTHENTICATE")
async def authenticate(peer: IrcPeer, message: IrcMessage) -> None:
    if peer.registered or peer.account is not None:
        peer.numeric("907", "You have already authenticated using SASL")
        return
    if "sasl" not in peer.caps:
        peer.numeric("904", "SASL authentication failed")
        return
    value = message.param(0)
    if peer.sasl is None:
        if value.upper() != "PLAIN":
            peer.numeric("908", "PLAIN", "are available SASL mechanisms")
            peer.numeric("904", "SASL authentication failed")
            return
        peer.sasl, peer.sasl_buffer = "PLAIN", ""
        peer.line("AUTHENTICATE", "+")
        return
    if value == "*":
        peer.sasl = None
        peer.numeric("906", "SASL authentication aborted")
        return
    if value != "+":
        peer.sasl_buffer += value
        if len(peer.sasl_buffer) > 1600:
            peer.sasl = None
            peer.numeric("905", "SASL message too long")
            return
        if len(value) == 400:  # more to come
            return
    peer.sasl = None
    try:
        fields = base64.b64decode(peer.sasl_buffer, validate=True).decode().split("\0")
    except (binascii.Error, UnicodeDecodeError):
        fields = []
    if len(fields) != 3 or not fields[1]:
        peer.numeric("904", "SASL authentication failed")
        return
    try:
        peer.account = await _log_in(peer, fields[1], fields[2])
    except RateLimited as exc:
        peer.numeric(
            "904", f"SASL authentication failed: too many attempts, wait {exc.retry_after:.0f} s"
        )
        return
    except HomerError:
        peer.numeric("904", "SASL authentication failed")
        return
    account_name = peer.account[0].name
    peer.numeric(
        "900",
        hostmask(peer.nick, peer.irc.name),
        account_name,
        f"You are now logged in as {account_name}",
    )
    peer.numeric("903", "SASL authentication successful")


async def _log_in(peer: IrcPeer, name: str, secret: str) -> tuple[Any, str]:
    """A token, or the account's password: the user and a token for ``hello``."""
    from homer.core.ops import authenticate as user_of_token

    if secret.count(".") >= 2:  # perhaps a token
        try:
            found, _ = await user_of_token(peer.app, secret)
        except HomerError:
            pass
        else:
            if not name or name_key(name) == name_key(found.name) or name == "*":
                return found, secret
    return await password_login(peer.app, name, secret, peer.address)


async def _try_register(peer: IrcPeer) -> None:
    if peer.registered or peer.negotiating or peer.nick == "*" or not peer.username:
        return
    if peer.sasl is not None:
        return
    account = peer.account
    if account is None:
        if peer.password is None:
            peer.numeric("464", "Password required: PASS or SASL with your account")
            peer.close(CloseCode.UNAUTHENTICATED, "Password required")
            return
        try:
            account = await _log_in(peer, peer.nick, peer.password)
        except RateLimited:
            peer.numeric("464", "Password incorrect")
            peer.close(CloseCode.UNAUTHENTICATED, "too many login attempts: wait and try again")
            return
        except HomerError:
            peer.numeric("464", "Password incorrect")
            peer.close(CloseCode.UNAUTHENTICATED, "Bad password")
            return
    _, token = account
    try:
        welcome = await peer.op("hello", token=token, client="irc")
    except HomerError as exc:
        peer.numeric("464", exc.message)
        peer.close(CloseCode.UNAUTHENTICATED, exc.message)
        return
    await _welcome(peer, welcome)


async def _welcome(peer: IrcPeer, welcome: dict[str, Any]) -> None:
    from homer import __version__

    irc = peer.irc
    name = welcome["user"]["name"]
    if name != peer.nick:
        peer.line("NICK", name, source=peer.me)
        peer.nick = name
    peer.registered = True
    peer.account = None
    limits = peer.app.config.limits
    peer.numeric("001", f"Welcome to the {irc.network} IRC network, {name}")
    peer.numeric("002", f"Your host is {irc.name}, running Homer {__version__}")
    peer.numeric("003", f"This server was created {irc.created}")
    peer.numeric("004", irc.name, f"homer-{__version__}", "iB", "bimnost", "bo")
    supported = [
        "AWAYLEN=200",
        "BOT=B",
        "CASEMAPPING=ascii",
        f"CHANLIMIT=#:{limits.max_rooms_per_user}",
        "CHANMODES=b,,,imnst",
        "CHANNELLEN=65",
        "CHANTYPES=#",
        f"CHATHISTORY={limits.history_limit}",
        "MSGREFTYPES=msgid,timestamp",
        f"MONITOR={MONITOR_LIMIT}",
        f"NETWORK={irc.network}",
        "NICKLEN=64",
        "PREFIX=(o)@",
    ]
    more = [
        "TARGMAX=PRIVMSG:1,NOTICE:1,TAGMSG:1,JOIN:,PART:,NAMES:1,WHOIS:1",
        "TOPICLEN=500",
        "UTF8ONLY",
    ]
    peer.numeric("005", *supported, "are supported by this server")
    peer.numeric("005", *more, "are supported by this server")
    _motd(peer)
    for info in welcome["rooms"]:
        peer.show_joined(info)
        peer.read_at[str(info["id"])] = int(info.get("read") or 0)
    if "draft/chathistory" not in peer.caps:
        for info in welcome["rooms"]:
            with contextlib.suppress(HomerError):
                await _play_back(peer, info)
    peer.release_held()


async def _play_back(peer: IrcPeer, info: dict[str, Any]) -> None:
    """What the user missed in a room since their read marker, for a client that
    cannot ask for history itself: the newest :data:`PLAYBACK` stored events, in a
    ``chathistory`` batch where batches are on, with their times where
    ``server-time`` is."""
    room, read, last = str(info["id"]), int(info.get("read") or 0), int(info.get("last_seq") or 0)
    if last <= read:
        return
    after = max(read, last - PLAYBACK)
    page = await peer.server_op("history", room=room, after=after, limit=PLAYBACK)
    messages: list[Envelope] = page["messages"]
    if not messages:
        return
    other = peer.dms.get(room)
    target = other if other is not None else "#" + room
    if after > read:
        peer.line(
            "NOTICE",
            target if other is None else peer.nick,
            f"{after - read} earlier events since you last read: ask with CHATHISTORY",
            source=peer.irc.name,
        )
    _history_batch(peer, target, room, messages)
    peer.played[room] = messages[-1].seq or 0


def _motd(peer: IrcPeer) -> None:
    motd = peer.irc.motd
    if not motd:
        peer.numeric("422", "MOTD File is missing")
        return
    peer.numeric("375", f"- {peer.irc.name} Message of the day -")
    for text in motd.splitlines():
        peer.numeric("372", f"- {text}")
    peer.numeric("376", "End of /MOTD command")


@command("PING")
async def ping(peer: IrcPeer, message: IrcMessage) -> None:
    if _enough(peer, message, 1):
        peer.line("PONG", peer.irc.name, message.params[0], source=peer.irc.name)


@command("PONG")
async def pong(peer: IrcPeer, message: IrcMessage) -> None:
    """A sign of life: the lifecycle already counted it."""


@command("QUIT")
async def quit_(peer: IrcPeer, message: IrcMessage) -> None:
    peer.close(CloseCode.NORMAL, "Quit: " + message.param(0) if message.params else "Client quit")


@command("MOTD")
async def motd(peer: IrcPeer, message: IrcMessage) -> None:
    _motd(peer)


# channels


@command("JOIN")
async def join(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    if message.params[0] == "0":
        for joined in list(peer.channels):
            with contextlib.suppress(HomerError):
                await peer.op("leave", room=joined)
        return
    for channel in message.params[0].split(","):
        room = _room_of(channel)
        if room is None:
            peer.numeric("403", channel, "No such channel")
            continue
        try:
            await _join(peer, room)
        except NotFound:
            peer.numeric("403", channel, "No such channel")
        except Forbidden as exc:
            code = "474" if "banned" in exc.message else "473"
            peer.numeric(code, channel, f"Cannot join channel ({exc.message})")
        except Conflict as exc:
            peer.numeric("405", channel, exc.message)
        except RateLimited as exc:
            peer.numeric("263", "JOIN", f"Please wait {exc.retry_after:.1f} s and try again")
        except HomerError as exc:
            peer.numeric("403", channel, exc.message)


async def _join(peer: IrcPeer, room: str) -> None:
    """Join ``room``, making it (public, owned by the joiner) when there is none and
    the user may create rooms, as IRC servers do."""
    try:
        await peer.op("join", room=room)
    except NotFound:
        try:
            await peer.op("create", room=room)
        except Conflict:  # it exists, hidden from this user
            raise NotFound(f"no room {room!r}") from None
        except Forbidden:
            raise NotFound(f"no room {room!r}") from None


@command("PART")
async def part(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    for channel in message.params[0].split(","):
        room = _room_of(channel)
        if room is None or room not in peer.channels:
            peer.numeric("442", channel, "You're not on that channel")
            continue
        try:
            await peer.op("leave", room=room)
        except HomerError as exc:
            peer.numeric("442", channel, exc.message)


@command("TOPIC")
async def topic(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    channel = message.params[0]
    room = _room_of(channel)
    if room is None or room not in peer.channels:
        peer.numeric("442", channel, "You're not on that channel")
        return
    if len(message.params) < 2:
        text = str(peer.channels[room].get("topic") or "")
        if text:
            peer.numeric("332", channel, text)
        else:
            peer.numeric("331", channel, "No topic is set")
        return
    try:
        info = await peer.op("topic", room=room, topic=message.params[1])
    except Forbidden:
        peer.numeric("482", channel, "You're not channel operator")
        return
    except HomerError as exc:
        peer.numeric("400", "TOPIC", exc.message)
        return
    peer.channels[room] = {**peer.channels[room], "topic": info.get("topic", "")}


async def members_of(peer: IrcPeer, room: str) -> list[dict[str, Any]]:
    """Every member of ``room``, a page at a time."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = await peer.server_op("members", room=room, after=after, limit=500)
        found += page["members"]
        after = page.get("next")
        if not after:
            return found


def _prefixed(peer: IrcPeer, member: dict[str, Any]) -> str:
    prefix = "@" if member.get("role") == "owner" else ""
    name = str(member.get("name", "?"))
    if "userhost-in-names" in peer.caps:
        return prefix + hostmask(name, peer.irc.name)
    return prefix + name


async def names(peer: IrcPeer, room: str) -> None:
    channel = "#" + room
    members = await members_of(peer, room)
    kind = peer.channels.get(room, {}).get("kind")
    symbol = "@" if kind == "private" else "="
    line: list[str] = []
    budget = 400
    for member in members:
        entry = _prefixed(peer, member)
        if line and sum(len(e) + 1 for e in line) + len(entry) > budget:
            peer.numeric("353", symbol, channel, " ".join(line))
            line = []
        line.append(entry)
    if line:
        peer.numeric("353", symbol, channel, " ".join(line))
    peer.numeric("366", channel, "End of /NAMES list")


@command("NAMES")
async def names_command(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    channel = message.params[0].split(",")[0]
    room = _room_of(channel)
    if room is None or room not in peer.channels:
        peer.numeric("366", channel, "End of /NAMES list")
        return
    await names(peer, room)


@command("WHO")
async def who(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    mask = message.params[0]
    room = _room_of(mask)
    if room is not None:
        if room in peer.channels:
            for member in await members_of(peer, room):
                _who_line(
                    peer, mask, str(member.get("name")), member.get("status"), member.get("role")
                )
    else:
        found = await _account(peer, mask)
        if found is not None:
            _who_line(peer, "*", found.name, peer.app.presence.status(found.id), None)
    peer.numeric("315", mask, "End of WHO list")


def _who_line(peer: IrcPeer, channel: str, name: str, status: Any, role: Any) -> None:
    flags = ("G" if status in ("away", "offline") else "H") + ("@" if role == "owner" else "")
    peer.numeric("352", channel, name, peer.irc.name, peer.irc.name, name, flags, f"0 {name}")


async def _account(peer: IrcPeer, name: str) -> Any:
    try:
        return await peer.app.identity.accounts.get(name)
    except HomerError:
        return None


@command("WHOIS")
async def whois(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    name = message.params[-1]
    found = await _account(peer, name)
    if found is None:
        peer.numeric("401", name, "No such nick/channel")
        peer.numeric("318", name, "End of /WHOIS list")
        return
    status = peer.app.presence.status(found.id)
    peer.numeric("311", found.name, found.name, peer.irc.name, "*", found.name)
    peer.numeric("312", found.name, peer.irc.name, peer.irc.network)
    peer.numeric("330", found.name, found.name, "is logged in as")
    if name_key(found.name) in peer.irc.bots:
        peer.numeric("335", found.name, "is a bot")
    if status == "away":
        peer.numeric("301", found.name, "away")
    elif status == "offline":
        peer.numeric("301", found.name, "offline")
    peer.numeric("318", found.name, "End of /WHOIS list")


@command("LIST")
async def list_(peer: IrcPeer, message: IrcMessage) -> None:
    peer.numeric("321", "Channel", "Users  Name")
    shown: set[str] = set()
    after: str | None = None
    while True:
        page = await peer.op("directory", after=after, limit=200)
        for info in page["rooms"]:
            shown.add(info["id"])
            peer.numeric("322", "#" + info["id"], "0", str(info.get("topic") or ""))
        after = page.get("next")
        if not after:
            break
    for room, info in peer.channels.items():  # the private ones the user is in
        if room not in shown:
            peer.numeric("322", "#" + room, "0", str(info.get("topic") or ""))
    peer.numeric("323", "End of /LIST")


@command("KICK")
async def kick(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 2):
        return
    channel, target = message.params[0], message.params[1]
    room = _room_of(channel)
    if room is None or room not in peer.channels:
        peer.numeric("442", channel, "You're not on that channel")
        return
    await _moderate(peer, "kick", channel, room, target)


async def _moderate(peer: IrcPeer, op: str, channel: str, room: str, target: str) -> None:
    try:
        await peer.op(op, room=room, user=target)
    except Forbidden:
        peer.numeric("482", channel, "You're not channel operator")
    except NotFound:
        peer.numeric("401", target, "No such nick/channel")
    except RateLimited as exc:
        peer.numeric("263", op.upper(), f"Please wait {exc.retry_after:.1f} s and try again")
    except HomerError as exc:
        peer.numeric("400", op.upper(), exc.message)


@command("INVITE")
async def invite(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 2):
        return
    target, channel = message.params[0], message.params[1]
    room = _room_of(channel)
    if room is None or room not in peer.channels:
        peer.numeric("442", channel, "You're not on that channel")
        return
    try:
        await peer.op("invite", room=room, user=target)
    except NotFound:
        peer.numeric("401", target, "No such nick/channel")
        return
    except Conflict as exc:
        peer.numeric("400", "INVITE", exc.message)
        return
    except Forbidden:
        peer.numeric("482", channel, "You're not channel operator")
        return
    peer.numeric("341", target, channel)


_KIND_MODES: Final = {"private": "+inst", "announce": "+mnt", "public": "+nt", "dm": "+inst"}


@command("MODE")
async def mode(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    target = message.params[0]
    room = _room_of(target)
    if room is None:
        if name_key(target) != name_key(peer.nick):
            peer.numeric("502", "Can't change mode for other users")
        elif len(message.params) > 1:
            changes = message.params[1]
            if any(c not in "+-iB" for c in changes):
                peer.numeric("501", "Unknown MODE flag")
                return
            adding = True
            for char in changes:
                if char in "+-":
                    adding = char == "+"
                elif char == "B":
                    peer.set_bot(adding)
            peer.line("MODE", peer.nick, changes, source=peer.me)
        else:
            peer.numeric("221", "+iB" if peer.bot else "+i")
        return
    if room not in peer.channels:
        peer.numeric("442", target, "You're not on that channel")
        return
    if len(message.params) == 1:
        kind = str(peer.channels[room].get("kind", "public"))
        peer.numeric("324", target, _KIND_MODES.get(kind, "+nt"))
        return
    changes, args = message.params[1], list(message.params[2:])
    adding = True
    for char in changes:
        if char in "+-":
            adding = char == "+"
        elif char == "b":
            if not args:
                peer.numeric("368", target, "End of channel ban list")
                continue
            who = args.pop(0).split("!")[0]
            await _moderate(peer, "ban" if adding else "unban", target, room, who)
            if not adding:
                peer.line("MODE", target, "-b", f"{who}!*@*", source=peer.me)
        elif char in "imnst" or char == "o":
            info = peer.channels[room]
            if info.get("role") != "owner" and not peer.app.identity.authorizer.can(
                _user(peer), "room.moderate"
            ):
                peer.numeric("482", target, "You're not channel operator")
            else:
                peer.numeric("472", char, "is set by the room's kind and roles in Homer")
            if char == "o" and args:
                args.pop(0)
        else:
            peer.numeric("472", char, "is unknown mode char to me")


def _user(peer: IrcPeer) -> Any:
    assert peer.session is not None
    return peer.session.user


@command("AWAY")
async def away(peer: IrcPeer, message: IrcMessage) -> None:
    going = bool(message.params and message.params[0])
    await peer.op("presence", status="away" if going else "online")
    if going:
        peer.numeric("306", "You have been marked as being away")
    else:
        peer.numeric("305", "You are no longer marked as being away")


@command("SETNAME")
async def setname(peer: IrcPeer, message: IrcMessage) -> None:
    if _enough(peer, message, 1):
        peer.realname = message.params[0][:200]
        if "setname" in peer.caps:
            peer.line("SETNAME", peer.realname, source=peer.me)


@command("MONITOR")
async def monitor(peer: IrcPeer, message: IrcMessage) -> None:
    sub = message.param(0)
    if sub == "+":
        online: list[str] = []
        offline: list[str] = []
        for name in message.param(1).split(","):
            if not name:
                continue
            if len(peer.monitoring) >= MONITOR_LIMIT:
                peer.numeric("734", str(MONITOR_LIMIT), name, "Monitor list is full.")
                break
            found = await _account(peer, name)
            status = peer.app.presence.status(found.id) if found is not None else "offline"
            state = "offline" if status == "offline" else "online"
            peer.monitoring[name_key(name)] = state
            if state == "online":
                online.append(hostmask(found.name, peer.irc.name))
            else:
                offline.append(name)
        if online:
            peer.numeric("730", ",".join(online))
        if offline:
            peer.numeric("731", ",".join(offline))
    elif sub == "-":
        for name in message.param(1).split(","):
            peer.monitoring.pop(name_key(name), None)
    elif sub == "C":
        peer.monitoring.clear()
    elif sub == "L":
        if peer.monitoring:
            peer.numeric("732", ",".join(peer.monitoring))
        peer.numeric("733", "End of MONITOR list")
    elif sub == "S":
        on = [n for n, s in peer.monitoring.items() if s == "online"]
        off = [n for n, s in peer.monitoring.items() if s == "offline"]
        if on:
            peer.numeric("730", ",".join(on))
        if off:
            peer.numeric("731", ",".join(off))
    else:
        peer.numeric("461", "MONITOR", "Not enough parameters")


@command("ISON")
async def ison(peer: IrcPeer, message: IrcMessage) -> None:
    here = []
    for name in " ".join(message.params).split():
        found = await _account(peer, name)
        if found is not None and peer.app.presence.status(found.id) != "offline":
            here.append(found.name)
    peer.numeric("303", " ".join(here))


@command("USERHOST")
async def userhost(peer: IrcPeer, message: IrcMessage) -> None:
    replies = []
    for name in message.params[:5]:
        found = await _account(peer, name)
        if found is not None:
            sign = "-" if peer.app.presence.status(found.id) == "away" else "+"
            replies.append(f"{found.name}={sign}{found.name}@{peer.irc.name}")
    peer.numeric("302", " ".join(replies))


# messages


@command("PRIVMSG", "NOTICE")
async def privmsg(peer: IrcPeer, message: IrcMessage) -> None:
    quiet = message.command == "NOTICE"  # never an automatic reply to a NOTICE
    if not message.params or not message.params[0]:
        if not quiet:
            peer.numeric("411", f"No recipient given ({message.command})")
        return
    if len(message.params) < 2 or not message.params[1]:
        if not quiet:
            peer.numeric("412", "No text to send")
        return
    target, text = message.params[0], message.params[1]
    if text.startswith("\x01"):
        if not text.startswith("\x01ACTION "):
            return  # other CTCP requests (VERSION, PING...) are not answered
        text = ACTION_PREFIX + text[len("\x01ACTION ") :].rstrip("\x01")
    room = await _target_room(peer, target, quiet)
    if room is None:
        return
    cid = peer.next_cid()
    peer.label_echo(cid)
    params: dict[str, Any] = {"room": room, "cid": cid, "text": text}
    if quiet:
        params["data"] = {"irc": "notice"}
    reply = (message.tags or {}).get("+draft/reply")
    parent = parse_msgid(reply) if reply else None
    if parent is not None and parent[0] == room:
        params["reply_to"] = parent[1]
    try:
        await peer.op("send", **params)
    except HomerError as exc:
        if not quiet:
            _cannot_send(peer, message.command, target, exc)


async def _target_room(peer: IrcPeer, target: str, quiet: bool) -> str | None:
    """The room a PRIVMSG, NOTICE or TAGMSG goes to: the channel's, or the DM with a nick."""
    room = _room_of(target)
    if room is not None:
        if room not in peer.channels:
            if not quiet:
                peer.numeric("404", target, "Cannot send to channel (you're not on it)")
            return None
        return room
    found = peer.dm_rooms.get(name_key(target))
    if found is not None:
        return found
    try:
        info = await peer.op("dm", user=target)
    except HomerError as exc:
        if not quiet:
            if isinstance(exc, NotFound):
                peer.numeric("401", target, "No such nick/channel")
            else:
                _cannot_send(peer, "PRIVMSG", target, exc)
        return None
    peer.show_joined(info)
    return str(info["id"])


def _cannot_send(peer: IrcPeer, command_name: str, target: str, exc: HomerError) -> None:
    if isinstance(exc, RateLimited):
        peer.numeric("263", command_name, f"Please wait {exc.retry_after:.1f} s and try again")
    elif target.startswith("#"):
        peer.numeric("404", target, f"Cannot send to channel ({exc.message})")
    else:
        peer.numeric("401", target, f"Cannot send ({exc.message})")


@command("TAGMSG")
async def tagmsg(peer: IrcPeer, message: IrcMessage) -> None:
    if not message.params:
        return
    tags = message.tags or {}
    room = await _target_room(peer, message.params[0], True)
    if room is None:
        return
    with contextlib.suppress(HomerError):
        if tags.get("+typing") == "active":
            await peer.op("typing", room=room)
        react = tags.get("+draft/react") or tags.get("+draft/unreact")
        parent = parse_msgid(tags.get("+draft/reply", ""))
        if react and parent is not None and parent[0] == room:
            op = "react" if "+draft/react" in tags else "unreact"
            await peer.op(op, room=room, seq=parent[1], key=react, cid=peer.next_cid())


@command("REDACT")
async def redact(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 2):
        return
    channel, ref = message.params[0], message.params[1]
    room = await _target_room(peer, channel, True)
    parent = parse_msgid(ref)
    if room is None or parent is None or parent[0] != room:
        peer.line(
            "FAIL",
            "REDACT",
            "UNKNOWN_MSGID",
            channel,
            ref,
            "This message does not exist",
            source=peer.irc.name,
        )
        return
    params: dict[str, Any] = {"room": room, "seq": parent[1], "cid": peer.next_cid()}
    if len(message.params) > 2 and message.params[2]:
        params["reason"] = message.params[2]
    try:
        await peer.op("redact", **params)
    except (Forbidden, NotFound) as exc:
        code = "REDACT_FORBIDDEN" if isinstance(exc, Forbidden) else "UNKNOWN_MSGID"
        peer.line("FAIL", "REDACT", code, channel, ref, exc.message, source=peer.irc.name)


# history and read markers


async def marker_of(peer: IrcPeer, room: str, seq: int) -> str:
    """A read marker at ``seq`` as ``timestamp=...`` (the time of that message)."""
    if seq <= 0:
        return "*"
    page = await peer.server_op("history", room=room, after=seq - 1, limit=1)
    messages = page["messages"]
    if not messages or messages[0].ts is None:
        return "*"
    return "timestamp=" + irc_time(messages[0].ts)


def _timestamp(value: str) -> float | None:
    import datetime

    if not value.startswith("timestamp="):
        return None
    text = value[len("timestamp=") :].replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@command("MARKREAD")
async def markread(peer: IrcPeer, message: IrcMessage) -> None:
    if not _enough(peer, message, 1):
        return
    channel = message.params[0]
    room = await _target_room(peer, channel, True)
    if room is None:
        peer.line(
            "FAIL", "MARKREAD", "INVALID_TARGET", channel, "No such channel", source=peer.irc.name
        )
        return
    if len(message.params) > 1:
        when = _timestamp(message.params[1])
        if when is None:
            peer.line(
                "FAIL",
                "MARKREAD",
                "INVALID_PARAMS",
                message.params[1],
                "Expected timestamp=...",
                source=peer.irc.name,
            )
            return
        # The newest message at or before that time is the one read.
        page = await peer.server_op("history", room=room, until=when + 0.0005, limit=1)
        seq = page["messages"][-1].seq if page["messages"] else 0
        if seq:
            with contextlib.suppress(HomerError):
                await peer.op("read", room=room, seq=seq)
                return  # the ``unread`` event answers with the marker now in force
    info = await peer.server_op("rooms")
    read = next((r.get("read", 0) for r in info["rooms"] if r["id"] == room), 0)
    peer.line("MARKREAD", channel, await marker_of(peer, room, int(read)), source=peer.irc.name)


@command("CHATHISTORY")
async def chathistory(peer: IrcPeer, message: IrcMessage) -> None:
    sub = message.param(0).upper()
    if sub == "TARGETS":
        await _history_targets(peer, message)
        return
    if len(message.params) < 3:
        peer.line(
            "FAIL",
            "CHATHISTORY",
            "NEED_MORE_PARAMS",
            sub or "*",
            "Missing parameters",
            source=peer.irc.name,
        )
        return
    target = message.params[1]
    room = await _target_room(peer, target, True)
    if room is None:
        peer.line(
            "FAIL",
            "CHATHISTORY",
            "INVALID_TARGET",
            sub,
            target,
            "No such channel",
            source=peer.irc.name,
        )
        return
    limit_text = message.params[-1]
    most = peer.app.config.limits.history_limit
    limit = min(int(limit_text), most) if limit_text.isdigit() and int(limit_text) > 0 else most
    try:
        query = _history_query(sub, room, message.params[2:-1])
    except ValueError as exc:
        peer.line("FAIL", "CHATHISTORY", "INVALID_PARAMS", sub, str(exc), source=peer.irc.name)
        return
    messages: list[Envelope] = []
    for params in query:
        below = params.pop("below", None)
        page = await peer.op("history", room=room, limit=limit, **params)
        messages += [m for m in page["messages"] if below is None or (m.seq or 0) < below]
    if sub == "AROUND":
        messages = sorted({m.seq: m for m in messages}.values(), key=lambda m: m.seq or 0)[:limit]
    _history_batch(peer, target, room, messages)


def _history_query(sub: str, room: str, refs: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``history`` requests a CHATHISTORY subcommand is."""

    def point(ref: str) -> tuple[str, float | int] | None:
        if ref == "*":
            return None
        found = parse_msgid(ref[len("msgid=") :]) if ref.startswith("msgid=") else None
        if found is not None:
            if found[0] != room:
                raise ValueError("that msgid is of another target")
            return "seq", found[1]
        when = _timestamp(ref)
        if when is None:
            raise ValueError(f"expected msgid= or timestamp=, got {ref[:40]!r}")
        return "ts", when

    if sub == "LATEST":
        at = point(refs[0]) if refs else None
        if at is None:
            return [{}]
        return [{"after": at[1]}] if at[0] == "seq" else [{"since": at[1] + 0.0005}]
    if sub in ("BEFORE", "AFTER", "AROUND"):
        at = point(refs[0]) if refs else None
        if at is None:
            raise ValueError("a msgid= or timestamp= is needed")
        kind, value = at
        before = {"before": value} if kind == "seq" else {"until": value}
        after = {"after": value} if kind == "seq" else {"since": value + 0.0005}
        if sub == "BEFORE":
            return [before]
        if sub == "AFTER":
            return [after]
        return [before, after]
    if sub == "BETWEEN":
        if len(refs) < 2:
            raise ValueError("BETWEEN needs two references")
        first, second = point(refs[0]), point(refs[1])
        if first is None or second is None:
            raise ValueError("BETWEEN needs two references")
        low, high = sorted((first[1], second[1]))
        if first[0] == "seq" and second[0] == "seq":
            return [{"after": low, "below": high}]
        return [{"since": low + 0.0005, "until": high}]
    raise ValueError(f"unknown subcommand {sub[:20]!r}")


def _history_batch(peer: IrcPeer, target: str, room: str, messages: list[Envelope]) -> None:
    ref = "h" + secrets.token_hex(3)
    caps = frozenset(peer.caps | {"server-time", "message-tags"})
    other = peer.dms.get(room)
    lines = [render("BATCH", f"+{ref}", "chathistory", target, source=peer.irc.name)]
    for env in messages:
        if other is not None:
            mine = env.sender is not None and name_key(env.sender) == name_key(peer.nick)
            line_target = other if mine else peer.nick
        else:
            line_target = target
        lines += message_lines(env, caps, line_target, peer.irc.name, batch=ref)
    lines.append(render("BATCH", f"-{ref}", source=peer.irc.name))
    peer.write_lines(lines)


async def _history_targets(peer: IrcPeer, message: IrcMessage) -> None:
    first, second = _timestamp(message.param(1)), _timestamp(message.param(2))
    if first is None or second is None:
        peer.line(
            "FAIL",
            "CHATHISTORY",
            "INVALID_PARAMS",
            "TARGETS",
            "Expected two timestamp=",
            source=peer.irc.name,
        )
        return
    low, high = sorted((first, second))
    ref = "t" + secrets.token_hex(3)
    peer.line("BATCH", f"+{ref}", "draft/chathistory-targets", source=peer.irc.name)
    rooms = list(peer.channels) + list(peer.dms)
    for room in rooms:
        page = await peer.server_op("history", room=room, since=low, until=high, limit=1)
        if page["messages"] and page["messages"][-1].ts is not None:
            name = peer.dms.get(room) or "#" + room
            when = irc_time(page["messages"][-1].ts)
            peer.line(
                "CHATHISTORY", "TARGETS", name, when, source=peer.irc.name, tags={"batch": ref}
            )
    peer.line("BATCH", f"-{ref}", source=peer.irc.name)
