"""Server-side sessions: a small key-value store with a time to live per session id.

For applications that keep state beside a token (a shopping cart, a wizard's
step, a device's settings). The id is a random 256-bit string; the data is a
JSON object; an expired session reads as absent and is purged lazily.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from homer.clock import Clock, system_clock
from homer.errors import InvalidInput, NotFound
from homer.store.ports import SessionStore
from homer.store.records import JSONMap

__all__ = ["ServerSessions"]

_DEFAULT = object()


class ServerSessions:
    def __init__(
        self, store: SessionStore, *, ttl: float | None = 86_400.0, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock

    async def create(self, data: Mapping[str, Any] | None = None, *, ttl: Any = _DEFAULT) -> str:
        session_id = secrets.token_urlsafe(32)
        await self.put(session_id, data or {}, ttl=ttl)
        return session_id

    async def put(self, session_id: str, data: Mapping[str, Any], *, ttl: Any = _DEFAULT) -> None:
        """Store ``data`` under ``session_id``, replacing what was there; the ttl restarts."""
        if not isinstance(data, Mapping):
            raise InvalidInput("session data must be a mapping")
        await self.store.put_session(session_id, dict(data), self._expiry(ttl))

    async def get(self, session_id: str) -> JSONMap | None:
        return await self.store.get_session(session_id, self.clock())

    async def update(
        self, session_id: str, changes: Mapping[str, Any], *, ttl: Any = _DEFAULT
    ) -> JSONMap:
        current = await self.get(session_id)
        if current is None:
            raise NotFound("no such session, or it expired")
        merged = {**current, **changes}
        await self.put(session_id, merged, ttl=ttl)
        return merged

    async def delete(self, session_id: str) -> bool:
        return await self.store.delete_session(session_id)

    async def purge(self) -> int:
        return await self.store.purge_sessions(self.clock())

    def _expiry(self, ttl: Any) -> float | None:
        seconds = self.ttl if ttl is _DEFAULT else ttl
        if seconds is None:
            return None
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise InvalidInput("ttl must be a positive number of seconds or None")
        return self.clock() + float(seconds)
