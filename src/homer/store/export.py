"""What a store holds, table by table, in a form both adapters read and write.

The copy between stores (``homer copy``), the backup and its restore
(``homer backup``, ``homer restore``) move rows in one neutral form, the
SQLite adapter's: JSON columns as the JSON text the server wrote, name sets
as JSON arrays, times as float seconds. Each adapter's transfer module turns
its own columns into that form and back.

Nothing here does I/O: the list of tables in the order a copy fills them
(a table after the tables it refers to), the per-room checksum both sides
compute to compare their histories, and the manifest a backup carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

__all__ = [
    "MANIFEST_FORMAT",
    "TABLES",
    "Column",
    "FileEntry",
    "Manifest",
    "RoomSum",
    "RoomSums",
    "Table",
    "Tally",
    "compare",
    "fingerprint",
    "room_checksum",
    "room_sums",
]

#: The manifest's format; a restore refuses one it does not know.
MANIFEST_FORMAT = 1

#: ``json``: JSON text (``json`` on PostgreSQL); ``names``: a JSON array of
#: strings (``text[]``); ``plain``: the same value on both sides.
ColumnKind = Literal["plain", "json", "names"]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind = "plain"


def _columns(names: str, *, json: str = "", lists: str = "") -> tuple[Column, ...]:
    """Columns from space-separated names; ``json`` and ``lists`` name those of
    each kind among them."""
    json_set, list_set = set(json.split()), set(lists.split())
    return tuple(
        Column(n, "json" if n in json_set else "names" if n in list_set else "plain")
        for n in names.split()
    )


@dataclass(frozen=True, slots=True)
class Table:
    """One table as a copy moves it: ``key`` is its primary key, the order its
    batches follow (keyset pagination); ``parent`` names a column referring to
    the same table (its rows are copied parents first, in one batch)."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    parent: str | None = None
    #: An identity column PostgreSQL numbers itself: set past the copied ids after.
    identity: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


#: Every table of the schema, referred-to tables first. ``messages`` carries one
#: more column than either adapter stores under that name: ``search``, the folded
#: text search finds the message by (``messages.search`` on PostgreSQL, a
#: ``search_docs`` row on SQLite), ``NULL`` when it is not searchable.
TABLES: tuple[Table, ...] = (
    Table(
        "groups",
        ("id",),
        _columns(
            "id name name_key name_skeleton permissions parent_id created_at updated_at version",
            lists="permissions",
        ),
        parent="parent_id",
    ),
    Table(
        "users",
        ("id",),
        _columns(
            "id name name_key name_skeleton password_hash group_id attributes grants"
            " denies created_at updated_at version",
            json="attributes",
            lists="grants denies",
        ),
    ),
    Table(
        "audit",
        ("id",),
        _columns("id at actor action target detail", json="detail"),
        identity="id",
    ),
    Table("sessions", ("id",), _columns("id data expires_at", json="data")),
    Table("revoked_tokens", ("jti",), _columns("jti expires_at")),
    Table("user_token_cutoffs", ("user_id",), _columns("user_id not_before")),
    Table(
        "rooms",
        ("id",),
        _columns(
            "id kind name topic meta created_by created_at epoch last_seq dm_key msgs",
            json="meta",
        ),
    ),
    Table(
        "room_members",
        ("room_id", "user_id"),
        _columns("room_id user_id role joined_at read_seq read_msgs own_after"),
    ),
    Table("room_bans", ("room_id", "user_id"), _columns("room_id user_id")),
    Table("room_invites", ("room_id", "user_id"), _columns("room_id user_id")),
    Table(
        "messages",
        ("room_id", "seq"),
        _columns("room_id seq id sender_id client_id kind ts body thread search", json="body"),
    ),
    Table(
        "message_edits",
        ("room_id", "target", "seq"),
        _columns("room_id target seq previous", json="previous"),
    ),
    Table("mentions", ("room_id", "user_id", "seq"), _columns("room_id user_id seq sender_id")),
    Table(
        "files",
        ("id",),
        _columns(
            "id uploader_id name content_type size blob_key created_at width height"
            " thumbnail_key thumbnail_type"
        ),
    ),
    Table("file_rooms", ("file_id", "room_id"), _columns("file_id room_id")),
)


