"""User names by id, for rendering messages: cached, since names rarely change."""

from __future__ import annotations

from homer.store.ports import AccountStore

__all__ = ["Names"]


class Names:
    __slots__ = ("_names", "store")

    MAX = 100_000

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        self._names: dict[str, str] = {}

    def remember(self, user_id: str, name: str) -> None:
        if len(self._names) >= self.MAX:
            self._names.clear()
        self._names[user_id] = name

    def known(self, user_id: str) -> str | None:
        return self._names.get(user_id)

    async def name(self, user_id: str) -> str | None:
        found = self._names.get(user_id)
        if found is None:
            record = await self.store.user_by_id(user_id)
            if record is None:
                return None
            self.remember(user_id, record.name)
            found = record.name
        return found
