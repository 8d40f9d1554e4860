"""How a batch of messages is appended, decided once for every adapter, without I/O.

An adapter reads where each room of the batch ends (:data:`Tail`) and the stored
messages the batch may repeat; :meth:`AppendBatch.plan` decides the rest, message by
message, in batch order:

- one holding a NUL character in an id, its kind or its text: ``InvalidInput``
  (PostgreSQL cannot keep one in a text column, so no store keeps one: what a
  client may send does not depend on the store);
- one for a room that does not exist: ``NotFound``;
- one with the (room, sender, client id) of a stored message, or of one before it in
  the batch: that message again, ``duplicate=True`` (exactly once in history);
- one whose body is not JSON: ``InvalidInput``;
- a change (:data:`CHANGE_KINDS`) whose target is missing, not a ``msg``, or in a
  state the change does not apply to (see :mod:`homer.store.changes`), and a
  ``msg`` whose ``reply_to`` or ``thread`` names no fitting message: that error;
- any other: its room's next sequence number, and a ``ts`` no older than the room's
  message before it (within a room time never goes back as ``seq`` grows, whatever
  the writers' clocks, so a client that follows a room by time misses nothing).

The adapter reads beforehand the stored messages the batch changes or refers to
(:meth:`AppendBatch.spots`), and then inserts :attr:`Plan.rows` (with
:attr:`Plan.extras`), writes the changed messages' new state (:attr:`Plan.updates`)
and what follows from it (edits, mentions, search), moves each room in
:attr:`Plan.rooms` to its new ``last_seq`` and adds to its count of messages that
can be unread, and adds each sender's own to their membership
(:attr:`Plan.senders`), all in the same transaction (the counts are those of
:mod:`homer.store.rules`; decision 0019).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from homer.errors import HomerError, InvalidInput, NotFound
from homer.store.changes import CHANGE_KINDS, Change, Spot, links, unlinked
from homer.store.records import Appended, MessageRecord, NewMessage
from homer.store.rows import Rows
from homer.store.rules import UNREAD_KIND

__all__ = ["AppendBatch", "Key", "Plan", "Spot", "Tail", "holds_nul"]

#: What makes a message a resend: (room id, sender id, client id).
Key = tuple[str, str, str]

_encode = msgspec.json.encode
_NUL = "the text, cid and ids of a message cannot hold a NUL character (U+0000)"


#: Where a room's history ends: its ``last_seq``, and the ``ts`` of its last stored
#: message (``None`` when it has none, say after a purge).
Tail = tuple[int, float | None]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to write for a batch, and the outcome of each of its messages."""

    outcomes: list[Appended | HomerError]
    #: The messages to insert, as rows in ``MESSAGE_COLUMNS`` order (bodies encoded).
    rows: list[tuple[Any, ...]]
    #: The new ``last_seq`` of each room that grew.
    grown: dict[str, int]
    #: How many messages of :data:`~homer.store.rules.UNREAD_KIND` each room gained.
    counted: dict[str, int]
    #: How many of those each (room id, sender id) sent.
    sent: dict[tuple[str, str], int]
    #: Beside each row: (thread root or ``None``, searchable text or ``None``).
    extras: list[tuple[int | None, str | None]]
    #: Stored messages changed by the batch, in their state after the whole batch,
    #: with that body encoded.
    updates: list[tuple[MessageRecord, bytes]]
    #: Edit events to record: (room id, target seq, event seq, encoded previous
    #: content or ``None`` when earlier versions are not kept).
    edits: list[tuple[str, int, int, bytes | None]]
    #: Messages redacted: their edit events lose their copies of the content.
    redacted: list[Spot]
    #: (room id, user id or ``*``, seq, sender id) of every mention to record, after
    #: the stored mentions of the :attr:`updates` are dropped.
    mentions: list[tuple[str, str, int, str]]

    @property
    def searchable(self) -> list[tuple[str, int, str, float, str]]:
        """(room id, seq, sender id, ts, text) of each new row with searchable text."""
        return [
            (row[0], row[1], row[3], row[6], extra[1])
            for row, extra in zip(self.rows, self.extras, strict=True)
            if extra[1] is not None
        ]

    @property
    def rooms(self) -> list[tuple[str, int, int]]:
        """Each room that grew: its id, new ``last_seq`` and how many to add to its
        count of messages that can be unread."""
        return [(room_id, seq, self.counted.get(room_id, 0)) for room_id, seq in self.grown.items()]

    @property
    def senders(self) -> list[tuple[str, str, int]]:
        """(room id, sender id, how many): what to add to each sender's ``own_after``
        (a sender who is not a member has no count to keep)."""
        return [(room_id, sender_id, n) for (room_id, sender_id), n in self.sent.items()]


def holds_nul(message: NewMessage) -> bool:
    """Whether an id, the kind or the text of ``message`` holds a NUL character."""
    text = message.body.get("text")
    return (
        "\x00" in message.room_id
        or "\x00" in message.id
        or "\x00" in message.sender_id
        or "\x00" in message.client_id
        or "\x00" in message.kind
        or (isinstance(text, str) and "\x00" in text)
    )


