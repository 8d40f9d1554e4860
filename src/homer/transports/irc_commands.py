"""IRC commands on channels and messages: each one Homer operations run through the
one request pipeline, each refusal the numeric IRC clients expect
(docs/topics/irc.md). The registry every IRC command is in is here too."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from homer.errors import Conflict, Forbidden, HomerError, NotFound, RateLimited
from homer.identity.accounts import User
from homer.protocol.irc import IrcMessage
from homer.store.records import name_key
from homer.transports.irc_lines import ACTION_PREFIX, hostmask, parse_msgid

if TYPE_CHECKING:
    from homer.transports.irc import IrcPeer

__all__ = [
    "COMMANDS",
    "MONITOR_LIMIT",
    "MULTILINE_BYTES",
    "MULTILINE_LINES",
    "Multiline",
    "command",
    "enough",
    "names",
    "room_of",
    "target_room",
]


#: The most nicks one ``MONITOR`` list holds.
MONITOR_LIMIT: Final = 100
#: The most a client's ``draft/multiline`` batch may hold (``CAP LS`` says so).
MULTILINE_BYTES: Final = 8000
MULTILINE_LINES: Final = 100

Command = Callable[["IrcPeer", IrcMessage], Awaitable[None]]
COMMANDS: dict[str, Command] = {}


def command(*names: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        for name in names:
            COMMANDS[name] = func
        return func

    return register


def room_of(channel: str) -> str | None:
    """``#room`` -> ``room`` (lower case), or ``None`` for anything else."""
    if not channel.startswith("#") or len(channel) < 2:
        return None
    return channel[1:].lower()


def shown_room(peer: IrcPeer, channel: str) -> str | None:
    """The room of a channel this connection shows as joined, or ``None`` after
    ``442 ERR_NOTONCHANNEL``."""
    room = room_of(channel)
    if room is None or room not in peer.channels:
        peer.numeric("442", channel, "You're not on that channel")
        return None
    return room


def enough(peer: IrcPeer, message: IrcMessage, count: int) -> bool:
    if len(message.params) < count or not all(message.params[:count]):
        peer.numeric("461", message.command, "Not enough parameters")
        return False
    return True


# channels


