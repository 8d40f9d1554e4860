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
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final, cast

from homer.core.session import CloseCode
from homer.errors import HomerError
from homer.identity.accounts import User
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
from homer.transports import irc_registration  # noqa: F401  (its commands)
from homer.transports.framed import StreamFormat
from homer.transports.irc_commands import COMMANDS, Multiline, names
from homer.transports.irc_history import marker_of
from homer.transports.irc_lines import RENDER_CAPS, IrcFormat, hostmask, irc_time, message_lines
from homer.transports.native import NativePeer

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["IrcPeer", "IrcServer"]

log = logging.getLogger("homer.irc")


#: The commands a client may send before it is registered.
_BEFORE_REGISTRATION: Final = frozenset(
    {"CAP", "PASS", "NICK", "USER", "AUTHENTICATE", "PING", "PONG", "QUIT"}
)
#: What a guest may do: look around, not talk.
_FOR_GUESTS: Final = _BEFORE_REGISTRATION | {
    "ISON",
    "LIST",
    "MODE",
    "MONITOR",
    "MOTD",
    "USERHOST",
    "WHO",
    "WHOIS",
}
#: The most commands that may wait for their turn; past it the client is too fast.
_QUEUE_LIMIT: Final = 200
#: Events about the user rather than a room: each connection shows them its own way.
_OWN_EVENTS: Final = frozenset({"joined", "left", "invited", "unread"})


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
        #: The nicks of the guests connected here (name keys).
        self.guests: set[str] = set()

    def format(self, caps: set[str]) -> IrcFormat:
        key = frozenset(caps & RENDER_CAPS)
        found = self._formats.get(key)
        if found is None:
            found = self._formats[key] = IrcFormat(key, self.name)
        return found

    def __call__(self) -> IrcPeer:
        return IrcPeer(self)