def _encoded(body: Any) -> bytes | None:
    """The body as JSON, or ``None`` if it is not JSON (that message alone fails)."""
    try:
        return _encode(body)
    except (TypeError, msgspec.EncodeError):
        return None


class AppendBatch:
    """Messages to append in one transaction, with what can be checked before it."""

    __slots__ = ("_bodies", "_linked", "_refused", "messages", "room_ids")

    def __init__(self, messages: Sequence[NewMessage]) -> None:
        self.messages = messages
        self._bodies: list[bytes | None] = []
        self._refused: list[bool] = []
        rooms: set[str] = set()
        #: Whether a message changes or refers to another (most batches: none).
        self._linked = False
        for message in messages:
            self._bodies.append(_encoded(message.body))
            refused = holds_nul(message)
            self._refused.append(refused)
            if not refused:
                rooms.add(message.room_id)
                self._linked = self._linked or links(message)
        #: The rooms the batch may grow, sorted: the order writers lock them in.
        self.room_ids = sorted(rooms)

    def keys(self, rooms: Container[str]) -> list[Key]:
        """The keys of the messages that may repeat a stored one (those of ``rooms``,
        the rooms that exist), each once, for the adapter to look up."""
        keys: dict[Key, None] = {}
        for message, refused in zip(self.messages, self._refused, strict=True):
            if not refused and message.room_id in rooms:
                keys[(message.room_id, message.sender_id, message.client_id)] = None
        return list(keys)

    def spots(self, rooms: Container[str]) -> list[Spot]:
        """The stored messages the batch may change or refer to (in ``rooms``, the
        rooms that exist), each once, for the adapter to read."""
        spots: dict[Spot, None] = {}
        if not self._linked:
            return []
        for message, refused in zip(self.messages, self._refused, strict=True):
            if refused or message.room_id not in rooms:
                continue
            body = message.body
            names = ("target",) if message.kind in CHANGE_KINDS else ("reply_to", "thread")
            for name in names:
                seq = body.get(name) if isinstance(body, dict) else None
                if type(seq) is int and seq > 0:
                    spots[(message.room_id, seq)] = None
        return list(spots)

    def plan(
        self,
        tails: Mapping[str, Tail],
        stored: Mapping[Key, MessageRecord],
        targets: Mapping[Spot, MessageRecord] | None = None,
    ) -> Plan:
        """Number the batch. ``tails`` has every room of it that exists; ``stored`` the
        stored messages it repeats (all of them, or none when the adapter has not
        looked: then only repeats within the batch are found); ``targets`` the stored
        messages of :meth:`spots` that exist."""
        outcomes: list[Appended | HomerError] = []
        rows: list[tuple[Any, ...]] = []
        grown: dict[str, int] = {}
        counted: dict[str, int] = {}
        sent: dict[tuple[str, str], int] = {}
        seqs = {room_id: seq for room_id, (seq, _) in tails.items()}
        times = {room_id: ts for room_id, (_, ts) in tails.items()}
        fresh: dict[Key, MessageRecord] = {}
        change = Change(targets or {}) if self._linked else None
        records: list[MessageRecord] = []
        for message, body, refused in zip(self.messages, self._bodies, self._refused, strict=True):
            if refused:
                outcomes.append(InvalidInput(_NUL))
                continue
            room_id = message.room_id
            seq = seqs.get(room_id)
            if seq is None:
                outcomes.append(NotFound(f"no room with id {room_id}"))
                continue
            key = (room_id, message.sender_id, message.client_id)
            earlier = fresh.get(key)
            if earlier is None and stored:
                earlier = stored.get(key)
            if earlier is not None:
                outcomes.append(Appended(earlier, duplicate=True))
                continue
            if body is None:
                outcomes.append(InvalidInput(f"the body of message {message.id} is not JSON"))
                continue
            not_before = times[room_id]
            ts = message.ts if not_before is None or message.ts >= not_before else not_before
            record = MessageRecord(
                room_id,
                seq + 1,
                message.id,
                message.sender_id,
                message.client_id,
                message.kind,
                ts,
                message.body,
            )
            if change is not None:
                try:
                    record, body = change.apply(record, body, len(rows))
                except HomerError as exc:
                    outcomes.append(exc)
                    continue
            seqs[room_id] = grown[room_id] = seq = seq + 1
            times[room_id] = ts
            fresh[key] = record
            rows.append(Rows.message_row(record, body))
            records.append(record)
            outcomes.append(Appended(record))
            if message.kind == UNREAD_KIND:
                counted[room_id] = counted.get(room_id, 0) + 1
                by = (room_id, message.sender_id)
                sent[by] = sent.get(by, 0) + 1
        done = change.finish(rows, records) if change is not None else unlinked(rows, records)
        return Plan(
            outcomes,
            done.rows,
            grown,
            counted,
            sent,
            done.extras,
            done.updates,
            done.edits,
            done.redacted,
            done.mentions,
        )
