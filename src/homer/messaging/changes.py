"""Editing, redacting and reacting to messages; threads, earlier versions, search.

Each change is an event in the room's log with its own ``seq`` (decision 0019),
appended through the same writer as messages: durable before it is acknowledged
or delivered, de-duplicated by client id, in order on every node. Who may change
a message is decided here, before the append (a message's sender never changes);
whether the message is still in a state the change applies to is decided inside
the append's transaction (:mod:`homer.store.changes`).

- ``edit`` and ``redact``: the message's sender, or a moderator of the room (its
  owner, or ``room.moderate``). A redaction deletes the message's files.
- ``react`` / ``unreact``: any member.
- ``history_of`` (earlier versions): moderators only.
- ``search``: the rooms the user is a member of now.
"""

from __future__ import annotations

import functools
import re
import secrets
import unicodedata
from typing import Any

from homer.clock import Clock, system_clock
from homer.config import MessagesConfig
from homer.errors import Forbidden, InvalidInput, NotAuthorized, NotFound
from homer.identity.accounts import User
from homer.messaging.events import message_envelope
from homer.messaging.ids import message_id
from homer.messaging.mentions import Resolved
from homer.messaging.messages import MessageService, check_cid
from homer.messaging.rendering import render_for
from homer.store.records import MemberRecord, MessageRecord, NewMessage
from homer.store.search import Query

__all__ = ["MAX_EMOJI", "MAX_KEY", "MAX_REASON", "ChangeService", "check_key", "key_pattern"]

#: Characters of a reaction key: a ``:shortcode:``, or one emoji sequence (the
#: longest, a family or a subdivision flag, take 7-11 code points).
MAX_KEY = 64
MAX_EMOJI = 16
#: Characters of a redaction's reason.
MAX_REASON = 500

_SHORTCODE = re.compile(r":[a-z0-9_+\-]{1,62}:")


def check_key(key: object) -> str:
    """A reaction key: a ``:shortcode:``, or an emoji (symbols with their modifiers,
    variation selectors and joiners; no letters, spaces or control characters)."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("key must be an emoji or a :shortcode:")
    if len(key) > MAX_KEY:
        raise InvalidInput(f"key is longer than {MAX_KEY} characters")
    if _SHORTCODE.fullmatch(key):
        return key
    if len(key) > MAX_EMOJI:
        raise InvalidInput(f"an emoji key is at most {MAX_EMOJI} characters")
    keycap = "\u20e3" in key  # 1️⃣, #️⃣: an ASCII digit, #, or * before it
    for char in key:
        category = unicodedata.category(char)
        if (
            category[0] in "LZ"
            or (category[0] == "C" and not _emoji_format(char))
            or (char.isascii() and not (keycap and char in "0123456789#*"))
            or (category[0] == "N" and not char.isascii())
        ):
            raise InvalidInput("key must be an emoji or a :shortcode: like :thumbsup:")
    return key


@functools.cache
def key_pattern() -> str:
    """What :func:`check_key` takes, as a regular expression (for the OpenAPI document):
    a ``:shortcode:``, a keycap, or up to :data:`MAX_EMOJI` characters each of which an
    emoji may hold, listed from this Python's Unicode database."""
    ranges: list[tuple[int, int]] = []
    for point in (*range(0x80, 0x20000), *range(0xE0000, 0xE0200)):
        if _emoji_char(chr(point)):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))
    chars = "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges)
    return f"^(?::[a-z0-9_+\\-]{{1,62}}:|[0-9#*]\ufe0f?\u20e3|[{chars}]{{1,{MAX_EMOJI}}})$"


def _emoji_char(char: str) -> bool:
    """Whether ``char`` may be in an emoji key without a keycap (:func:`check_key`)."""
    category = unicodedata.category(char)
    return not (
        category[0] in "LZ"
        or (category[0] == "C" and not _emoji_format(char))
        or char.isascii()
        or category[0] == "N"
    )


def _emoji_format(char: str) -> bool:
    """Format characters emoji sequences use: the zero-width joiner and tags."""
    return char == "\u200d" or "\U000e0020" <= char <= "\U000e007f"


