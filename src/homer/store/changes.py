"""What edits, redactions, reactions and replies do to the messages they name.

Decision 0019: each change is an event with its own ``seq`` in the room's log, and
the message it changes is kept in its current state in the same transaction. This
module is the pure half of that, used by :class:`homer.store.appends.AppendBatch`:
given the stored messages a batch names, :class:`Change` checks each event against
its target as it stands at that point of the batch (earlier events of the same
batch included) and works out the target's new body.

A change event's body names its target (``target``: a ``seq`` of the same room):

- ``edit``: ``text``, ``data`` (absent: none), ``mentions`` and ``mention_all`` as
  resolved for the new text, and ``keep_previous`` (whether the content replaced is
  kept for moderators; never stored in the event). The target gains ``edited_at``
  and ``edits``; the event gains ``edits``.
- ``redact``: ``reason`` (optional). The target loses its text, data, files,
  mentions and reactions, and gains ``redacted`` (``{by, reason, at}``); its place,
  reply and thread links stay.
- ``react`` / ``unreact``: ``key``. The target's ``reactions`` maps each key to the
  ids of the users who reacted, in order; the event gains ``count``, the key's count
  after it.

A ``msg`` may name ``reply_to`` (any ``msg`` of the room) and ``thread`` (a ``msg``
of the room not itself in a thread); a reply in a thread adds to its root's
``thread_summary`` (``replies``, ``last_seq``, ``last_ts``, ``last_uid`` and the
first ``participants``: :func:`homer.protocol.bodies.with_reply`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import msgspec

from homer.errors import Conflict, InvalidInput, NotFound
from homer.protocol.bodies import CHANGE_KINDS, redacted, with_reply
from homer.store.records import MessageRecord, NewMessage
from homer.store.rows import Rows
from homer.store.search import fold

__all__ = [
    "CHANGE_KINDS",
    "MAX_REACTION_KEYS",
    "Change",
    "Finished",
    "Spot",
    "links",
    "mentioned",
    "search_text",
    "thread_of",
    "unlinked",
]

#: A message's place: (room id, seq).
Spot = tuple[str, int]
#: Distinct reaction keys one message may carry.
MAX_REACTION_KEYS = 50

_MSG = "msg"
_encode = msgspec.json.encode


def links(message: NewMessage) -> bool:
    """Whether ``message`` changes or refers to another message of its room."""
    if message.kind in CHANGE_KINDS:
        return True
    body = message.body
    return isinstance(body, dict) and ("reply_to" in body or "thread" in body)


def unlinked(rows: list[tuple[Any, ...]], records: list[MessageRecord]) -> Finished:
    """What a batch that changes and refers to nothing leaves to write: its rows, each
    one's search text and mentions (the common case, without :class:`Change`)."""
    extras: list[tuple[int | None, str | None]] = [(None, search_text(r)) for r in records]
    mentions = [
        (r.room_id, uid, r.seq, r.sender_id)
        for r in records
        if "mentions" in r.body or "mention_all" in r.body
        for uid in mentioned(r)
    ]
    return Finished(rows, extras, [], [], [], mentions)


def search_text(message: MessageRecord) -> str | None:
    """The text search finds ``message`` by (folded), or ``None``: only a ``msg``'s,
    unless redacted or empty."""
    if message.kind != _MSG or "redacted" in message.body:
        return None
    text = message.body.get("text")
    return fold(text) if isinstance(text, str) and text else None


def thread_of(message: MessageRecord) -> int | None:
    """The ``seq`` of the root of the thread ``message`` is a reply in, if any."""
    thread = message.body.get("thread") if message.kind == _MSG else None
    return thread if type(thread) is int else None


def mentioned(message: MessageRecord) -> list[str]:
    """The user ids ``message`` mentions, with ``*`` for ``@room``/``@all``."""
    if message.kind != _MSG or "redacted" in message.body:
        return []
    body = message.body
    users = [uid for uid in body.get("mentions") or () if isinstance(uid, str)]
    if body.get("mention_all") is True:
        users.append("*")
    return [uid for uid in dict.fromkeys(users) if uid != message.sender_id]


class Finished(msgspec.Struct, frozen=True):
    """What a batch's changes leave to write (see :class:`~homer.store.appends.Plan`)."""

    rows: list[tuple[Any, ...]]
    extras: list[tuple[int | None, str | None]]
    updates: list[tuple[MessageRecord, bytes]]
    edits: list[tuple[str, int, int, bytes | None]]
    redacted: list[Spot]
    mentions: list[tuple[str, str, int, str]]


