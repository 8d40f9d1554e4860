"""The audit trail: who changed which user, group or permission, and when.

Entries are written by the store in the same transaction as the change they
describe, so the trail cannot miss a change or describe one that did not happen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homer.identity.permissions import Principal, requires
from homer.store.ports import AuditLog
from homer.store.records import AuditEntry, Page

__all__ = ["AuditTrail"]


class AuditTrail:
    def __init__(
        self,
        log: AuditLog,
        *,
        principals: Callable[[str], Awaitable[Principal]] | None = None,
    ) -> None:
        self.log = log
        self._principals = principals

    async def principal(self, user_id: str) -> Principal:
        """Who acts when :meth:`entries` is given a user id instead of a principal."""
        if self._principals is None:
            raise TypeError("this audit trail cannot look user ids up: pass a principal")
        return await self._principals(user_id)

    @requires("admin.audit")
    async def entries(
        self,
        actor: Principal,
        *,
        before: int | None = None,
        limit: int = 50,
        by: str | None = None,
        target: str | None = None,
    ) -> Page[AuditEntry]:
        """Newest first; pass ``int(page.next_cursor)`` as ``before`` for the next page."""
        limit = max(1, min(limit, 1000))
        return await self.log.audit_entries(before=before, limit=limit, actor=by, target=target)