class ChangeService:
    def __init__(
        self, messages: MessageService, config: MessagesConfig, *, clock: Clock = system_clock
    ) -> None:
        self.messages = messages
        self.store = messages.store
        self.rooms = messages.rooms
        self.authorizer = messages.authorizer
        self.config = config
        self.clock = clock

    # -- changes ----------------------------------------------------------------

    async def edit(
        self, user: User, room_id: str, seq: int, text: str, data: Any = None, *, cid: str | None
    ) -> dict[str, Any]:
        member, target = await self._target(user, room_id, seq)
        self._sender_or_moderator(user, member, target, "edit")
        self.messages.check_body(text, data)
        if not text and data is None and not target.body.get("files"):
            raise InvalidInput("an edit needs text or data")
        body: dict[str, Any] = {
            "target": seq,
            "text": text,
            "keep_previous": self.config.keep_edits,
        }
        if data is not None:
            body["data"] = data
        mentioned = await self.messages.mentions.resolve(user, room_id, text, member)
        mentioned.into(body)
        ack, event = await self._append(user, room_id, "edit", body, cid)
        if not ack["duplicate"]:
            before = Resolved(
                list(target.body.get("mentions") or ()), target.body.get("mention_all") is True
            )
            await self.messages.announce_mentions(user, event, mentioned, before=before)
        return {**ack, "edits": event.body.get("edits", 0)}

    async def redact(
        self, user: User, room_id: str, seq: int, reason: str | None, *, cid: str | None
    ) -> dict[str, Any]:
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise InvalidInput(f"reason must be a string of at most {MAX_REASON} characters")
        member, target = await self._target(user, room_id, seq)
        self._sender_or_moderator(user, member, target, "redact")
        body: dict[str, Any] = {"target": seq}
        if reason:
            body["reason"] = reason
        ack, _ = await self._append(user, room_id, "redact", body, cid)
        files = [f["id"] for f in target.body.get("files") or () if isinstance(f, dict)]
        if files and not ack["duplicate"] and self.messages.files is not None:
            await self.messages.files.forget(files)
        return ack

    async def react(
        self, user: User, room_id: str, seq: int, key: str, *, on: bool, cid: str | None
    ) -> dict[str, Any]:
        key = check_key(key)
        await self._target(user, room_id, seq)
        kind = "react" if on else "unreact"
        ack, event = await self._append(user, room_id, kind, {"target": seq, "key": key}, cid)
        return {**ack, "key": key, "count": event.body.get("count", 0)}

    # -- reading ------------------------------------------------------------------

    async def thread(
        self, user: User, room_id: str, root: int, *, after: int = 0, limit: int = 50
    ) -> dict[str, Any]:
        """A thread's root and its replies past ``after`` (oldest first)."""
        room, _ = await self.rooms.visible(user, room_id)
        history_limit = self.messages.limits.history_limit
        if limit < 1 or limit > history_limit:
            raise InvalidInput(f"limit must be 1-{history_limit}")
        found = await self.store.message_at(room.id, root)
        if found is None or found.kind != "msg":
            raise NotFound(f"no message {root} in {room_id!r}")
        replies = await self.store.thread(room.id, root, after=after, limit=limit + 1)
        more = len(replies) > limit
        rendered = await self.messages.render([found, *replies[:limit]], user.id)
        return {
            "room": room.id,
            "epoch": room.epoch,
            "thread": root,
            "root": rendered[0],
            "messages": rendered[1:],
            "more": more,
        }

    async def history_of(self, user: User, room_id: str, seq: int) -> dict[str, Any]:
        """A message as it is now and the content each of its edits replaced
        (moderators only)."""
        room, member = await self.rooms.visible(user, room_id)
        self._moderator(user, member)
        found = await self.store.message_at(room.id, seq)
        if found is None:
            raise NotFound(f"no message {seq} in {room_id!r}")
        versions = [
            {"edit": edit_seq, **previous}
            for edit_seq, previous in await self.store.edits_of(room.id, seq)
            if previous is not None
        ]
        (current,) = await self.messages.render([found], user.id)
        return {
            "room": room.id,
            "seq": seq,
            "message": current,
            "versions": versions,
            "kept": self.config.keep_edits,
        }

    async def search(
        self,
        user: User,
        query: str,
        *,
        room_id: str | None = None,
        sender: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 20,
    ) -> dict[str, Any]:
        parsed = Query.parse(query)
        most = self.config.search_limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
            raise InvalidInput(f"limit must be 1-{most}")
        if room_id is not None:
            await self.rooms.visible(user, room_id)  # forbidden for a room not one's own
        sender_id = None
        if sender is not None:
            record = await self.store.user_by_name(sender)
            if record is None:
                raise NotFound(f"no user named {sender!r}")
            sender_id = record.id
        hits = await self.store.search(
            user.id,
            parsed,
            room_id=room_id,
            sender_id=sender_id,
            since=since,
            until=until,
            limit=limit,
        )
        names = self.messages.names
        results = [
            {
                "message": message_envelope(
                    render_for(hit.message, user.id), await names.name(hit.message.sender_id)
                ),
                "highlights": [list(span) for span in hit.highlights],
            }
            for hit in hits
        ]
        return {"query": query, "results": results}

    # -- helpers --------------------------------------------------------------------

    async def _target(
        self, user: User, room_id: str, seq: int
    ) -> tuple[MemberRecord, MessageRecord]:
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise InvalidInput("seq must be the seq of a message of the room")
        room, member = await self.rooms.visible(user, room_id)
        target = await self.store.message_at(room.id, seq)
        if target is None:
            raise NotFound(f"no message {seq} in {room_id!r}")
        if target.kind != "msg":
            raise NotFound(f"{seq} is a {target.kind!r} event, not a message")
        return member, target

    def _sender_or_moderator(
        self, user: User, member: MemberRecord, target: MessageRecord, what: str
    ) -> None:
        if target.sender_id != user.id:
            try:
                self._moderator(user, member)
            except NotAuthorized:
                raise Forbidden(
                    f"only its sender or a moderator may {what} message {target.seq}"
                ) from None

    def _moderator(self, user: User, member: MemberRecord) -> None:
        if member.role != "owner" and not self.authorizer.can(user, "room.moderate"):
            raise NotAuthorized("room.moderate", user.name)

    async def _append(
        self, user: User, room_id: str, kind: str, body: dict[str, Any], cid: str | None
    ) -> tuple[dict[str, Any], MessageRecord]:
        if cid is None:
            cid = f"{kind}-{secrets.token_urlsafe(12)}"
        check_cid(cid)
        appended = await self.messages.writer.append(
            NewMessage(
                room_id=room_id,
                id=message_id(),
                sender_id=user.id,
                client_id=cid,
                kind=kind,
                ts=self.clock(),
                body=body,
            )
        )
        event = appended.message
        ack = {
            "room": event.room_id,
            "seq": event.seq,
            "id": event.id,
            "cid": event.client_id,
            "ts": event.ts,
            "target": event.body.get("target"),
            "duplicate": appended.duplicate,
        }
        return ack, event
