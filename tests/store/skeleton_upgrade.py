"""A database written before name skeletons were kept (schema 5), holding two
names that look alike, and what the store must make of it once migrated: each
adapter's test writes the rows with its own SQL, opens the store, and runs
:func:`check_upgraded`."""

from __future__ import annotations

import pytest

from homer.errors import Conflict
from homer.store.ports import Store
from homer.store.records import UserRecord, name_key
from homer.testing.store_kit import event, fields_of, make_user

#: A group (id, name, name_key, permissions, parent_id, created_at, updated_at, version).
GROUP = ("g-users", "users", "users", "[]", None, 1.0, 1.0, 1)


def _user(user_id: str, name: str, created_at: float) -> tuple[object, ...]:
    """A ``users`` row (id, name, name_key, password_hash, group_id, attributes, grants,
    denies, created_at, updated_at, version)."""
    return (
        user_id,
        name,
        name_key(name),
        "$argon2id$not-a-real-hash",
        "g-users",
        "{}",
        "[]",
        "[]",
        created_at,
        created_at,
        1,
    )


#: ``alice`` first, then a Cyrillic look-alike taken before look-alikes were refused.
USERS = [_user("u-alice", "alice", 1.0), _user("u-cyrillic", "\u0430lice", 2.0)]


async def check_upgraded(store: Store) -> None:
    """Open ``store`` on the upgraded database and check what it does with names."""
    await store.open()
    try:
        with pytest.raises(Conflict, match="looks like"):
            await store.insert_user(make_user("\u03b1lice", "g-users"), event())
        # The later look-alike keeps its name and can still be changed.
        legacy = await store.user_by_id("u-cyrillic")
        assert legacy is not None
        changed = UserRecord(**{**fields_of(legacy), "attributes": {"x": 1}, "version": 2})
        await store.replace_user(changed, event("user.update"))
        assert await store.user_by_id("u-cyrillic") == changed
        await store.insert_user(make_user("bob", "g-users"), event())
    finally:
        await store.close()
