"""History over IRC: ``draft/chathistory`` on Homer's history, ``draft/read-marker``
on its read markers, and the replay at registration for clients that cannot ask."""

from __future__ import annotations

import contextlib
import datetime
import secrets
from typing import TYPE_CHECKING, Any, Final

from homer.errors import HomerError
from homer.protocol.envelope import Envelope
from homer.protocol.irc import IrcMessage, render
from homer.store.records import name_key
from homer.transports.irc_commands import command, enough, target_room
from homer.transports.irc_lines import irc_time, message_lines, parse_msgid

if TYPE_CHECKING:
    from homer.transports.irc import IrcPeer

__all__ = ["MILLISECOND", "PLAYBACK", "marker_of", "play_back"]

#: IRC's times are in milliseconds, cut off: a time stands for its whole millisecond.
MILLISECOND: Final = 0.001

#: The most events of each room replayed at registration to a client without
#: ``draft/chathistory``.
PLAYBACK: Final = 100


async def play_back(peer: IrcPeer, info: dict[str, Any]) -> None:
    """What the user missed in a room since their read marker, for a client that
    cannot ask for history itself: the newest :data:`PLAYBACK` stored events (less
    the user's own joins and leaves), in a ``chathistory`` batch where the client
    took ``batch``, with the tags it took (``server-time``: their times)."""
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
    uid = peer.session.user.id if peer.session is not None else None
    # Its own joins and leaves were shown as they are now (the JOIN just sent).
    shown = [m for m in messages if m.uid != uid or m.kind not in ("join", "leave")]
    _history_batch(peer, target, room, shown, batch="batch" in peer.caps)
    played = peer.played[room] = messages[-1].seq or 0
    # What was replayed is not delivered again when it arrives live (on another
    # node's broker message, after the welcome): the connection's delivery cursor.
    peer.app.hub.move_cursor(room, peer, played)


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
    if not value.startswith("timestamp="):
        return None
    text = value[len("timestamp=") :].replace("Z", "+00:00")
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@command("MARKREAD")
async def markread(peer: IrcPeer, message: IrcMessage) -> None:
    if not enough(peer, message, 1):
        return
    channel = message.params[0]
    room = await target_room(peer, channel, True)
    if room is None:
        peer.fail("MARKREAD", "INVALID_TARGET", channel, "No such channel")
        return
    if len(message.params) > 1:
        when = _timestamp(message.params[1])
        if when is None:
            peer.fail("MARKREAD", "INVALID_PARAMS", message.params[1], "Expected timestamp=...")
            return
        # The newest message at or before that time is the one read.
        page = await peer.server_op("history", room=room, until=when + MILLISECOND, limit=1)
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
        peer.fail("CHATHISTORY", "NEED_MORE_PARAMS", sub or "*", "Missing parameters")
        return
    target = message.params[1]
    room = await target_room(peer, target, True)
    if room is None:
        peer.fail("CHATHISTORY", "INVALID_TARGET", sub, target, "No such channel")
        return
    limit_text = message.params[-1]
    most = peer.app.config.limits.history_limit
    limit = min(int(limit_text), most) if limit_text.isdigit() and int(limit_text) > 0 else most
    try:
        query = _history_query(sub, room, message.params[2:-1], limit)
    except ValueError as exc:
        peer.fail("CHATHISTORY", "INVALID_PARAMS", sub, str(exc))
        return
    messages: list[Envelope] = []
    for params in query:
        below = params.pop("below", None)
        page = await peer.op("history", room=room, **{"limit": limit, **params})
        messages += [m for m in page["messages"] if below is None or (m.seq or 0) < below]
    if sub == "AROUND":
        messages = sorted({m.seq: m for m in messages}.values(), key=lambda m: m.seq or 0)
    _history_batch(peer, target, room, messages)


def _history_query(sub: str, room: str, refs: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
    """The ``history`` requests a CHATHISTORY subcommand is (each with ``limit``
    unless it says otherwise). A ``timestamp=`` names its whole millisecond: what
    is "after" it starts at the next one."""

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
        return [{"after": at[1]}] if at[0] == "seq" else [{"since": at[1] + MILLISECOND}]
    if sub in ("BEFORE", "AFTER", "AROUND"):
        at = point(refs[0]) if refs else None
        if at is None:
            raise ValueError("a msgid= or timestamp= is needed")
        kind, value = at
        before = {"before": value} if kind == "seq" else {"until": value}
        after = {"after": value} if kind == "seq" else {"since": value + MILLISECOND}
        if sub == "BEFORE":
            return [before]
        if sub == "AFTER":
            return [after]
        # Centred on the reference, which it includes: half before, the rest from it.
        half = limit // 2
        from_it = {"after": value - 1} if kind == "seq" else {"since": value}
        return ([{**before, "limit": half}] if half else []) + [{**from_it, "limit": limit - half}]
    if sub == "BETWEEN":
        if len(refs) < 2:
            raise ValueError("BETWEEN needs two references")
        first, second = point(refs[0]), point(refs[1])
        if first is None or second is None:
            raise ValueError("BETWEEN needs two references")
        low, high = sorted((first[1], second[1]))
        if first[0] == "seq" and second[0] == "seq":
            return [{"after": low, "below": high}]
        return [{"since": low + MILLISECOND, "until": high}]
    raise ValueError(f"unknown subcommand {sub[:20]!r}")


def _history_batch(
    peer: IrcPeer, target: str, room: str, messages: list[Envelope], *, batch: bool = True
) -> None:
    """Stored events as IRC lines, with the tags the client negotiated, in a
    ``chathistory`` batch when ``batch`` (a client that asked for history has
    ``batch``; a replay uses one only where the client took ``batch``)."""
    caps = frozenset(peer.caps)
    ref = "h" + secrets.token_hex(3) if batch else None
    other = peer.dms.get(room)
    lines = [render("BATCH", f"+{ref}", "chathistory", target, source=peer.irc.name)] if ref else []
    for env in messages:
        if other is not None:
            mine = env.sender is not None and name_key(env.sender) == name_key(peer.nick)
            line_target = other if mine else peer.nick
        else:
            line_target = target
        lines += message_lines(env, caps, line_target, peer.irc.name, batch=ref)
    if ref:
        lines.append(render("BATCH", f"-{ref}", source=peer.irc.name))
    peer.write_lines(lines)


async def _history_targets(peer: IrcPeer, message: IrcMessage) -> None:
    first, second = _timestamp(message.param(1)), _timestamp(message.param(2))
    if first is None or second is None:
        peer.fail("CHATHISTORY", "INVALID_PARAMS", "TARGETS", "Expected two timestamp=")
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