class Change:
    """The messages one batch names, as they stand after each of its events."""

    __slots__ = ("_current", "_edits", "_redacted", "_rows", "_stored")

    def __init__(self, stored: Mapping[Spot, MessageRecord]) -> None:
        self._stored = stored
        #: Messages of the batch, and stored ones it changed, as they stand now.
        self._current: dict[Spot, MessageRecord] = {}
        #: Where each ``msg`` of the batch is in the plan's rows.
        self._rows: dict[Spot, int] = {}
        self._edits: list[tuple[str, int, int, bytes | None]] = []
        self._redacted: list[Spot] = []

    def apply(self, event: MessageRecord, body: bytes, row: int) -> tuple[MessageRecord, bytes]:
        """Check ``event`` (numbered, to be row ``row``) against what it names and
        apply it; return it as it is to be stored. Raises the error that refuses it,
        having changed nothing."""
        kind = event.kind
        if kind in CHANGE_KINDS:
            event = self._change(event)
            body = _encode(event.body)
        elif kind == _MSG:
            if "reply_to" in event.body or "thread" in event.body:
                self._reply(event)
            self._current[(event.room_id, event.seq)] = event
            self._rows[(event.room_id, event.seq)] = row
        return event, body

    def finish(self, rows: list[tuple[Any, ...]], records: list[MessageRecord]) -> Finished:
        """The rows with the batch's own messages in their final state, and what the
        stored messages changed need written."""
        final_rows = list(rows)
        updates: list[tuple[MessageRecord, bytes]] = []
        for spot, message in self._current.items():
            row = self._rows.get(spot)
            if row is None:
                updates.append((message, _encode(message.body)))
            elif message is not records[row]:
                final_rows[row] = Rows.message_row(message, _encode(message.body))
                records[row] = message
        extras = [(thread_of(r), search_text(r)) for r in records]
        mentions = [
            (r.room_id, uid, r.seq, r.sender_id)
            for r in [*records, *(message for message, _ in updates)]
            for uid in mentioned(r)
        ]
        return Finished(final_rows, extras, updates, self._edits, self._redacted, mentions)

    # -- checks -------------------------------------------------------------------

    def _target(self, room_id: str, seq: object, what: str) -> MessageRecord:
        if type(seq) is not int or seq < 1:
            raise InvalidInput(f"{what} must be the seq of a message of the room")
        spot = (room_id, seq)
        found = self._current.get(spot) or self._stored.get(spot)
        if found is None:
            raise NotFound(f"no message {seq} in {room_id!r}")
        if found.kind != _MSG:
            raise InvalidInput(f"{seq} is a {found.kind!r} event, not a message")
        return found

    def _reply(self, reply: MessageRecord) -> None:
        body = reply.body
        if "reply_to" in body:
            self._target(reply.room_id, body["reply_to"], "reply_to")
        if "thread" not in body:
            return
        root = self._target(reply.room_id, body["thread"], "thread")
        if thread_of(root) is not None:
            raise InvalidInput(
                f"{root.seq} is a reply in thread {thread_of(root)}: reply to that root"
            )
        summed = with_reply(root.body, reply.seq, reply.ts, reply.sender_id)
        if summed is not None:
            self._set(root, summed)

    def _change(self, event: MessageRecord) -> MessageRecord:
        body = event.body
        target = self._target(event.room_id, body.get("target"), "target")
        kind = event.kind
        if "redacted" in target.body:
            raise InvalidInput(f"message {target.seq} was redacted")
        if kind == "edit":
            return self._edit(event, target)
        if kind == "redact":
            self._set(target, redacted(target.body, event.sender_id, body.get("reason"), event.ts))
            self._redacted.append((target.room_id, target.seq))
            return event
        key = body.get("key")
        reactions = {k: list(v) for k, v in (target.body.get("reactions") or {}).items()}
        users = reactions.get(key, []) if isinstance(key, str) else []
        if kind == "react":
            if event.sender_id in users:
                raise Conflict(f"you already reacted with {key!r}")
            if key not in reactions and len(reactions) >= MAX_REACTION_KEYS:
                raise InvalidInput(f"a message carries at most {MAX_REACTION_KEYS} reactions")
            users = reactions[key] = [*users, event.sender_id]
        else:
            if event.sender_id not in users:
                raise NotFound(f"you have no {key!r} reaction on message {target.seq}")
            users.remove(event.sender_id)
            if users:
                reactions[key] = users
            else:
                del reactions[key]
        new = {**target.body, "reactions": reactions}
        if not reactions:
            del new["reactions"]
        self._set(target, new)
        return replace(event, body={**body, "count": len(users)})

    def _edit(self, event: MessageRecord, target: MessageRecord) -> MessageRecord:
        body = dict(event.body)
        keep = body.pop("keep_previous", False) is True
        edits = int(target.body.get("edits", 0)) + 1
        new = {k: v for k, v in target.body.items() if k not in ("data", "mentions", "mention_all")}
        new.update(text=body.get("text", ""), edited_at=event.ts, edits=edits)
        for name in ("data", "mentions", "mention_all"):
            if name in body:
                new[name] = body[name]
        previous = None
        if keep:
            old = {k: target.body[k] for k in ("text", "data") if k in target.body}
            previous = _encode({**old, "ts": target.body.get("edited_at", target.ts)})
        self._edits.append((event.room_id, target.seq, event.seq, previous))
        self._set(target, new)
        body["edits"] = edits
        return replace(event, body=body)

    def _set(self, target: MessageRecord, body: dict[str, Any]) -> None:
        self._current[(target.room_id, target.seq)] = replace(target, body=body)
