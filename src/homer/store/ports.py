"""The Store port, split per aggregate.

Each Protocol is small enough to implement in an afternoon; ``Store`` is all of
them together, which is what an adapter provides. Every adapter passes the
conformance suite in :mod:`homer.testing.store_conformance`.

Rules every adapter keeps:

- a mutation and its audit event are written in one transaction, or neither is;
- names are unique by :func:`~homer.store.records.name_key` (case-insensitive),
  and by :func:`~homer.confusables.skeleton` (names that look alike), both kept
  by unique indexes: a second look-alike is a ``Conflict`` even from another writer;
- a uniqueness or version clash raises :class:`~homer.errors.Conflict`;
- any other failure of the backend raises :class:`~homer.errors.StoreError`
  (``raise StoreError(...) from exc``) and leaves the data as it was;
- no method blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from homer.errors import HomerError
from homer.store.records import (
    Appended,
    AuditEntry,
    AuditEvent,
    FileRecord,
    GroupRecord,
    JSONMap,
    MemberRecord,
    MessageRecord,
    NewMessage,
    Page,
    Revocations,
    RoomRecord,
    SearchHit,
    UserRecord,
)
from homer.store.search import Query

__all__ = [
    "AccountStore",
    "AuditLog",
    "FileStore",
    "GroupStore",
    "MessageStore",
    "RoomStore",
    "SessionStore",
    "Store",
    "TokenStore",
]


class AccountStore(Protocol):
    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        """Add a user; ``Conflict`` if the name (or id) is taken."""

    async def user_by_id(self, user_id: str) -> UserRecord | None: ...

    async def user_by_name(self, name: str) -> UserRecord | None:
        """Look a user up by name, case-insensitively."""

    async def replace_user(
        self, user: UserRecord, audit: AuditEvent | Sequence[AuditEvent]
    ) -> None:
        """Store ``user`` over the record whose version is ``user.version - 1``, with
        its audit entry, or entries when one change is several (all or none).

        ``NotFound`` if the user is gone, ``Conflict`` if the stored version is
        another one (a concurrent change) or a rename hits a taken name.
        """

    async def delete_user(self, user_id: str, audit: AuditEvent) -> bool:
        """Remove a user; ``False`` if there was none."""

    async def list_users(
        self,
        *,
        search: str | None = None,
        group_id: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[UserRecord]:
        """Users ordered by name key; ``search`` matches a substring of the name.

        ``after`` is the ``next_cursor`` of the previous page.
        """


class GroupStore(Protocol):
    async def insert_group(self, group: GroupRecord, audit: AuditEvent) -> None: ...

    async def group_by_id(self, group_id: str) -> GroupRecord | None: ...

    async def group_by_name(self, name: str) -> GroupRecord | None: ...

    async def all_groups(self) -> list[GroupRecord]:
        """Every group, ordered by name key. Groups are few; users are many."""

    async def replace_group(self, group: GroupRecord, audit: AuditEvent) -> None:
        """Same version rule as :meth:`AccountStore.replace_user`."""

    async def delete_group(self, group_id: str, *, heir_id: str, audit: AuditEvent) -> int:
        """Delete a group in one transaction: its members move to ``heir_id``; its child
        groups inherit from the deleted group's own parent (or from none). Returns how
        many users moved; ``NotFound`` if either group is gone."""

    async def count_members(self, group_id: str) -> int: ...


class AuditLog(Protocol):
    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        """Write events that change nothing else (a failed login, a refused sign-up)."""

    async def audit_entries(
        self,
        *,
        before: int | None = None,
        limit: int = 50,
        actor: str | None = None,
        target: str | None = None,
    ) -> Page[AuditEntry]:
        """Newest first. ``before`` is the ``next_cursor`` of the previous page."""


class SessionStore(Protocol):
    """Server-side session state beside tokens: a key-value store with expiry."""

    async def put_session(
        self, session_id: str, data: JSONMap, expires_at: float | None
    ) -> None: ...

    async def get_session(self, session_id: str, now: float) -> JSONMap | None:
        """The data, or ``None`` if absent or expired at ``now``."""

    async def delete_session(self, session_id: str) -> bool: ...

    async def sessions_under(self, prefix: str, now: float, limit: int) -> dict[str, JSONMap]:
        """Id -> data of the sessions whose id starts with ``prefix`` and that have not
        expired at ``now``, at most ``limit`` of them (the first ids in order)."""

    async def purge_sessions(self, now: float) -> int:
        """Drop sessions expired at ``now``; return how many."""


class TokenStore(Protocol):
    """What token revocation needs to outlive the process."""

    async def revoke_token(self, jti: str, expires_at: float | None, audit: AuditEvent) -> None: ...

    async def revoke_user_tokens(self, user_id: str, not_before: float, audit: AuditEvent) -> None:
        """Every token of ``user_id`` issued before ``not_before`` is revoked."""

    async def revocations(self, now: float) -> Revocations:
        """Revocations still in force at ``now`` (expired revoked tokens are left out)."""

    async def revocations_of(self, user_id: str, jti: str | None) -> Revocations:
        """The revocations that bear on one token: its ``jti``, if revoked, and its
        user's cut-off, if any. A single-row read, for checks that must see a
        revocation another process made a moment ago."""

    async def purge_revocations(self, now: float) -> int: ...


class RoomStore(Protocol):
    """Rooms, their members, bans, invitations and read markers.

    A read marker is never past its room's ``last_seq``: a membership stored with one
    further on (``create_room``, ``add_member``) gets the room's ``last_seq``.
    """

    async def create_room(self, room: RoomRecord, members: Sequence[MemberRecord]) -> None:
        """Add a room with its first members in one transaction; ``Conflict`` if the id
        (or, for a DM, the ``dm_key``) is taken; ``InvalidInput`` if a member's
        ``room_id`` is not the room's."""

    async def room(self, room_id: str) -> RoomRecord | None: ...

    async def room_by_dm_key(self, dm_key: str) -> RoomRecord | None: ...

    async def update_room(
        self,
        room_id: str,
        *,
        name: str | None = None,
        topic: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> RoomRecord:
        """Change what is given; ``NotFound`` if there is no such room."""

    async def delete_room(self, room_id: str) -> bool:
        """Remove a room with its members, bans, invitations and history."""

    async def list_rooms(
        self, *, kinds: Sequence[str], after: str | None = None, limit: int = 50
    ) -> Page[RoomRecord]:
        """Rooms of the given kinds ordered by id (for the public room directory)."""

    async def rooms_of(self, user_id: str) -> list[tuple[RoomRecord, MemberRecord]]:
        """Every room ``user_id`` is a member of, with the membership, ordered by room id."""

    async def room_list(
        self, user_id: str, *, cap: int = 1000
    ) -> list[tuple[RoomRecord, MemberRecord, int]]:
        """``rooms_of`` and ``unread_counts`` in one read: every room of the user with
        the membership and the unread count (at most ``cap``), ordered by room id."""

    async def join_room(
        self, room_id: str, user_id: str, *, joined_at: float, max_rooms: int
    ) -> tuple[RoomRecord, MemberRecord, bool]:
        """Make ``user_id`` a member by the joining rules, checked and applied in one
        transaction; returns the room, the membership and whether it is new.

        An existing member gets their membership back (``False``). Otherwise:
        ``NotFound`` without such a room; ``Forbidden`` for a DM, for a banned user,
        and for a private room without an invitation; ``Conflict`` when the user is
        already in ``max_rooms`` rooms. A new member has the role ``member`` and
        their invitation, used, is dropped.
        """

    async def add_member(self, member: MemberRecord) -> bool:
        """``False`` if already a member (the stored membership is kept); ``NotFound``
        if there is no such room (so too for ``set_ban`` and ``set_invite`` with True)."""

    async def remove_member(self, room_id: str, user_id: str) -> bool: ...

    async def member(self, room_id: str, user_id: str) -> MemberRecord | None: ...

    async def members(
        self, room_id: str, *, after: str | None = None, limit: int = 100
    ) -> Page[MemberRecord]:
        """Members ordered by user id."""

    async def count_rooms_of(self, user_id: str) -> int: ...

    async def set_ban(self, room_id: str, user_id: str, banned: bool) -> None: ...

    async def is_banned(self, room_id: str, user_id: str) -> bool: ...

    async def set_invite(self, room_id: str, user_id: str, invited: bool) -> None: ...

    async def is_invited(self, room_id: str, user_id: str) -> bool: ...

    async def set_read(self, room_id: str, user_id: str, seq: int) -> int:
        """Move the read marker forward to ``seq`` (never back, never past the room's
        last seq); return the marker now stored. ``NotFound`` if not a member."""

    async def unread_counts(
        self, user_id: str, *, cap: int = 1000, room_id: str | None = None
    ) -> dict[str, int]:
        """Per room of the user (every one, 0 included; or only ``room_id``): how many
        ``msg`` messages from others lie past the read marker; at most ``cap``.

        The count is exact, and reading it costs the same whatever the history: the
        adapters keep it beside the marker (:mod:`homer.store.rules`), in the
        transaction of whatever changes it.
        """


class MessageStore(Protocol):
    """Room history: append-only per room, dense sequence numbers from 1."""

    async def append_messages(self, batch: Sequence[NewMessage]) -> list[Appended | HomerError]:
        """Append a batch in one transaction (one commit for many senders).

        Each message gets its room's next sequence number, in batch order. A message
        whose (room, sender, client id) is already stored is not stored again: its
        outcome is the stored one with ``duplicate=True``. A message for a room that
        does not exist gets ``NotFound`` as its outcome, one whose body is not JSON
        ``InvalidInput``, and so does one with a NUL character in an id, its kind or
        its text (``body["text"]``); the others are still stored. Duplicates are
        recognised while the original is stored: after ``purge_history`` a resend is
        a new message. A message's ``ts`` is raised to its room's previous message's
        when it is older: within a room ``ts`` never decreases as ``seq`` grows,
        whatever the writers' clocks. :mod:`homer.store.appends` decides all of this
        for the SQL adapters.
        """

    async def messages_after(
        self, room_id: str, after_seq: int, *, limit: int = 100
    ) -> list[MessageRecord]:
        """Messages with ``seq > after_seq``, oldest first."""

    async def messages_before(
        self, room_id: str, before_seq: int | None, *, limit: int = 50
    ) -> list[MessageRecord]:
        """The ``limit`` newest messages with ``seq < before_seq`` (all if ``None``),
        oldest first."""

    async def messages_between(
        self, room_id: str, since: float, until: float, *, limit: int = 100, newest: bool = False
    ) -> list[MessageRecord]:
        """Messages with ``since <= ts < until`` ordered by (ts, seq): the ``limit``
        oldest, or with ``newest`` the ``limit`` newest (a page backwards from
        ``until``), oldest first either way."""

    async def purge_history(self, room_id: str) -> int:
        """Delete a room's history and move to a new epoch (returned). Sequence numbers
        keep counting up from where they were."""

    async def message_at(self, room_id: str, seq: int) -> MessageRecord | None:
        """One message by its place, as it is now."""

    async def thread(
        self, room_id: str, root: int, *, after: int = 0, limit: int = 100
    ) -> list[MessageRecord]:
        """The replies in the thread rooted at ``root`` with ``seq > after``, oldest
        first (the root itself is not among them)."""

    async def edits_of(self, room_id: str, seq: int) -> list[tuple[int, JSONMap | None]]:
        """Each edit of a message: the edit event's ``seq`` and the content it replaced
        (``None`` when earlier versions are not kept, or the message was redacted),
        oldest first."""

    async def mention_counts(self, user_id: str, *, room_id: str | None = None) -> dict[str, int]:
        """Per room of the user where it is not 0 (or only ``room_id``): how many
        messages from others past the read marker mention the user, ``@room``
        included."""

    async def search(
        self,
        user_id: str,
        query: Query,
        *,
        room_id: str | None = None,
        sender_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 20,
    ) -> list[SearchHit]:
        """Messages whose current text has every word of ``query``, in the rooms
        ``user_id`` is a member of now, best match first (ties: newest first)."""


class FileStore(Protocol):
    """Shared files: what each is, and the rooms it was posted in (its bytes are in
    the Blob port). A file may be read by its uploader, and by the current members of
    every room it was posted in; deleting a room or a file forgets where it was posted.
    """

    async def insert_file(self, file: FileRecord) -> None:
        """Add a file; ``Conflict`` if the id is taken."""

    async def file(self, file_id: str) -> FileRecord | None: ...

    async def files(self, file_ids: Sequence[str]) -> list[FileRecord]:
        """The files of those ids that exist, in no particular order."""

    async def attach_files(self, room_id: str, file_ids: Sequence[str]) -> None:
        """Record the files as posted in the room (again is no error), all or none;
        ``NotFound`` if the room or one of the files does not exist."""

    async def readable_file(self, file_id: str, user_id: str) -> FileRecord | None:
        """The file if ``user_id`` may read it (its uploader, or a current member of a
        room it was posted in), in one read; ``None`` if not, or if there is no such
        file: the two look the same to a stranger."""

    async def delete_files(self, file_ids: Sequence[str]) -> list[FileRecord]:
        """Remove the files (and where they were posted); return those there were, so
        that their blobs can be deleted. Unknown ids are no error."""


class Store(
    AccountStore,
    GroupStore,
    AuditLog,
    SessionStore,
    TokenStore,
    RoomStore,
    MessageStore,
    FileStore,
    Protocol,
):
    """Everything a Homer node keeps durably."""

    #: The package holding the adapter's numbered migrations (``homer migrate``
    #: reports the newest one next to the database's version).
    MIGRATIONS: ClassVar[str]

    async def open(self) -> None:
        """Connect and bring the schema up to date (forward-only migrations)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return if the store answers; raise ``StoreError`` otherwise (readiness)."""

    async def schema_version(self) -> int: ...
