"""One conformance suite for every Store adapter.

Subclass :class:`StoreConformance` in a test module and provide a ``store``
fixture that yields an opened, empty store::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        async def store(self, tmp_path):
            store = MyStore(...)
            await store.open()
            yield store
            await store.close()

The embedded SQLite adapter and every later adapter run these same tests
unchanged; an adapter that passes them can replace another.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from homer.errors import Conflict, Forbidden, HomerError, InvalidInput, NotFound
from homer.store.ports import Store
from homer.store.records import (
    Appended,
    AuditEvent,
    GroupRecord,
    MemberRecord,
    MessageRecord,
    NewMessage,
    Page,
    RoomRecord,
    UserRecord,
)

__all__ = [
    "StoreConformance",
    "make_group",
    "make_member",
    "make_room",
    "make_user",
    "new_message",
]


def _event(
    action: str = "test", target: str = "t", actor: str = "tester", at: float = 1.0
) -> AuditEvent:
    return AuditEvent(actor=actor, action=action, target=target, at=at, detail={"k": [1, "ü"]})


def make_group(name: str = "users", **overrides: Any) -> GroupRecord:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "permissions": frozenset({"room.post"}),
        "created_at": 10.0,
        "updated_at": 10.0,
    }
    fields.update(overrides)
    return GroupRecord(**fields)


def make_user(name: str, group_id: str, **overrides: Any) -> UserRecord:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "password_hash": "$argon2id$not-a-real-hash",
        "group_id": group_id,
        "attributes": {"email": f"{name}@example.org"},
        "created_at": 20.0,
        "updated_at": 20.0,
    }
    fields.update(overrides)
    return UserRecord(**fields)


def make_room(kind: str = "public", **overrides: Any) -> RoomRecord:
    fields: dict[str, Any] = {
        "id": f"room-{uuid.uuid4()}",
        "kind": kind,
        "name": "Lobby",
        "created_by": "u-owner",
        "created_at": 30.0,
        "topic": "all things",
        "meta": {"colour": "teal", "pinned": [1, 2]},
    }
    fields.update(overrides)
    return RoomRecord(**fields)


def make_member(room_id: str, user_id: str, role: str = "member", **overrides: Any) -> MemberRecord:
    fields: dict[str, Any] = {
        "room_id": room_id,
        "user_id": user_id,
        "role": role,
        "joined_at": 31.0,
    }
    fields.update(overrides)
    return MemberRecord(**fields)


def new_message(
    room_id: str, sender_id: str = "u-ann", text: str = "hello", **overrides: Any
) -> NewMessage:
    fields: dict[str, Any] = {
        "room_id": room_id,
        "id": str(uuid.uuid4()),
        "sender_id": sender_id,
        "client_id": str(uuid.uuid4()),
        "kind": "msg",
        "ts": 100.0,
        "body": {"text": text},
    }
    fields.update(overrides)
    return NewMessage(**fields)


def _stored(outcome: Appended | HomerError) -> MessageRecord:
    """The message an append outcome holds (failing the test if it is an error)."""
    assert isinstance(outcome, Appended), f"expected a stored message, got {outcome!r}"
    return outcome.message


class StoreConformance:
    """What every Store adapter must do. Needs a ``store`` fixture (opened, empty)."""

    # -- lifecycle ------------------------------------------------------------

    async def test_open_store_answers_and_has_a_schema(self, store: Store) -> None:
        await store.ping()
        assert await store.schema_version() >= 1

    # -- users ----------------------------------------------------------------

    async def _group(self, store: Store, name: str = "users") -> GroupRecord:
        group = make_group(name)
        await store.insert_group(group, _event("group.create", f"group:{name}"))
        return group

    async def test_user_round_trip(self, store: Store) -> None:
        group = await self._group(store)
        user = make_user(
            "Ada",
            group.id,
            attributes={"nested": {"list": [1, 2.5, None, True]}, "text": "héllo ✓"},
            grants=frozenset({"a.b", "c.d"}),
            denies=frozenset({"room.post"}),
        )
        await store.insert_user(user, _event("user.create"))
        assert await store.user_by_id(user.id) == user
        assert await store.user_by_name("ada") == user
        assert await store.user_by_name("ADA") == user
        assert await store.user_by_id("nobody") is None
        assert await store.user_by_name("nobody") is None

    async def test_names_are_unique_case_insensitively(self, store: Store) -> None:
        group = await self._group(store)
        await store.insert_user(make_user("alice", group.id), _event())
        before = await store.audit_entries()
        with pytest.raises(Conflict, match="alice|ALICE"):
            await store.insert_user(make_user("ALICE", group.id), _event("user.create"))
        # Compatibility forms collide too (NFKC): fullwidth letters are the same name.
        with pytest.raises(Conflict):
            await store.insert_user(make_user("ａｌｉｃｅ", group.id), _event("user.create"))
        assert [e.id for e in (await store.audit_entries()).items] == [
            e.id for e in before.items
        ], "a refused change must not leave an audit entry"

    async def test_concurrent_inserts_of_one_name_let_exactly_one_win(self, store: Store) -> None:
        group = await self._group(store)
        results = await asyncio.gather(
            *(store.insert_user(make_user("bob", group.id), _event()) for _ in range(5)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not None)

    async def test_replace_follows_versions(self, store: Store) -> None:
        group = await self._group(store)
        user = make_user("carol", group.id)
        await store.insert_user(user, _event())
        changed = UserRecord(**{**_fields(user), "attributes": {"x": 1}, "version": 2})
        await store.replace_user(changed, _event("user.update"))
        assert await store.user_by_id(user.id) == changed
        stale = UserRecord(**{**_fields(user), "attributes": {"x": 2}, "version": 2})
        with pytest.raises(Conflict):
            await store.replace_user(stale, _event("user.update"))
        assert await store.user_by_id(user.id) == changed
        ghost = make_user("ghost", group.id, version=2)
        with pytest.raises(NotFound):
            await store.replace_user(ghost, _event())

    async def test_rename_onto_a_taken_name_is_refused(self, store: Store) -> None:
        group = await self._group(store)
        dave = make_user("dave", group.id)
        erin = make_user("erin", group.id)
        await store.insert_user(dave, _event())
        await store.insert_user(erin, _event())
        clash = UserRecord(**{**_fields(erin), "name": "Dave", "version": 2})
        with pytest.raises(Conflict):
            await store.replace_user(clash, _event())
        assert (await store.user_by_id(erin.id)) == erin
        own_case = UserRecord(**{**_fields(erin), "name": "Erin", "version": 2})
        await store.replace_user(own_case, _event())
        assert (await store.user_by_name("erin")) == own_case

    async def test_one_replace_writes_all_its_audit_entries_or_none(self, store: Store) -> None:
        group = await self._group(store)
        gina = make_user("gina", group.id)
        holly = make_user("holly", group.id)
        await store.insert_user(gina, _event())
        await store.insert_user(holly, _event())
        both = [
            _event("user.update", target="user:gina"),
            _event("user.rename", target="user:gina"),
        ]
        clash = UserRecord(**{**_fields(gina), "name": "Holly", "version": 2})
        with pytest.raises(Conflict):
            await store.replace_user(clash, both)
        assert (await store.audit_entries(limit=10, target="user:gina")).items == []
        renamed = UserRecord(**{**_fields(gina), "name": "gwen", "version": 2})
        await store.replace_user(renamed, both)
        entries = (await store.audit_entries(limit=10, target="user:gina")).items
        assert sorted(e.action for e in entries) == ["user.rename", "user.update"]

    async def test_delete_user(self, store: Store) -> None:
        group = await self._group(store)
        user = make_user("frank", group.id)
        await store.insert_user(user, _event())
        assert await store.delete_user(user.id, _event("user.delete"))
        assert await store.user_by_id(user.id) is None
        assert not await store.delete_user(user.id, _event("user.delete"))
        actions = [e.action for e in (await store.audit_entries()).items]
        assert actions.count("user.delete") == 1
        # The name is free again.
        await store.insert_user(make_user("frank", group.id), _event())

    async def test_list_users_pages_searches_and_filters(self, store: Store) -> None:
        users = await self._group(store, "users")
        admins = await self._group(store, "admins")
        names = [f"user{i:02d}" for i in range(25)] + ["Zed", "admin1"]
        for name in names:
            group_id = admins.id if name.startswith("admin") else users.id
            await store.insert_user(make_user(name, group_id), _event())
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
        await store.insert_group(group, _event())
        assert await store.group_by_id(group.id) == group
        assert await store.group_by_name("staff") == group
        with pytest.raises(Conflict):
            await store.insert_group(make_group("STAFF"), _event())
        child = make_group("juniors", parent_id=group.id)
        await store.insert_group(child, _event())
        assert [g.name for g in await store.all_groups()] == ["juniors", "Staff"]
        changed = GroupRecord(**{**_fields(child), "permissions": frozenset(), "version": 2})
        await store.replace_group(changed, _event())
        assert await store.group_by_id(child.id) == changed
        with pytest.raises(Conflict):
            await store.replace_group(changed, _event())

    async def test_delete_group_moves_members_to_the_heir(self, store: Store) -> None:
        base = await self._group(store, "base")
        doomed = make_group("doomed", parent_id=base.id)
        await store.insert_group(doomed, _event())
        child = make_group("child", parent_id=doomed.id)
        await store.insert_group(child, _event())
        members = [make_user(f"m{i}", doomed.id) for i in range(3)]
        for member in members:
            await store.insert_user(member, _event())
        outsider = make_user("outsider", base.id)
        await store.insert_user(outsider, _event())
        assert await store.count_members(doomed.id) == 3
        moved = await store.delete_group(doomed.id, heir_id=base.id, audit=_event("group.delete"))
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
            await store.delete_group(doomed.id, heir_id=base.id, audit=_event())
        with pytest.raises(NotFound):
            await store.delete_group(child.id, heir_id="no-such-group", audit=_event())
        with pytest.raises(Conflict):
            await store.delete_group(base.id, heir_id=base.id, audit=_event())
        assert await store.group_by_id(child.id) is not None
        # A deleted root's children become roots, even when the heir is one of them.
        await store.delete_group(base.id, heir_id=child.id, audit=_event())
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
                _event("user.create", f"user:u{i}", actor, at=100.0 + i),
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

    # -- token revocation -----------------------------------------------------

    async def test_revocations(self, store: Store) -> None:
        await store.revoke_token("j1", 100.0, _event("token.revoke"))
        await store.revoke_token("j1", 100.0, _event("token.revoke"))  # idempotent
        await store.revoke_token("j2", None, _event("token.revoke"))
        await store.revoke_user_tokens("u1", 50.0, _event("token.revoke_all"))
        await store.revoke_user_tokens("u1", 40.0, _event("token.revoke_all"))  # never moves back
        now = await store.revocations(now=10.0)
        assert now.tokens == {"j1": 100.0, "j2": None}
        assert now.users == {"u1": 50.0}
        later = await store.revocations(now=100.0)
        assert later.tokens == {"j2": None}
        assert await store.purge_revocations(now=100.0) == 1
        assert (await store.revocations(now=0.0)).tokens == {"j2": None}

    async def test_revocations_of_one_token(self, store: Store) -> None:
        await store.revoke_token("j1", 100.0, _event("token.revoke"))
        await store.revoke_token("j2", None, _event("token.revoke"))
        await store.revoke_user_tokens("u1", 50.0, _event("token.revoke_all"))
        await store.revoke_user_tokens("u2", 60.0, _event("token.revoke_all"))
        found = await store.revocations_of("u1", "j1")
        assert (found.tokens, found.users) == ({"j1": 100.0}, {"u1": 50.0})
        found = await store.revocations_of("u3", "j3")
        assert (found.tokens, found.users) == ({}, {})
        found = await store.revocations_of("u2", None)
        assert (found.tokens, found.users) == ({}, {"u2": 60.0})

    # -- rooms ----------------------------------------------------------------

    async def _room(self, store: Store, *members: str, **overrides: Any) -> RoomRecord:
        room = make_room(**overrides)
        await store.create_room(room, [make_member(room.id, user_id) for user_id in members])
        return room

    async def test_room_round_trip(self, store: Store) -> None:
        room = make_room("private", meta={"nested": {"list": [1, 2.5, None, True]}, "ü": "✓"})
        owner = make_member(room.id, "u-owner", "owner", joined_at=40.0)
        member = make_member(room.id, "u-ann", read_seq=0)
        await store.create_room(room, [owner, member])
        assert await store.room(room.id) == room
        assert await store.member(room.id, "u-owner") == owner
        assert await store.member(room.id, "u-ann") == member
        assert await store.member(room.id, "u-bob") is None
        assert await store.room("no-such-room") is None
        assert await store.room_by_dm_key("no such key") is None
        dm = make_room("dm", name="", topic="", meta={}, dm_key="u-ann u-bob")
        await store.create_room(dm, [])
        assert await store.room_by_dm_key("u-ann u-bob") == dm
        assert await store.room(dm.id) == dm

    async def test_a_taken_room_id_or_dm_key_is_a_conflict_and_writes_nothing(
        self, store: Store
    ) -> None:
        room = await self._room(store, "u-ann")
        again = make_room(id=room.id, name="Other")
        with pytest.raises(Conflict, match="room"):
            await store.create_room(again, [make_member(room.id, "u-bob")])
        assert await store.room(room.id) == room
        assert await store.member(room.id, "u-bob") is None
        dm = await self._room(store, kind="dm", dm_key="u-ann u-bob")
        twin = make_room("dm", dm_key="u-ann u-bob")
        with pytest.raises(Conflict, match="u-ann u-bob"):
            await store.create_room(twin, [make_member(twin.id, "u-ann")])
        assert await store.room(twin.id) is None
        assert await store.member(twin.id, "u-ann") is None
        assert await store.room_by_dm_key("u-ann u-bob") == dm
        # Rooms that are no DM need no key: many rooms have none.
        await self._room(store)
        await self._room(store)

    async def test_concurrent_creates_of_one_dm_let_exactly_one_win(self, store: Store) -> None:
        results = await asyncio.gather(
            *(store.create_room(make_room("dm", dm_key="u-x u-y"), []) for _ in range(5)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not None)

    async def test_update_room_changes_only_what_is_given(self, store: Store) -> None:
        room = await self._room(store)
        renamed = await store.update_room(room.id, name="Hall")
        assert renamed == RoomRecord(**{**_fields(room), "name": "Hall"})
        retopiced = await store.update_room(room.id, topic="", meta={"x": [1]})
        assert retopiced == RoomRecord(**{**_fields(renamed), "topic": "", "meta": {"x": [1]}})
        assert await store.room(room.id) == retopiced
        assert await store.update_room(room.id) == retopiced
        with pytest.raises(NotFound):
            await store.update_room("no-such-room", name="x")

    async def test_list_rooms_filters_kinds_and_pages_by_id(self, store: Store) -> None:
        public = [await self._room(store, id=f"p{i:02d}") for i in (3, 1, 4, 5, 9, 2, 6)]
        await self._room(store, id="a-announce", kind="announce")
        await self._room(store, id="private", kind="private")
        await self._room(store, id="dm", kind="dm", dm_key="u-a u-b")
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.list_rooms(kinds=["public", "announce"], after=cursor, limit=3)
            assert len(page.items) <= 3
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == sorted(["a-announce", *(r.id for r in public)])
        only = await store.list_rooms(kinds=["private"])
        assert [r.id for r in only.items] == ["private"]
        assert only.next_cursor is None
        exact = await store.list_rooms(kinds=["public"], limit=len(public))
        assert len(exact.items) == len(public)
        assert exact.next_cursor is None
        assert (await store.list_rooms(kinds=[])).items == []
        assert (await store.list_rooms(kinds=["nothing"])).items == []

    async def test_a_limit_of_zero_or_less_is_an_empty_page(self, store: Store) -> None:
        group = await self._group(store, "users")
        await store.insert_user(make_user("ann", group.id), _event())
        room = await self._room(store, "u-ann")
        for limit in (0, -1, -5):
            assert await store.list_users(limit=limit) == Page([])
            assert await store.audit_entries(limit=limit) == Page([])
            assert await store.list_rooms(kinds=["public"], limit=limit) == Page([])
            assert await store.members(room.id, limit=limit) == Page([])

    async def test_rooms_of_lists_the_memberships_by_room_id(self, store: Store) -> None:
        for room_id in ("r-c", "r-a", "r-b"):
            await self._room(store, "u-ann", "u-bob", id=room_id)
        await self._room(store, "u-bob", id="r-0")
        pairs = await store.rooms_of("u-ann")
        assert [(room.id, member.room_id) for room, member in pairs] == [
            ("r-a", "r-a"),
            ("r-b", "r-b"),
            ("r-c", "r-c"),
        ]
        room, member = pairs[0]
        assert room == await store.room("r-a")
        assert member == await store.member("r-a", "u-ann")
        assert await store.count_rooms_of("u-ann") == 3
        assert await store.count_rooms_of("u-bob") == 4
        assert await store.rooms_of("u-nobody") == []
        assert await store.count_rooms_of("u-nobody") == 0

    async def test_members_join_leave_and_page_by_user_id(self, store: Store) -> None:
        room = await self._room(store, "u-owner")
        joined = make_member(room.id, "u-ann", joined_at=50.0)
        assert await store.add_member(joined)
        assert not await store.add_member(make_member(room.id, "u-ann", "owner", joined_at=60.0))
        assert await store.member(room.id, "u-ann") == joined, "the stored membership stays"
        for i in (7, 3, 9, 1, 5):
            assert await store.add_member(make_member(room.id, f"u-{i}"))
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await store.members(room.id, after=cursor, limit=2)
            assert len(page.items) <= 2
            seen += [m.user_id for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = sorted(["u-owner", "u-ann", "u-1", "u-3", "u-5", "u-7", "u-9"])
        assert seen == expected
        whole = await store.members(room.id, limit=len(expected))
        assert [m.user_id for m in whole.items] == expected
        assert whole.next_cursor is None
        assert await store.remove_member(room.id, "u-ann")
        assert not await store.remove_member(room.id, "u-ann")
        assert await store.member(room.id, "u-ann") is None
        assert await store.count_rooms_of("u-ann") == 0
        assert (await store.members("no-such-room")).items == []
        with pytest.raises(NotFound):
            await store.add_member(make_member("no-such-room", "u-ann"))

    async def test_join_room_applies_the_joining_rules_at_once(self, store: Store) -> None:
        public, private, dm = make_room("public"), make_room("private"), make_room("dm")
        for room in (public, private, dm):
            await store.create_room(room, [make_member(room.id, "u-owner", "owner")])
        room, member, new = await store.join_room(public.id, "u-ann", joined_at=5.0, max_rooms=10)
        assert (room, new) == (public, True)
        assert member == make_member(public.id, "u-ann", joined_at=5.0)
        again = await store.join_room(public.id, "u-ann", joined_at=9.0, max_rooms=10)
        assert again == (public, member, False), "an existing member keeps their membership"
        with pytest.raises(Forbidden):
            await store.join_room(private.id, "u-ann", joined_at=1.0, max_rooms=10)
        await store.set_invite(private.id, "u-ann", True)
        _, _, new = await store.join_room(private.id, "u-ann", joined_at=1.0, max_rooms=10)
        assert new
        assert not await store.is_invited(private.id, "u-ann"), "the invitation is used"
        with pytest.raises(Forbidden):
            await store.join_room(dm.id, "u-ann", joined_at=1.0, max_rooms=10)
        await store.set_ban(public.id, "u-bob", True)
        with pytest.raises(Forbidden):
            await store.join_room(public.id, "u-bob", joined_at=1.0, max_rooms=10)
        with pytest.raises(NotFound):
            await store.join_room("no-such-room", "u-ann", joined_at=1.0, max_rooms=10)
        with pytest.raises(Conflict):  # no room left in u-cat's budget
            await store.join_room(public.id, "u-cat", joined_at=1.0, max_rooms=0)
        assert await store.member(public.id, "u-cat") is None
        assert await store.count_rooms_of("u-ann") == 2

    async def test_bans_and_invitations(self, store: Store) -> None:
        room = await self._room(store)
        other = await self._room(store)
        for set_flag, has_flag in (
            (store.set_ban, store.is_banned),
            (store.set_invite, store.is_invited),
        ):
            assert not await has_flag(room.id, "u-ann")
            await set_flag(room.id, "u-ann", True)
            await set_flag(room.id, "u-ann", True)  # idempotent
            assert await has_flag(room.id, "u-ann")
            assert not await has_flag(room.id, "u-bob")
            assert not await has_flag(other.id, "u-ann")
            await set_flag(room.id, "u-ann", False)
            await set_flag(room.id, "u-ann", False)  # idempotent
            assert not await has_flag(room.id, "u-ann")
            await set_flag(other.id, "u-bob", True)
            assert await has_flag(other.id, "u-bob")
            assert not await has_flag("no-such-room", "u-ann")
            await set_flag("no-such-room", "u-ann", False)
            with pytest.raises(NotFound):
                await set_flag("no-such-room", "u-ann", True)
        # A ban and an invitation are independent of each other.
        await store.set_ban(room.id, "u-cy", True)
        assert not await store.is_invited(room.id, "u-cy")

    async def test_read_markers_move_forward_only_and_not_past_the_end(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        await store.append_messages([new_message(room.id, "u-bob") for _ in range(5)])
        assert await store.set_read(room.id, "u-ann", 3) == 3
        assert await store.set_read(room.id, "u-ann", 2) == 3, "never back"
        assert await store.set_read(room.id, "u-ann", 99) == 5, "never past last_seq"
        member = await store.member(room.id, "u-ann")
        assert member is not None
        assert member.read_seq == 5
        bob = await store.member(room.id, "u-bob")
        assert bob is not None
        assert bob.read_seq == 0, "another member's marker is left alone"
        with pytest.raises(NotFound):
            await store.set_read(room.id, "u-cy", 1)
        with pytest.raises(NotFound):
            await store.set_read("no-such-room", "u-ann", 1)

    async def test_unread_counts(self, store: Store) -> None:
        busy = await self._room(store, "u-ann", "u-bob", id="r-busy")
        quiet = await self._room(store, "u-ann", "u-bob", id="r-quiet")
        flood = await self._room(store, "u-ann", "u-bob", id="r-flood")
        await self._room(store, "u-bob", id="r-not-mine")
        await store.append_messages(
            [
                new_message(busy.id, "u-bob"),
                new_message(busy.id, "u-ann"),  # own: never unread
                new_message(busy.id, "u-bob", kind="join", body={}),  # not a msg
                new_message(busy.id, "u-bob"),
                new_message(busy.id, "u-bob"),
                new_message(quiet.id, "u-ann"),
                new_message("r-not-mine", "u-bob"),
            ]
        )
        await store.append_messages([new_message(flood.id, "u-bob") for _ in range(30)])
        assert await store.unread_counts("u-ann") == {busy.id: 3, quiet.id: 0, flood.id: 30}
        assert await store.unread_counts("u-ann", cap=10) == {
            busy.id: 3,
            quiet.id: 0,
            flood.id: 10,
        }
        await store.set_read(busy.id, "u-ann", 4)  # past the first three
        assert (await store.unread_counts("u-ann"))[busy.id] == 1
        await store.set_read(flood.id, "u-ann", 25)
        assert (await store.unread_counts("u-ann", cap=10))[flood.id] == 5
        assert await store.unread_counts("u-bob") == {
            busy.id: 1,
            quiet.id: 1,
            flood.id: 0,
            "r-not-mine": 0,
        }
        assert await store.unread_counts("u-nobody") == {}
        listed = await store.room_list("u-ann", cap=10)
        assert [(room.id, unread) for room, _, unread in listed] == sorted(
            (await store.unread_counts("u-ann", cap=10)).items()
        )
        assert await store.rooms_of("u-ann") == [(room, member) for room, member, _ in listed]
        assert await store.unread_counts("u-ann", room_id=busy.id) == {busy.id: 1}
        assert await store.unread_counts("u-ann", room_id="no-such-room") == {}

    async def test_delete_room_takes_everything_of_it(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob", kind="dm", dm_key="u-ann u-bob")
        keep = await self._room(store, "u-ann")
        await store.set_ban(room.id, "u-cy", True)
        await store.set_invite(room.id, "u-dee", True)
        sent = new_message(room.id, "u-ann", client_id="c-1")
        await store.append_messages([sent, new_message(keep.id, "u-ann", client_id="c-1")])
        assert await store.delete_room(room.id)
        assert not await store.delete_room(room.id)
        assert await store.room(room.id) is None
        assert await store.room_by_dm_key("u-ann u-bob") is None
        assert await store.member(room.id, "u-ann") is None
        assert [r.id for r, _ in await store.rooms_of("u-ann")] == [keep.id]
        assert await store.count_rooms_of("u-bob") == 0
        assert not await store.is_banned(room.id, "u-cy")
        assert not await store.is_invited(room.id, "u-dee")
        assert await store.messages_after(room.id, 0) == []
        assert await store.unread_counts("u-bob") == {}
        # The id and the DM key are free again, and a new room of that id starts afresh.
        again = await self._room(store, id=room.id, kind="dm", dm_key="u-ann u-bob")
        assert (await store.room(room.id)) == again
        assert (await store.members(room.id)).items == []
        assert not await store.is_banned(room.id, "u-cy")
        (outcome,) = await store.append_messages([sent])
        assert isinstance(outcome, Appended)
        assert not outcome.duplicate
        assert outcome.message.seq == 1
        # The other room lost nothing.
        assert len(await store.messages_after(keep.id, 0)) == 1
        assert await store.member(keep.id, "u-ann") is not None

    # -- messages -------------------------------------------------------------

    async def test_append_numbers_each_room_densely_in_batch_order(self, store: Store) -> None:
        a = await self._room(store)
        b = await self._room(store)
        batch = [
            new_message(a.id, "u-ann", "a1", ts=101.0, body={"text": "a1", "n": [1, None]}),
            new_message(b.id, "u-bob", "b1", ts=102.0),
            new_message(a.id, "u-bob", "a2", ts=103.0, kind="topic", body={"topic": "ü ✓"}),
            new_message(a.id, "u-ann", "a3", ts=104.0),
        ]
        outcomes = await store.append_messages(batch)
        assert [(m.room_id, m.seq) for m in map(_stored, outcomes)] == [
            (a.id, 1),
            (b.id, 1),
            (a.id, 2),
            (a.id, 3),
        ]
        for sent, outcome in zip(batch, outcomes, strict=True):
            assert isinstance(outcome, Appended)
            assert not outcome.duplicate
            assert outcome.message == _record(sent, outcome.message.seq)
        more = await store.append_messages([new_message(b.id), new_message(a.id)])
        assert [(m.room_id, m.seq) for m in map(_stored, more)] == [(b.id, 2), (a.id, 4)]
        room_a = await store.room(a.id)
        room_b = await store.room(b.id)
        assert room_a is not None
        assert room_b is not None
        assert (room_a.last_seq, room_b.last_seq) == (4, 2)
        stored = await store.messages_after(a.id, 0)
        assert stored == [_stored(outcomes[i]) for i in (0, 2, 3)] + [_stored(more[1])]
        assert await store.append_messages([]) == []

    async def test_a_resend_is_a_duplicate_not_a_new_message(self, store: Store) -> None:
        room = await self._room(store)
        other = await self._room(store)
        first = new_message(room.id, "u-ann", "first", client_id="c-1")
        (original,) = await store.append_messages([first])
        stored = _stored(original)
        # Resent later with another id and body among new messages: the stored one wins,
        # and the new messages around it are numbered without a gap.
        resend = new_message(room.id, "u-ann", "changed", client_id="c-1", ts=200.0)
        outcomes = await store.append_messages(
            [new_message(room.id, client_id="c-2"), resend, new_message(room.id, client_id="c-3")]
        )
        assert [isinstance(o, Appended) and o.duplicate for o in outcomes] == [False, True, False]
        assert _stored(outcomes[1]) == stored
        assert [_stored(o).seq for o in outcomes] == [2, 1, 3]
        # Twice in one batch: stored once, the second is a duplicate of the first.
        twice = new_message(room.id, "u-bob", client_id="c-9")
        outcomes = await store.append_messages([twice, new_message(room.id), twice])
        assert [isinstance(o, Appended) and o.duplicate for o in outcomes] == [False, False, True]
        assert _stored(outcomes[2]) == _stored(outcomes[0])
        assert [_stored(o).seq for o in outcomes] == [4, 5, 4]
        # The same client id from another sender, or in another room, is another message.
        outcomes = await store.append_messages(
            [
                new_message(room.id, "u-bob", client_id="c-1"),
                new_message(other.id, "u-ann", client_id="c-1"),
            ]
        )
        assert [isinstance(o, Appended) and o.duplicate for o in outcomes] == [False, False]
        assert [_stored(o).seq for o in outcomes] == [6, 1]
        # A batch of nothing but duplicates changes nothing.
        outcomes = await store.append_messages([first, twice])
        assert all(isinstance(o, Appended) and o.duplicate for o in outcomes)
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == 6
        assert [m.seq for m in await store.messages_after(room.id, 0)] == [1, 2, 3, 4, 5, 6]

    async def test_a_message_for_a_missing_room_fails_alone(self, store: Store) -> None:
        room = await self._room(store)
        outcomes = await store.append_messages(
            [
                new_message(room.id),
                new_message("no-such-room"),
                new_message(room.id),
                new_message("no-such-room"),
            ]
        )
        assert isinstance(outcomes[1], NotFound)
        assert isinstance(outcomes[3], NotFound)
        assert [_stored(outcomes[i]).seq for i in (0, 2)] == [1, 2]
        assert [m.seq for m in await store.messages_after(room.id, 0)] == [1, 2]
        assert await store.messages_after("no-such-room", 0) == []

    async def test_a_message_holding_a_nul_character_fails_alone(self, store: Store) -> None:
        """A NUL character in an id, the kind or the text is refused by every store
        (PostgreSQL cannot keep one in a text column), so what a client may send does
        not depend on the store. Structured data is JSON: it may hold one."""
        room = await self._room(store)
        refused = [
            new_message(room.id, text="a\x00b"),
            new_message(room.id, client_id="c\x00"),
            new_message(room.id, "u-\x00"),
            new_message(room.id, id="m\x00"),
            new_message(room.id, kind="msg\x00"),
            new_message(f"{room.id}\x00"),
        ]
        data = new_message(room.id, body={"text": "fine", "data": {"k\x00": ["v\x00"]}})
        after = new_message(room.id)
        outcomes = await store.append_messages([data, *refused, after])
        for outcome in outcomes[1:-1]:
            assert isinstance(outcome, InvalidInput), outcome
        assert [_stored(outcomes[i]) for i in (0, -1)] == [_record(data, 1), _record(after, 2)]
        again = await store.append_messages(refused)  # nothing was stored to repeat
        assert all(isinstance(outcome, InvalidInput) for outcome in again)
        assert await store.messages_after(room.id, 0) == [_record(data, 1), _record(after, 2)]
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == 2

    async def test_time_never_goes_back_as_seq_grows_in_a_room(self, store: Store) -> None:
        """Writers with clocks apart (nodes, a clock stepped back): a message stored
        after another in a room is never older, so one who follows the room by time
        (``since`` = the last ``ts`` seen) misses nothing."""
        room = await self._room(store)
        other = await self._room(store)
        await store.append_messages([new_message(room.id, ts=200.0)])
        outcomes = await store.append_messages(
            [
                new_message(room.id, ts=150.0),  # a writer 50 s behind
                new_message(other.id, ts=10.0),  # another room keeps its own time
                new_message(room.id, ts=201.0),
                new_message(room.id, ts=199.0),
            ]
        )
        assert [_stored(o).ts for o in outcomes] == [200.0, 10.0, 201.0, 201.0]
        await store.append_messages([new_message(room.id, ts=1.0)])
        stored = await store.messages_after(room.id, 0)
        assert [m.ts for m in stored] == [200.0, 200.0, 201.0, 201.0, 201.0]
        since = await store.messages_between(room.id, 201.0, float("inf"))
        assert [m.seq for m in since] == [3, 4, 5]

    async def _history(self, store: Store, count: int) -> tuple[RoomRecord, list[MessageRecord]]:
        """A room with ``count`` messages, message n sent at ``1000 + n``."""
        room = await self._room(store)
        noise = await self._room(store)
        stored: list[MessageRecord] = []
        for start in range(1, count + 1, 10):
            batch = [
                new_message(room.id, f"u-{n % 3}", f"m{n}", ts=1000.0 + n)
                for n in range(start, min(start + 10, count + 1))
            ]
            outcomes = await store.append_messages([*batch, new_message(noise.id, ts=1005.5)])
            stored += [_stored(o) for o in outcomes[:-1]]
        return room, stored

    async def test_history_by_sequence_number(self, store: Store) -> None:
        room, stored = await self._history(store, 25)
        assert [m.seq for m in stored] == list(range(1, 26))
        assert await store.messages_after(room.id, 0) == stored
        assert await store.messages_after(room.id, 20) == stored[20:]
        assert await store.messages_after(room.id, 3, limit=4) == stored[3:7]
        assert await store.messages_after(room.id, 25) == []
        assert await store.messages_before(room.id, None) == stored
        assert await store.messages_before(room.id, None, limit=5) == stored[-5:]
        assert await store.messages_before(room.id, 11, limit=4) == stored[6:10]
        assert await store.messages_before(room.id, 3) == stored[:2]
        assert await store.messages_before(room.id, 1) == []
        assert await store.messages_before(room.id, 1000, limit=2) == stored[-2:]
        assert await store.messages_after(room.id, 0, limit=0) == []
        assert await store.messages_before(room.id, None, limit=0) == []
        assert await store.messages_before("no-such-room", None) == []
        # Paging backwards from the end meets every message once.
        seen: list[MessageRecord] = []
        before: int | None = None
        while page := await store.messages_before(room.id, before, limit=7):
            seen = page + seen
            before = page[0].seq
        assert seen == stored

    async def test_history_by_time(self, store: Store) -> None:
        room, stored = await self._history(store, 25)
        assert await store.messages_between(room.id, 1005.0, 1010.0) == stored[4:9]
        assert await store.messages_between(room.id, 1005.5, 1010.5) == stored[5:10]
        assert await store.messages_between(room.id, 0.0, 1e12, limit=3) == stored[:3]
        assert await store.messages_between(room.id, 0.0, float("inf")) == stored
        assert await store.messages_between(room.id, 1010.0, 1010.0) == []
        assert await store.messages_between(room.id, 2000.0, 3000.0) == []
        assert await store.messages_between("no-such-room", 0.0, 1e12) == []
        # newest: the page just before ``until``, still oldest first.
        newest = await store.messages_between(room.id, 0.0, 1010.0, limit=3, newest=True)
        assert newest == stored[6:9]
        assert await store.messages_between(room.id, 1005.0, 1010.0, newest=True) == stored[4:9]
        latest = await store.messages_between(room.id, 0.0, float("inf"), limit=2, newest=True)
        assert latest == stored[-2:]
        assert await store.messages_between(room.id, 0.0, 1001.0, newest=True) == []
        # Paging backwards by time from the end meets every message once.
        seen: list[MessageRecord] = []
        until = float("inf")
        while page := await store.messages_between(room.id, 0.0, until, limit=7, newest=True):
            seen = page + seen
            until = page[0].ts
        assert seen == stored

    async def test_purge_history_starts_a_new_epoch(self, store: Store) -> None:
        room = await self._room(store, "u-ann")
        other = await self._room(store)
        await store.append_messages([new_message(room.id, "u-bob") for _ in range(3)])
        await store.append_messages([new_message(other.id)])
        await store.set_read(room.id, "u-ann", 2)
        assert await store.purge_history(room.id) == room.epoch + 1
        purged = await store.room(room.id)
        assert purged is not None
        assert (purged.epoch, purged.last_seq) == (room.epoch + 1, 3)
        assert await store.messages_after(room.id, 0) == []
        assert await store.messages_before(room.id, None) == []
        assert await store.unread_counts("u-ann") == {room.id: 0}
        member = await store.member(room.id, "u-ann")
        assert member is not None
        assert member.read_seq == 2
        (outcome,) = await store.append_messages([new_message(room.id, "u-bob")])
        assert _stored(outcome).seq == 4, "sequence numbers keep counting"
        assert await store.unread_counts("u-ann") == {room.id: 1}
        assert await store.purge_history(room.id) == room.epoch + 2
        assert len(await store.messages_after(other.id, 0)) == 1, "other rooms keep theirs"
        with pytest.raises(NotFound):
            await store.purge_history("no-such-room")

    async def test_concurrent_appends_to_one_room_leave_no_gap(self, store: Store) -> None:
        room = await self._room(store)
        batches = [
            [new_message(room.id, f"u-{sender}", f"{sender}-{n}") for n in range(20)]
            for sender in range(5)
        ]
        results = await asyncio.gather(*(store.append_messages(b) for b in batches))
        seqs = sorted(_stored(o).seq for outcomes in results for o in outcomes)
        assert seqs == list(range(1, 101))
        for outcomes in results:  # each batch in its own order
            mine = [_stored(o).seq for o in outcomes]
            assert mine == sorted(mine)
        stored = await store.messages_after(room.id, 0, limit=1000)
        assert [m.seq for m in stored] == list(range(1, 101))
        found = await store.room(room.id)
        assert found is not None
        assert found.last_seq == 100


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__}


def _record(message: NewMessage, seq: int) -> MessageRecord:
    return MessageRecord(
        room_id=message.room_id,
        seq=seq,
        id=message.id,
        sender_id=message.sender_id,
        client_id=message.client_id,
        kind=message.kind,
        ts=message.ts,
        body=message.body,
    )
