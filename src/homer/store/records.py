"""Plain records that cross the Store port: what is stored, not how.

Records are frozen so that a service cannot change one behind the store's
back; a change is a new record handed to the store with an audit event.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "Appended",
    "AuditEntry",
    "AuditEvent",
    "FileRecord",
    "GroupRecord",
    "MemberRecord",
    "MessageRecord",
    "NewMessage",
    "Page",
    "Revocations",
    "RoomRecord",
    "UserRecord",
    "name_key",
]

T = TypeVar("T")

JSONMap = Mapping[str, Any]


def name_key(name: str) -> str:
    """The form two names are compared in: NFKC-normalised and case-folded."""
    return unicodedata.normalize("NFKC", name).casefold()


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    password_hash: str
    group_id: str
    attributes: JSONMap
    grants: frozenset[str] = frozenset()
    denies: frozenset[str] = frozenset()
    created_at: float = 0.0
    updated_at: float = 0.0
    #: Incremented on every change; a replace that does not follow the stored
    #: version is refused, so two concurrent edits never silently merge.
    version: int = 1


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    name: str
    permissions: frozenset[str]
    parent_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 1


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A change about to be made: written in the same transaction as the change."""

    actor: str
    action: str
    target: str
    at: float
    detail: JSONMap = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A change that was made, with its position in the log."""

    id: int
    actor: str
    action: str
    target: str
    at: float
    detail: JSONMap


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_cursor`` back to get the next one."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Revocations:
    """Revoked token ids (with when they expire anyway) and per-user cut-off times."""

    tokens: dict[str, float | None]
    users: dict[str, float]


# -- rooms and messages -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: str
    #: ``public`` (anyone may join), ``private`` (by invitation), ``announce``
    #: (anyone may join, only holders of ``room.announce`` post), ``dm`` (two users).
    kind: str
    name: str
    created_by: str
    created_at: float
    topic: str = ""
    meta: JSONMap = field(default_factory=dict)
    #: Changes when history is purged, so a client knows its copy is void.
    epoch: int = 1
    #: The highest sequence number given out in this room (0: none yet).
    last_seq: int = 0
    #: For DMs: the two user ids, sorted and joined by a space; unique.
    dm_key: str | None = None


@dataclass(frozen=True, slots=True)
class MemberRecord:
    room_id: str
    user_id: str
    #: ``owner`` or ``member``.
    role: str
    joined_at: float
    #: The read marker: the highest sequence number the user has read.
    read_seq: int = 0


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to append; the store gives it its sequence number."""

    room_id: str
    id: str
    sender_id: str
    #: The sender's own id for the message; a resend with the same one is a duplicate.
    client_id: str
    #: ``msg`` for what users write; ``join``, ``leave``, ``kick``, ``ban``,
    #: ``invite``, ``topic`` for membership and room changes.
    kind: str
    ts: float
    body: JSONMap


@dataclass(frozen=True, slots=True)
class MessageRecord:
    room_id: str
    seq: int
    id: str
    sender_id: str
    client_id: str
    kind: str
    ts: float
    body: JSONMap


@dataclass(frozen=True, slots=True)
class Appended:
    """The outcome of one append: the stored message, and whether it was already there."""

    message: MessageRecord
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A message a search found, as it is now, with where its text matched."""

    message: MessageRecord
    #: ``[start, end)`` character offsets of the matches in ``message.body["text"]``.
    highlights: list[tuple[int, int]]


# -- files ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRecord:
    """What a shared file is; its bytes are in the Blob port under ``blob_key``."""

    id: str
    #: Who uploaded it: the one user who may read it before it is posted in a room.
    uploader_id: str
    #: The name it was uploaded with (shown, never used as a path).
    name: str
    content_type: str
    #: In bytes.
    size: int
    blob_key: str
    created_at: float
    #: In pixels, for images.
    width: int | None = None
    height: int | None = None
    #: A smaller picture of an image, in the Blob port too, with its content type.
    thumbnail_key: str | None = None
    thumbnail_type: str | None = None

    @property
    def blob_keys(self) -> tuple[str, ...]:
        """Every blob the file holds: its bytes, and its thumbnail if it has one."""
        if self.thumbnail_key is None:
            return (self.blob_key,)
        return (self.blob_key, self.thumbnail_key)