class IrcPeer(NativePeer, asyncio.Protocol):
    """One IRC connection, registered or not."""

    __slots__ = (
        "_cid_serial",
        "_echo_labels",
        "_echoed",
        "_following",
        "_held",
        "_label",
        "_labeled",
        "account",
        "away_seen",
        "bot",
        "caps",
        "channels",
        "cid_prefix",
        "dm_rooms",
        "dms",
        "guest",
        "irc",
        "monitoring",
        "multiline",
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
        "uid",
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
        self.account: tuple[User, str] | None = None
        self.registered = False
        #: The user's id once the welcome is written (the hot path of :meth:`push`).
        self.uid: str | None = None
        #: Registered as a guest (no account, no session).
        self.guest = False
        #: Events that came before the welcome was written; then ``None``.
        self._held: list[Envelope] | None = []
        #: What follows a join here (names, read marker) while it runs.
        self._following: list[asyncio.Task[None]] | None = None
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
        #: The ``draft/multiline`` batch the client is sending, if any.
        self.multiline: Multiline | None = None
        #: User mode ``+B``: this connection is a bot.
        self.bot = False
        #: Room -> the last seq replayed at registration (live copies are skipped).
        self.played: dict[str, int] = {}
        #: Room -> the user's read marker as last known here.
        self.read_at: dict[str, int] = {}

    # -- asyncio.Protocol -----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        lifecycle = self.lifecycle
        lifecycle.received(self.app.clock())
        if lifecycle.ended:
            return
        for line in self.reader.feed(data):
            item: IrcMessage | IrcError
            if isinstance(line, IrcError):
                item = line
            else:
                try:
                    item = parse(line)
                except IrcSyntaxError as exc:
                    item = exc
            queue = self.waiting_items()  # commands, and bad lines to answer in turn
            if len(queue) >= _QUEUE_LIMIT:
                self.close(CloseCode.TOO_SLOW, "Excess Flood")
                return
            queue.append(item)
        self.start_work()

    def _refuse(self, error: IrcError) -> None:
        if isinstance(error, LineTooLong):
            self.numeric("417", "Input line was too long")
        elif isinstance(error, NotUtf8):
            self.fail("*", "INVALID_UTF8", "Lines must be UTF-8")
        else:
            self.fail("*", "INVALID_LINE", str(error))

    async def handle(self, item: IrcMessage | IrcError) -> None:
        """A command, or the answer to a bad line, in its turn."""
        if isinstance(item, IrcError):
            self._refuse(item)
        else:
            await self._run(item)

    async def _run(self, message: IrcMessage) -> None:
        command = message.command
        handler = COMMANDS.get(command)
        if not self.registered and command not in _BEFORE_REGISTRATION:
            self.numeric("451", "You have not registered")
            return
        if self.guest and command not in _FOR_GUESTS:
            target = message.param(0) or command
            self.numeric("477", target, "You need to log in to an account for that")
            return
        label = (message.tags or {}).get("label")
        if label is not None and "labeled-response" in self.caps and self.registered:
            self._label, self._labeled = label[:64], []
        try:
            if handler is None:
                self.numeric("421", command, "Unknown command")
            else:
                await handler(self, message)
            while self._following:
                await asyncio.wait(list(self._following))
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
        self.write_lines([render(command, *_middles(params), source=source, tags=tags)])

    def numeric(self, code: str, *params: str) -> None:
        """A numeric reply to this client: ``:server CODE nick params...``."""
        self.write_lines([self.numeric_line(code, *params)])

    def numeric_line(self, code: str, *params: str) -> bytes:
        return render(code, self.nick, *_middles(params), source=self.irc.name)

    def fail(self, command: str, code: str, *params: str) -> None:
        """A standard reply (``FAIL COMMAND CODE [context...] :description``)."""
        self.line("FAIL", command, code, *params, source=self.irc.name)

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
        """The hot path: someone else's message in a channel shown here is the shared
        bytes of this connection's format, as on WebSocket; anything else is looked at
        by :meth:`_render`."""
        env = out.envelope
        uid = self.uid
        if uid is not None and env.kind == "msg" and env.uid != uid and env.room in self.channels:
            # FramedSender.push, inline: one call less on every delivery.
            transport = self._writable()
            if transport is not None:
                try:
                    data = out.render(self.fmt)
                except Exception:
                    self._unrenderable()
                    return
                transport.write(data)
            return
        self.push_rendered(out)

    def push_many(self, outs: list[Outgoing]) -> None:
        uid, channels = self.uid, self.channels
        if uid is None:
            self.push_many_rendered(outs)
            return
        for out in outs:  # a loop, not all(): no generator on the hot path
            env = out.envelope
            if env.kind != "msg" or env.uid == uid or env.room not in channels:
                self.push_many_rendered(outs)
                return
        super().push_many(outs)

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
            if self._mine(env):
                if kind in ("join", "leave"):  # shown when ``joined`` and ``left`` came
                    return b""
                echo = self._own_echo(env, "#" + room)
                if echo is not None:
                    return echo
            if kind == "topic" and isinstance(env.body, dict):  # for TOPIC's answer
                self.channels[room] = {**self.channels[room], "topic": env.body.get("topic", "")}
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

    def _mine(self, env: Envelope) -> bool:
        """Whether this connection's user made the event."""
        return env.uid is not None and env.uid == self.uid

    def _own_echo(self, env: Envelope, target: str) -> bytes | None:
        """A message this connection sent, as it comes back: nothing without
        ``echo-message``, the answer to its labeled command, or ``None`` (shown as
        anyone's message is)."""
        cid = env.cid or ""
        if env.kind != "msg" or not cid.startswith(self.cid_prefix):
            return None
        if "echo-message" not in self.caps:
            return b""
        label = self._echo_labels.pop(cid, None)
        if label is None:
            return None
        self._echoed = label
        lines = message_lines(env, frozenset(self.caps), target, self.irc.name)
        return labeled(lines, label, self.irc.name)

    def _direct(self, env: Envelope, other: str) -> bytes:
        """A direct message: to this nick when the other wrote it; from this nick to
        the other when written here or on another of this user's connections."""
        if env.kind != "msg":
            return b""  # the DM's own bookkeeping has no IRC form
        mine = self._mine(env)
        if mine:
            echo = self._own_echo(env, other)
            if echo is not None:
                return echo
        target = other if mine else self.nick
        return b"".join(message_lines(env, frozenset(self.caps), target, self.irc.name))

    def _typing(self, env: Envelope) -> bytes:
        if "message-tags" not in self.caps or env.sender is None:
            return b""
        if self._mine(env):
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
            info = envelope.body if isinstance(envelope.body, dict) else {}
            if self.show_joined(info):
                self._follow(self.after_join(str(info["id"]), int(info.get("read") or 0)))
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

    def show_joined(self, info: dict[str, Any]) -> bool:
        """Show a room the user is now in: a DM becomes a nick to talk to; a
        channel gets its ``JOIN`` and topic, and ``True``: its names (and read
        marker) are to follow (:meth:`after_join`)."""
        room = str(info.get("id", ""))
        if info.get("kind") == "dm":
            users = (info.get("meta") or {}).get("users") or []
            others = [u for u in users if name_key(u) != name_key(self.nick)] or users[:1]
            if others:
                self.dms[room] = others[0]
                self.dm_rooms[name_key(others[0])] = room
            return False
        if room in self.channels:
            return False
        self.channels[room] = info
        channel = "#" + room
        if "extended-join" in self.caps:
            self.line("JOIN", channel, self.nick, self.realname or self.nick, source=self.me)
        else:
            self.line("JOIN", channel, source=self.me)
        topic = str(info.get("topic") or "")
        if topic:
            self.numeric("332", channel, topic)
        return True

    def _follow(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` now; the command running, if any, ends after it (a ``JOIN``'s
        answer is its names too, before the next command's)."""
        task = asyncio.get_running_loop().create_task(work)
        following = self._following
        if following is None:
            following = self._following = []
        following.append(task)
        task.add_done_callback(self._followed)

    def _followed(self, task: asyncio.Task[None]) -> None:
        following = self._following
        if following is not None and task in following:
            following.remove(task)
            if not following:
                self._following = None
        if not task.cancelled() and task.exception() is not None:
            log.error("IRC work after a join failed", exc_info=task.exception())

    async def after_join(self, room: str, read: int) -> None:
        """The names, and the read marker for a client that keeps them."""
        with contextlib.suppress(HomerError):
            await names(self, room)
            if "draft/read-marker" in self.caps:
                await self._show_marker(room, read)

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
            self.app.spawn(self._show_marker(envelope.room or "", seq))

    async def _show_marker(self, room: str, seq: int) -> None:
        """``MARKREAD`` with the user's read marker in ``room``, at ``seq``."""
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
        if self.guest:
            self.irc.guests.discard(name_key(self.nick))
        seen = self._seen_up_to()
        super().connection_lost(exc)
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
        what the replay showed already), and the hot path of :meth:`push` opens."""
        held, self._held = self._held, None
        if self.session is not None:
            self.uid = self.session.user.id
        played = self.played
        for envelope in held or ():
            if envelope.op == "msg" and (envelope.seq or 0) <= played.get(envelope.room or "", 0):
                continue
            self.send(envelope)


def _middles(params: tuple[str, ...]) -> tuple[str, ...]:
    """Parameters as they can go out: a value a client gave (a channel, a nick, a
    msgid) may hold a space or start with ``:`` where only the last parameter may,
    and is then ``*`` in any other place, so that the line splits as meant."""
    if len(params) < 2:
        return params
    *middle, last = params
    if all(value and " " not in value and value[0] != ":" for value in middle):
        return params
    safe = [value if value and " " not in value and value[0] != ":" else "*" for value in middle]
    return (*safe, last)


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