@command("JOIN")
async def join(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    if message.params[0] == "0":
        for joined in list(peer.channels):
            with contextlib.suppress(HomerError):
                await peer.op("leave", room=joined)
        return
    for channel in message.params[0].split(","):
        room = room_of(channel)
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
    if not enough(peer, message, 1):
        return
    for channel in message.params[0].split(","):
        room = shown_room(peer, channel)
        if room is None:
            continue
        try:
            await peer.op("leave", room=room)
        except HomerError as exc:
            peer.numeric("442", channel, exc.message)


@command("TOPIC")
async def topic(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    channel = message.params[0]
    room = shown_room(peer, channel)
    if room is None:
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
    """``353`` lines of at most 400 bytes of names, then ``366``, in one write."""
    channel = "#" + room
    members = await members_of(peer, room)
    kind = peer.channels.get(room, {}).get("kind")
    symbol = "@" if kind == "private" else "="
    lines: list[bytes] = []
    line: list[str] = []
    size = 0
    for member in members:
        entry = _prefixed(peer, member)
        if line and size + len(entry) > 400:
            lines.append(peer.numeric_line("353", symbol, channel, " ".join(line)))
            line, size = [], 0
        line.append(entry)
        size += len(entry) + 1
    if line:
        lines.append(peer.numeric_line("353", symbol, channel, " ".join(line)))
    lines.append(peer.numeric_line("366", channel, "End of /NAMES list"))
    peer.write_lines(lines)


@command("NAMES")
async def names_command(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    channel = message.params[0].split(",")[0]
    room = room_of(channel)
    if room is None or room not in peer.channels:
        peer.numeric("366", channel, "End of /NAMES list")
        return
    await names(peer, room)


@command("WHO")
async def who(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    mask = message.params[0]
    room = room_of(mask)
    if room is not None:
        if room in peer.channels:
            for member in await members_of(peer, room):
                _who_line(
                    peer, mask, str(member.get("name")), member.get("status"), member.get("role")
                )
    else:
        found = await _account(peer, mask)
        if found is not None:
            _who_line(peer, "*", found.name, peer.app.presence.now(found.id), None)
    peer.numeric("315", mask, "End of WHO list")


def _who_line(peer: IrcPeer, channel: str, name: str, status: Any, role: Any) -> None:
    flags = ("G" if status in ("away", "offline") else "H") + ("@" if role == "owner" else "")
    peer.numeric("352", channel, name, peer.irc.name, peer.irc.name, name, flags, f"0 {name}")


async def _account(peer: IrcPeer, name: str) -> User | None:
    """The account ``name`` names, or ``None`` (no such account, or not a name)."""
    try:
        return await peer.app.identity.accounts.get(name)
    except HomerError:
        return None


@command("WHOIS")
async def whois(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    name = message.params[-1]
    found = await _account(peer, name)
    if found is None:
        peer.numeric("401", name, "No such nick/channel")
        peer.numeric("318", name, "End of /WHOIS list")
        return
    status = peer.app.presence.now(found.id)
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
        # A guest has no session: the server asks on its behalf (no rate of its own).
        run = peer.op if peer.session is not None else peer.server_op
        page = await run("directory", after=after, limit=200)
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
    if not enough(peer, message, 2):
        return
    channel, target = message.params[0], message.params[1]
    room = shown_room(peer, channel)
    if room is None:
        return
    # Homer's kick of a non-member does nothing and succeeds; IRC says so (441).
    members = {name_key(str(m.get("name", ""))) for m in await members_of(peer, room)}
    if name_key(target) not in members and await _account(peer, target) is not None:
        peer.numeric("441", target, channel, "They aren't on that channel")
        return
    await _on_user(peer, "kick", channel, room, target)


async def _on_user(peer: IrcPeer, op: str, channel: str, room: str, target: str) -> bool:
    """Run ``op`` (kick, ban, unban, invite) on ``target`` in ``room``: whether it
    was done, or the numeric that says why not."""
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
    else:
        return True
    return False


@command("INVITE")
async def invite(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 2):
        return
    target, channel = message.params[0], message.params[1]
    room = shown_room(peer, channel)
    if room is not None and await _on_user(peer, "invite", channel, room, target):
        peer.numeric("341", target, channel)


_KIND_MODES: Final = {"private": "+inst", "announce": "+mnt", "public": "+nt", "dm": "+inst"}


@command("MODE")
async def mode(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    target = message.params[0]
    room = room_of(target)
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
            done = await _on_user(peer, "ban" if adding else "unban", target, room, who)
            if done and not adding:  # a ban shows as its KICK; an unban has no event
                peer.line("MODE", target, "-b", f"{who}!*@*", source=peer.me)
        elif char in "imnst" or char == "o":
            session = peer.session
            moderates = peer.channels[room].get("role") == "owner" or (
                session is not None
                and peer.app.identity.authorizer.can(session.user, "room.moderate")
            )
            if not moderates:
                peer.numeric("482", target, "You're not channel operator")
            else:
                peer.numeric("400", "MODE", f"+{char} follows the room's kind and roles in Homer")
            if char == "o" and args:
                args.pop(0)
        else:
            peer.numeric("472", char, "is unknown mode char to me")


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
    if enough(peer, message, 1):
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
            here = found is not None and peer.app.presence.now(found.id) != "offline"
            peer.monitoring[name_key(name)] = "online" if here else "offline"
            if found is not None and here:
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
        if found is not None and peer.app.presence.now(found.id) != "offline":
            here.append(found.name)
    peer.numeric("303", " ".join(here))


@command("USERHOST")
async def userhost(peer: IrcPeer, message: IrcMessage) -> None:
    replies = []
    for name in message.params[:5]:
        found = await _account(peer, name)
        if found is not None:
            sign = "-" if peer.app.presence.now(found.id) == "away" else "+"
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
    tags = message.tags or {}
    collecting = peer.multiline
    if collecting is not None and tags.get("batch") == collecting.ref:
        collecting.add(message, peer)
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
    await _say(peer, message.command, target, text, tags)


async def _say(
    peer: IrcPeer, command_name: str, target: str, text: str, tags: dict[str, str]
) -> None:
    """One message from IRC into its room, done once it is stored."""
    quiet = command_name == "NOTICE"
    room = await target_room(peer, target, quiet)
    if room is None:
        return
    cid = peer.next_cid()
    peer.label_echo(cid)
    params: dict[str, Any] = {"room": room, "cid": cid, "text": text}
    if quiet:
        params["data"] = {"irc": "notice"}
    reply = tags.get("+draft/reply")
    parent = parse_msgid(reply) if reply else None
    if parent is not None and parent[0] == room:
        params["reply_to"] = parent[1]
    try:
        await peer.op("send", **params)
    except HomerError as exc:
        if not quiet:
            _cannot_send(peer, command_name, target, exc)


class Multiline:
    """A ``draft/multiline`` batch a client is sending: its lines, until it ends."""

    __slots__ = ("command", "failed", "lines", "ref", "tags", "target")

    def __init__(self, ref: str, target: str, tags: dict[str, str]) -> None:
        self.ref = ref
        self.target = target
        self.tags = tags
        self.command = ""
        self.lines: list[str] = []
        self.failed = False

    def add(self, message: IrcMessage, peer: IrcPeer) -> None:
        if self.failed:
            return
        text = message.param(1)
        concat = "draft/multiline-concat" in (message.tags or {})
        if self.lines and concat:
            self.lines[-1] += text
        else:
            self.lines.append(text)
        self.command = self.command or message.command
        size = sum(len(line.encode()) for line in self.lines) + len(self.lines) - 1
        if message.param(0) != self.target or message.command != self.command:
            self._fail(peer, "MULTILINE_INVALID", "Every line goes to the batch's target")
        elif size > MULTILINE_BYTES:
            self._fail(peer, "MULTILINE_MAX_BYTES", str(MULTILINE_BYTES), "Too many bytes")
        elif len(self.lines) > MULTILINE_LINES:
            self._fail(peer, "MULTILINE_MAX_LINES", str(MULTILINE_LINES), "Too many lines")

    def _fail(self, peer: IrcPeer, code: str, *params: str) -> None:
        self.failed = True
        peer.fail("BATCH", code, *params)


@command("BATCH")
async def batch(peer: IrcPeer, message: IrcMessage) -> None:
    """A client's ``draft/multiline`` batch: one message of several lines."""
    ref = message.param(0)
    if ref.startswith("+") and len(ref) > 1:
        if message.param(1) != "draft/multiline" or "draft/multiline" not in peer.caps:
            peer.fail("BATCH", "INVALID_BATCH", "Unsupported batch type")
            return
        peer.multiline = Multiline(ref[1:], message.param(2), message.tags or {})
        return
    collected = peer.multiline
    if not ref.startswith("-") or collected is None or ref[1:] != collected.ref:
        peer.fail("BATCH", "INVALID_BATCH", "No such batch is open")
        return
    peer.multiline = None
    if collected.failed:
        return
    text = "\n".join(collected.lines)
    if not text.strip():
        peer.fail("BATCH", "MULTILINE_INVALID", "The batch has no text")
        return
    await _say(peer, collected.command or "PRIVMSG", collected.target, text, collected.tags)


async def target_room(peer: IrcPeer, target: str, quiet: bool) -> str | None:
    """The room a PRIVMSG, NOTICE or TAGMSG goes to: the channel's, or the DM with a nick."""
    room = room_of(target)
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
    room = await target_room(peer, message.params[0], True)
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
    if not enough(peer, message, 2):
        return
    channel, ref = message.params[0], message.params[1]
    room = await target_room(peer, channel, True)
    parent = parse_msgid(ref)
    if room is None or parent is None or parent[0] != room:
        peer.fail("REDACT", "UNKNOWN_MSGID", channel, ref, "This message does not exist")
        return
    params: dict[str, Any] = {"room": room, "seq": parent[1], "cid": peer.next_cid()}
    if len(message.params) > 2 and message.params[2]:
        params["reason"] = message.params[2]
    try:
        await peer.op("redact", **params)
    except (Forbidden, NotFound) as exc:
        code = "REDACT_FORBIDDEN" if isinstance(exc, Forbidden) else "UNKNOWN_MSGID"
        peer.fail("REDACT", code, channel, ref, exc.message)
