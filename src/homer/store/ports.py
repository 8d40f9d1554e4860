"""The Store port, split per aggregate.

Each Protocol is small enough to implement in an afternoon; ``Store`` is all of
them together, which is what an adapter provides. Every adapter passes the
conformance suite in :mod:`homer.testing.store_conformance`.

Rules every adapter keeps:

- a mutation and its audit event are written in one transaction, or neither is;
- names are unique by :func:`~homer.store.records.name_key` (case-insensitive);
- a uniqueness or version clash raises :class:`~homer.errors.Conflict`;
- any other failure of the backend raises :class:`~homer.errors.StoreError`
  (``raise StoreError(...) from exc``) and leaves the data as it was;
- no method blocks the event loop.
"""

from __future__ import annotations

from typing import Protocol

from homer.store.records import (
    AuditEntry,
    AuditEvent,
    GroupRecord,
    JSONMap,
    Page,
    Revocations,
    UserRecord,
)

__all__ = ["AccountStore", "AuditLog", "GroupStore", "SessionStore", "Store", "TokenStore"]


class AccountStore(Protocol):
    async def insert_user(self, user: UserRecord, audit: AuditEvent) -> None:
        """Add a user; ``Conflict`` if the name (or id) is taken."""

    async def user_by_id(self, user_id: str) -> UserRecord | None: ...

    async def user_by_name(self, name: str) -> UserRecord | None:
        """Look a user up by name, case-insensitively."""

    async def replace_user(self, user: UserRecord, audit: AuditEvent) -> None:
        """Store ``user`` over the record whose version is ``user.version - 1``.

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
        """Delete a group in one transaction: its members and child groups move to
        ``heir_id``. Returns how many users moved; ``NotFound`` if the group is gone."""

    async def count_members(self, group_id: str) -> int: ...


class AuditLog(Protocol):
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

    async def purge_sessions(self, now: float) -> int:
        """Drop sessions expired at ``now``; return how many."""


class TokenStore(Protocol):
    """What token revocation needs to outlive the process."""

    async def revoke_token(self, jti: str, expires_at: float | None, audit: AuditEvent) -> None: ...

    async def revoke_user_tokens(self, user_id: str, not_before: float, audit: AuditEvent) -> None:
        """Every token of ``user_id`` issued before ``not_before`` is revoked."""

    async def revocations(self, now: float) -> Revocations:
        """Revocations still in force at ``now`` (expired revoked tokens are left out)."""

    async def purge_revocations(self, now: float) -> int: ...


class Store(AccountStore, GroupStore, AuditLog, SessionStore, TokenStore, Protocol):
    """Everything a Homer node keeps durably."""

    async def open(self) -> None:
        """Connect and bring the schema up to date (forward-only migrations)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return if the store answers; raise ``StoreError`` otherwise (readiness)."""

    async def schema_version(self) -> int: ...