class RoomSum(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A room's history in one hash: its epoch, last seq, message count, and a
    sha256 over each message's (seq, id, sender, kind, ts, body) in seq order."""

    epoch: int
    last_seq: int
    messages: int
    sha256: str


def room_checksum(epoch: int, last_seq: int, messages: Iterable[Sequence[Any]]) -> RoomSum:
    """``messages``: (seq, id, sender_id, kind, ts, body text) in seq order."""
    digest = _room_digest(epoch, last_seq)
    count = 0
    for row in messages:
        digest.update(_message_line(*row))
        count += 1
    return RoomSum(epoch=epoch, last_seq=last_seq, messages=count, sha256=digest.hexdigest())


def _room_digest(epoch: int, last_seq: int) -> Any:
    return hashlib.sha256(f"{epoch}\x1f{last_seq}\x1e".encode())


def _message_line(
    seq: int, message_id: str, sender: str, kind: str, ts: float, body: str | bytes
) -> bytes:
    """The JSON body as text, whichever way the store keeps it (SQLite: the bytes
    the server wrote, as a blob)."""
    text = body.decode() if isinstance(body, bytes) else body
    return f"{seq}\x1f{message_id}\x1f{sender}\x1f{kind}\x1f{ts!r}\x1f{text}\x1e".encode()


class Tally(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a store holds, to compare two: rows per table, a sum per room."""

    counts: dict[str, int]
    rooms: dict[str, RoomSum]


class FileEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One file of a backup, by its path inside it (``/``-separated)."""

    path: str
    size: int
    sha256: str


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``manifest.json`` at the top of a backup."""

    format: int
    homer_version: str
    created_at: float
    #: The store the backup was taken from: ``sqlite`` or ``postgresql``.
    store: str
    schema_version: int
    tally: Tally
    files: list[FileEntry]


def compare(source: Tally, target: Tally) -> list[str]:
    """Each difference between two tallies, in words; empty when they agree."""
    problems: list[str] = []
    for table in sorted(set(source.counts) | set(target.counts)):
        left, right = source.counts.get(table), target.counts.get(table)
        if left != right:
            problems.append(f"{table}: {left} rows in the source, {right} in the target")
    for room in sorted(set(source.rooms) | set(target.rooms)):
        a, b = source.rooms.get(room), target.rooms.get(room)
        if a != b:
            problems.append(
                f"room {room!r}: {_room_words(a)} in the source, {_room_words(b)} in the target"
            )
    return problems


def _room_words(room: RoomSum | None) -> str:
    if room is None:
        return "missing"
    return (
        f"epoch {room.epoch}, last seq {room.last_seq}, {room.messages} messages,"
        f" sum {room.sha256[:12]}"
    )


def fingerprint(groups: Iterable[Sequence[Any]]) -> str:
    """What tells one deployment from another: its groups' (id, created_at), by id."""
    digest = hashlib.sha256()
    for group_id, created_at in groups:
        digest.update(f"{group_id}\x1f{created_at!r}\x1e".encode())
    return digest.hexdigest()


class RoomSums:
    """Each room's :class:`RoomSum`, fed a batch of messages at a time: (room_id,
    seq, id, sender_id, kind, ts, body text), each room's in seq order. ``rooms``:
    (id, epoch, last_seq) of every room."""

    def __init__(self, rooms: Iterable[Sequence[Any]]) -> None:
        self._heads = {room_id: (epoch, last_seq) for room_id, epoch, last_seq in rooms}
        self._digests: dict[str, Any] = {}
        self._counts: dict[str, int] = {}

    def add(self, messages: Iterable[Sequence[Any]]) -> None:
        digests, counts = self._digests, self._counts
        for room_id, seq, message_id, sender, kind, ts, body in messages:
            digest = digests.get(room_id)
            if digest is None:
                digest = digests[room_id] = _room_digest(*self._heads.get(room_id, (-1, -1)))
                counts[room_id] = 0
            digest.update(_message_line(seq, message_id, sender, kind, ts, body))
            counts[room_id] += 1

    def result(self) -> dict[str, RoomSum]:
        sums: dict[str, RoomSum] = {}
        for room_id in sorted(set(self._heads) | set(self._digests)):
            epoch, last_seq = self._heads.get(room_id, (-1, -1))
            digest = self._digests.get(room_id) or _room_digest(epoch, last_seq)
            sums[room_id] = RoomSum(
                epoch=epoch,
                last_seq=last_seq,
                messages=self._counts.get(room_id, 0),
                sha256=digest.hexdigest(),
            )
        return sums


def room_sums(
    rooms: Iterable[Sequence[Any]], messages: Iterable[Sequence[Any]]
) -> dict[str, RoomSum]:
    """:class:`RoomSums` of ``rooms`` and ``messages`` in one call."""
    summer = RoomSums(rooms)
    summer.add(messages)
    return summer.result()
