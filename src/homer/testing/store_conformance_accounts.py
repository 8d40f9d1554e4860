"""The store conformance kit, accounts side: users, groups, the audit log,
sessions and token revocation (part of
:class:`~homer.testing.store_conformance.StoreConformance`)."""

from __future__ import annotations

import asyncio

import pytest

from homer.errors import Conflict, NotFound
from homer.store.ports import Store
from homer.store.records import (
    GroupRecord,
    UserRecord,
)
from homer.testing.store_kit import (
    KitBase,
    event,
    fields_of,
    make_group,
    make_user,
)

__all__ = ["AccountConformance"]


class AccountConformance(KitBase):
    """What every Store adapter must do with accounts."""

    # -- lifecycle ------------------------------------------------------------

    async def test_open_store_answers_and_has_a_schema(self, store: Store) -> None:
        await store.ping()
        assert await store.schema_version() >= 1

    # -- users ----------------------------------------------------------------

    async def test_user_round_trip(self, store: Store) -> None:
        group = await self._group(store)
        user = make_user(
            "Ada",
            group.id,
            attributes={"nested": {"list": [1, 2.5, None, True]}, "text": "héllo ✓"},
            grants=frozenset({"a.b", "c.d"}),
            denies=frozenset({"room.post"}),
        )
        await store.insert_user(user, event("user.create"))
        assert await store.user_by_id(user.id) == user
        assert await store.user_by_name("ada") == user
        assert await store.user_by_name("ADA") == user
        assert await store.user_by_id("nobody") is None
        assert await store.user_by_name("nobody") is None

    async def test_names_are_unique_case_insensitively(self, store: Store) -> None:
        group = await self._group(store)
        await store.insert_user(make_user("alice", group.id), event())
        before = await store.audit_entries()
        with pytest.raises(Conflict, match="alice|ALICE"):
            await store.insert_user(make_user("ALICE", group.id), event("user.create"))
        # Compatibility forms collide too (NFKC): fullwidth letters are the same name.
        with pytest.raises(Conflict):
            await store.insert_user(make_user("ａｌｉｃｅ", group.id), event("user.create"))
        assert [e.id for e in (await store.audit_entries()).items] == [
            e.id for e in before.items
        ], "a refused change must not leave an audit entry"

    async def test_events_recorded_alone_read_back_newest_first(self, store: Store) -> None:
        await store.record_audit(
            [event("login.failed", "user:eve", actor="203.0.113.9"), event("login.throttled")]
        )
        page = await store.audit_entries(limit=2)
        assert [e.action for e in page.items] == ["login.throttled", "login.failed"]
        assert page.items[1].actor == "203.0.113.9"
        assert page.items[1].detail == {"k": [1, "ü"]}

    async def test_concurrent_inserts_of_one_name_let_exactly_one_win(self, store: Store) -> None:
        group = await self._group(store)
        results = await asyncio.gather(
            *(store.insert_user(make_user("bob", group.id), event()) for _ in range(5)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not None)

    async def test_names_that_look_alike_cannot_both_be_taken(self, store: Store) -> None:
        group = await self._group(store)
        await store.insert_user(make_user("alice", group.id), event())
        # Cyrillic а, Greek α, Latin alpha, dotless ı, a combining acute, dotted İ.
        for name in ("\u0430lice", "\u03b1lice", "\u0251lice", "al\u0131ce", "alice\u0301"):
            with pytest.raises(Conflict, match="looks like"):
                await store.insert_user(make_user(name, group.id), event())
        with pytest.raises(Conflict, match="looks like"):
            await store.insert_user(make_user("AL\u0130CE", group.id), event())
        bob = make_user("bob", group.id)
        await store.insert_user(bob, event())
        renamed = UserRecord(**{**fields_of(bob), "name": "\u0430lice", "version": 2})
        with pytest.raises(Conflict, match="looks like"):
            await store.replace_user(renamed, event("user.rename"))
        # A rename to a look-alike of one's own name is no clash; a change of anything
        # else leaves the name alone.
        own = UserRecord(**{**fields_of(bob), "name": "b\u043eb", "version": 2})
        await store.replace_user(own, event("user.rename"))
        later = UserRecord(**{**fields_of(own), "attributes": {"x": 1}, "version": 3})
        await store.replace_user(later, event("user.update"))
        assert await store.user_by_id(bob.id) == later
        # The group names are guarded alike.
        with pytest.raises(Conflict, match="looks like"):
            await store.insert_group(make_group(group.name.upper().replace("S", "\u0405")), event())

    async def test_concurrent_inserts_of_look_alikes_let_exactly_one_win(
        self, store: Store
    ) -> None:
        group = await self._group(store)
        # m as r+n, the digit one, Cyrillic а and о, the Roman numeral ⅿ.
        names = ["mallory", "rnallory", "MALLORY", "ma1lory", "m\u0430llory", "\u217fallory"]
        results = await asyncio.gather(
            *(store.insert_user(make_user(name, group.id), event()) for name in names),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1, results
        assert all(isinstance(r, Conflict) for r in results if r is not None)

    async def test_replace_follows_versions(self, store: Store) -> None:
        group = await self._group(store)
        user = make_user("carol", group.id)
        await store.insert_user(user, event())
        changed = UserRecord(**{**fields_of(user), "attributes": {"x": 1}, "version": 2})
        await store.replace_user(changed, event("user.update"))
        assert await store.user_by_id(user.id) == changed
        stale = UserRecord(**{**fields_of(user), "attributes": {"x": 2}, "version": 2})
        with pytest.raises(Conflict):
            await store.replace_user(stale, event("user.update"))
        assert await store.user_by_id(user.id) == changed
        ghost = make_user("ghost", group.id, version=2)
        with pytest.raises(NotFound):
            await store.replace_user(ghost, event())

    async def test_rename_onto_a_taken_name_is_refused(self, store: Store) -> None:
        group = await self._group(store)
        dave = make_user("dave", group.id)
        erin = make_user("erin", group.id)
        await store.insert_user(dave, event())
        await store.insert_user(erin, event())
        clash = UserRecord(**{**fields_of(erin), "name": "Dave", "version": 2})
        with pytest.raises(Conflict):
            await store.replace_user(clash, event())
        assert (await store.user_by_id(erin.id)) == erin
        own_case = UserRecord(**{**fields_of(erin), "name": "Erin", "version": 2})
        await store.replace_user(own_case, event())
        assert (await store.user_by_name("erin")) == own_case

    async def test_one_replace_writes_all_its_audit_entries_or_none(self, store: Store) -> None:
        group = await self._group(store)
        gina = make_user("gina", group.id)
        holly = make_user("holly", group.id)
        await store.insert_user(gina, event())
        await store.insert_user(holly, event())
        both = [
            event("user.update", target="user:gina"),
            event("user.rename", target="user:gina"),
        ]
        clash = UserRecord(**{**fields_of(gina), "name": "Holly", "version": 2})
        with pytest.raises(Conflict):
            await store.replace_user(clash, both)
        assert (await store.audit_entries(limit=10, target="user:gina")).items == []
        renamed = UserRecord(**{**fields_of(gina), "name": "gwen", "version": 2})
        await store.replace_user(renamed, both)
        entries = (await store.audit_entries(limit=10, target="user:gina")).items
        assert sorted(e.action for e in entries) == ["user.rename", "user.update"]

    async def test_delete_user(self, store: Store) -> None:
        group = await self._group(store)
        user = make_user("frank", group.id)
        await store.insert_user(user, event())
        assert await store.delete_user(user.id, event("user.delete"))
        assert await store.user_by_id(user.id) is None
        assert not await store.delete_user(user.id, event("user.delete"))
        actions = [e.action for e in (await store.audit_entries()).items]
        assert actions.count("user.delete") == 1
        # The name is free again.
        await store.insert_user(make_user("frank", group.id), event())

    async def test_list_users_pages_searches_and_filters(self, store: Store) -> None:
        users = await self._group(store, "users")
        admins = await self._group(store, "admins")
        names = [f"user{i:02d}" for i in range(25)] + ["Zed", "admin1"]
        for name in names:
            group_id = admins.id if name.startswith("admin") else users.id
            await store.insert_user(make_user(name, group_id), event())
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.list_users(after=cursor, limit=10)
            seen += [u.name for u in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == sorted(names, key=str.casefold)
        found = await store.list_users(search="ER1", limit=50)
        assert [u.name for u in found.items] == [f"user{i}" for i in range(10, 20)]
        assert found.next_cursor is None
        in_admins = await store.list_users(group_id=admins.id)
        assert [u.name for u in in_admins.items] == ["admin1"]
        exact = await store.list_users(limit=27)
        assert len(exact.items) == 27
        assert exact.next_cursor is None

    # -- groups ---------------------------------------------------------------

    async def test_group_round_trip_and_uniqueness(self, store: Store) -> None:
        group = make_group("Staff", permissions=frozenset({"a.b", "c"}))
        await store.insert_group(group, event())
        assert await store.group_by_id(group.id) == group
        assert await store.group_by_name("staff") == group
        with pytest.raises(Conflict):
            await store.insert_group(make_group("STAFF"), event())
        child = make_group("juniors", parent_id=group.id)
        await store.insert_group(child, event())
        assert [g.name for g in await store.all_groups()] == ["juniors", "Staff"]
        changed = GroupRecord(**{**fields_of(child), "permissions": frozenset(), "version": 2})
        await store.replace_group(changed, event())
        assert await store.group_by_id(child.id) == changed
        with pytest.raises(Conflict):
            await store.replace_group(changed, event())

    async def test_delete_group_moves_members_to_the_heir(self, store: Store) -> None:
        base = await self._group(store, "base")
        doomed = make_group("doomed", parent_id=base.id)
        await store.insert_group(doomed, event())
        child = make_group("child", parent_id=doomed.id)
        await store.insert_group(child, event())
        members = [make_user(f"m{i}", doomed.id) for i in range(3)]
        for member in members:
            await store.insert_user(member, event())
        outsider = make_user("outsider", base.id)
        await store.insert_user(outsider, event())
        assert await store.count_members(doomed.id) == 3
        moved = await store.delete_group(doomed.id, heir_id=base.id, audit=event("group.delete"))
        assert moved == 3
        assert await store.group_by_id(doomed.id) is None
        for member in members:
            found = await store.user_by_id(member.id)
            assert found is not None
            assert found.group_id == base.id
            assert found.version == member.version + 1
        moved_child = await store.group_by_id(child.id)
        assert moved_child is not None
        assert moved_child.parent_id == base.id
        assert await store.count_members(base.id) == 4
        with pytest.raises(NotFound):
            await store.delete_group(doomed.id, heir_id=base.id, audit=event())
        with pytest.raises(NotFound):
            await store.delete_group(child.id, heir_id="no-such-group", audit=event())
        with pytest.raises(Conflict):
            await store.delete_group(base.id, heir_id=base.id, audit=event())
        assert await store.group_by_id(child.id) is not None
        # A deleted root's children become roots, even when the heir is one of them.
        await store.delete_group(base.id, heir_id=child.id, audit=event())
        root = await store.group_by_id(child.id)
        assert root is not None
        assert root.parent_id is None

    # -- audit ----------------------------------------------------------------

    async def test_audit_is_newest_first_paged_and_filtered(self, store: Store) -> None:
        group = await self._group(store)
        for i in range(7):
            actor = "root" if i % 2 else "ops"
            await store.insert_user(
                make_user(f"u{i}", group.id),
                event("user.create", f"user:u{i}", actor, at=100.0 + i),
            )
        page = await store.audit_entries(limit=3)
        assert [e.target for e in page.items] == ["user:u6", "user:u5", "user:u4"]
        assert page.next_cursor is not None
        rest = await store.audit_entries(before=int(page.next_cursor), limit=100)
        assert [e.target for e in rest.items] == [
            "user:u3",
            "user:u2",
            "user:u1",
            "user:u0",
            "group:users",
        ]
        assert rest.next_cursor is None
        by_root = await store.audit_entries(actor="root")
        assert [e.target for e in by_root.items] == ["user:u5", "user:u3", "user:u1"]
        about = await store.audit_entries(target="user:u2")
        (entry,) = about.items
        assert entry.actor == "ops"
        assert entry.action == "user.create"
        assert entry.at == 102.0
        assert entry.detail == {"k": [1, "ü"]}

    # -- sessions -------------------------------------------------------------

    async def test_sessions_expire_and_can_be_replaced(self, store: Store) -> None:
        await store.put_session("s1", {"cart": [1, 2], "ü": None}, expires_at=100.0)
        await store.put_session("s2", {"x": 1}, expires_at=None)
        assert await store.get_session("s1", now=99.0) == {"cart": [1, 2], "ü": None}
        assert await store.get_session("s1", now=100.0) is None
        assert await store.get_session("s2", now=1e12) == {"x": 1}
        await store.put_session("s1", {"cart": []}, expires_at=200.0)
        assert await store.get_session("s1", now=150.0) == {"cart": []}
        assert await store.purge_sessions(now=250.0) == 1
        assert await store.get_session("s1", now=0.0) is None
        assert await store.delete_session("s2")
        assert not await store.delete_session("s2")
        assert await store.get_session("missing", now=0.0) is None

    async def test_sessions_under_a_prefix(self, store: Store) -> None:
        await store.put_session("mq:a/b", {"n": 1}, expires_at=None)
        await store.put_session("mq:a/c", {"n": 2}, expires_at=100.0)
        await store.put_session("mq:ab", {"n": 3}, expires_at=None)
        await store.put_session("mq:\u00e9", {"n": 4}, expires_at=None)
        await store.put_session("mq;", {"n": 5}, expires_at=None)
        await store.put_session("mq", {"n": 6}, expires_at=None)
        assert await store.sessions_under("mq:a/", now=0.0, limit=10) == {
            "mq:a/b": {"n": 1},
            "mq:a/c": {"n": 2},
        }
        assert await store.sessions_under("mq:a/", now=100.0, limit=10) == {"mq:a/b": {"n": 1}}
        found = await store.sessions_under("mq:", now=0.0, limit=10)
        assert set(found) == {"mq:a/b", "mq:a/c", "mq:ab", "mq:\u00e9"}
        assert list(await store.sessions_under("mq:", now=0.0, limit=2)) == ["mq:a/b", "mq:a/c"]
        assert await store.sessions_under("zz", now=0.0, limit=10) == {}
        # Characters LIKE would read as patterns are plain characters of the prefix.
        await store.put_session("mq:%_x", {"n": 7}, expires_at=None)
        assert await store.sessions_under("mq:%_", now=0.0, limit=10) == {"mq:%_x": {"n": 7}}

    # -- token revocation -----------------------------------------------------

    async def test_revocations(self, store: Store) -> None:
        await store.revoke_token("j1", 100.0, event("token.revoke"))
        await store.revoke_token("j1", 100.0, event("token.revoke"))  # idempotent
        await store.revoke_token("j2", None, event("token.revoke"))
        await store.revoke_user_tokens("u1", 50.0, event("token.revoke_all"))
        await store.revoke_user_tokens("u1", 40.0, event("token.revoke_all"))  # never moves back
        now = await store.revocations(now=10.0)
        assert now.tokens == {"j1": 100.0, "j2": None}
        assert now.users == {"u1": 50.0}
        later = await store.revocations(now=100.0)
        assert later.tokens == {"j2": None}
        assert await store.purge_revocations(now=100.0) == 1
        assert (await store.revocations(now=0.0)).tokens == {"j2": None}

    async def test_revocations_of_one_token(self, store: Store) -> None:
        await store.revoke_token("j1", 100.0, event("token.revoke"))
        await store.revoke_token("j2", None, event("token.revoke"))
        await store.revoke_user_tokens("u1", 50.0, event("token.revoke_all"))
        await store.revoke_user_tokens("u2", 60.0, event("token.revoke_all"))
        found = await store.revocations_of("u1", "j1")
        assert (found.tokens, found.users) == ({"j1": 100.0}, {"u1": 50.0})
        found = await store.revocations_of("u3", "j3")
        assert (found.tokens, found.users) == ({}, {})
        found = await store.revocations_of("u2", None)
        assert (found.tokens, found.users) == ({}, {"u2": 60.0})
