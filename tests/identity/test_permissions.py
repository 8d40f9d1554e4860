from __future__ import annotations

from typing import Any

import pytest

from homer.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from homer.identity import (
    SYSTEM,
    Authorizer,
    Identity,
    PermissionSet,
    User,
    protect,
    requires,
)
from homer.store.records import GroupRecord

PASSWORD = "correct horse"


def test_unknown_or_malformed_permission_names_are_rejected() -> None:
    permissions = PermissionSet(["app.export", "app.billing_read"])
    assert "app.export" in permissions
    assert "room.post" in permissions, "built-in names are always there"
    with pytest.raises(InvalidInput, match="app.nope"):
        permissions.check(["app.export", "app.nope"])
    for bad in ("Upper.case", "trailing.", "", "spa ce"):
        with pytest.raises(InvalidInput):
            PermissionSet([bad])


def _user(group_id: str, version: int = 1, **kw: Any) -> User:
    return User(
        id="u1",
        name="u",
        group_id=group_id,
        attributes={},
        grants=kw.get("grants", frozenset()),
        denies=kw.get("denies", frozenset()),
        created_at=0,
        updated_at=0,
        version=version,
    )


def test_inheritance_overrides_and_cache_invalidation() -> None:
    base = GroupRecord("g1", "base", frozenset({"room.post"}))
    mods = GroupRecord("g2", "mods", frozenset({"room.moderate"}), parent_id="g1")
    authorizer = Authorizer(PermissionSet(), [base, mods])
    member = _user("g2")
    assert authorizer.can(member, "room.post"), "inherited from the parent"
    assert authorizer.can(member, "room.moderate")
    assert not authorizer.can(member, "admin.users")
    with pytest.raises(InvalidInput, match="unknown permission"):
        authorizer.can(member, "room.psot")

    authorizer.group_changed(GroupRecord("g1", "base", frozenset(), version=2))
    assert not authorizer.can(member, "room.post"), "a group change clears the cache"

    special = _user(
        "g2", version=2, grants=frozenset({"admin.users"}), denies=frozenset({"room.moderate"})
    )
    assert authorizer.can(special, "admin.users")
    assert not authorizer.can(special, "room.moderate")
    assert authorizer.effective(special) == frozenset({"admin.users"})


def test_a_parent_cycle_in_stored_data_does_not_hang() -> None:
    a = GroupRecord("a", "a", frozenset({"room.post"}), parent_id="b")
    b = GroupRecord("b", "b", frozenset({"room.create"}), parent_id="a")
    authorizer = Authorizer(PermissionSet(), [a, b])
    assert authorizer.group_permissions("a") == {"room.post", "room.create"}


class Principalish:
    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.id = self.name = "p"

    def can(self, permission: str) -> bool:
        return permission in self.allowed


@requires("room.create")
def create_room(actor: Principalish, name: str) -> str:
    return f"created {name}"


@requires("room.create")
async def create_room_async(actor: Principalish, name: str) -> str:
    return f"created {name}"


class Rooms:
    def __init__(self) -> None:
        self.created: list[str] = []

    @requires("room.create")
    def create(self, actor: Principalish, name: str) -> str:
        self.created.append(name)
        return name

    @requires("room.create")
    async def create_async(self, actor: Principalish, name: str) -> str:
        self.created.append(name)
        return name


async def test_guard_on_functions_coroutines_methods_and_protect() -> None:
    yes, no = Principalish({"room.create"}), Principalish(set())
    rooms = Rooms()
    assert create_room(yes, "a") == "created a"
    assert await create_room_async(yes, "b") == "created b"
    assert rooms.create(yes, "c") == "c"
    assert await rooms.create_async(yes, "d") == "d"
    guarded_bound = protect("room.create", Rooms().create)
    assert guarded_bound(yes, "e") == "e"
    guarded_lambda = protect("admin.users", lambda actor, x: x * 2)
    assert guarded_lambda(Principalish({"admin.users"}), 4) == 8

    with pytest.raises(NotAuthorized, match="room.create"):
        create_room(no, "x")
    with pytest.raises(NotAuthorized):
        await create_room_async(no, "x")
    with pytest.raises(NotAuthorized):
        rooms.create(no, "x")
    with pytest.raises(NotAuthorized):
        await rooms.create_async(no, "x")
    with pytest.raises(NotAuthorized):
        guarded_lambda(no, 1)
    assert rooms.created == ["c", "d"], "a refused call never runs its body"
    assert create_room.required_permission == "room.create"  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="not a principal"):
        create_room(42, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"identity\.guarded\.create_room\(user_id"):
        create_room("a user id", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot look a user id up"):
        await rooms.create_async("a user id", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="acting principal"):
        create_room()  # type: ignore[call-arg]


async def test_a_per_user_grant_follows_the_group_it_started_from(homer_identity: Identity) -> None:
    """The original design's "personal group inheriting from the old one", as overrides."""
    user = await homer_identity.accounts.register("olga", PASSWORD)
    assert not homer_identity.can(user, "broadcast.send")
    user = await homer_identity.accounts.grant(SYSTEM, "olga", "broadcast.send")
    assert homer_identity.can(user, "broadcast.send")
    assert (await homer_identity.accounts.get("olga")).group_id == user.group_id

    # A later change to her group still reaches her.
    await homer_identity.groups.grant(SYSTEM, "users", "room.announce")
    assert homer_identity.can(user, "room.announce")
    await homer_identity.groups.revoke(SYSTEM, "users", "room.post")
    assert not homer_identity.can(user, "room.post")

    user = await homer_identity.accounts.revoke(SYSTEM, "olga", "room.create")
    assert not homer_identity.can(user, "room.create")
    other = await homer_identity.accounts.register("pete", PASSWORD)
    assert homer_identity.can(other, "room.create"), "others in the group are untouched"
    assert not homer_identity.can(other, "broadcast.send")
    user = await homer_identity.accounts.reset_permissions(SYSTEM, "olga")
    assert homer_identity.can(user, "room.create")
    assert not homer_identity.can(user, "broadcast.send")

    with pytest.raises(InvalidInput, match="unknown"):
        await homer_identity.accounts.grant(SYSTEM, "olga", "made.up")


async def test_groups_create_rename_inherit_delete(homer_identity: Identity) -> None:
    groups = homer_identity.groups
    staff = await groups.create(SYSTEM, "staff", ["room.moderate"], parent="users")
    assert staff.effective == {"room.moderate", "room.post", "room.create", "room.mention_all"}
    await groups.create(SYSTEM, "interns", ["broadcast.send"], parent="staff")
    with pytest.raises(Conflict):
        await groups.create(SYSTEM, "STAFF")
    with pytest.raises(InvalidInput):
        await groups.create(SYSTEM, "x", ["no.such"])
    with pytest.raises(Conflict, match="cycle"):
        await groups.set_parent(SYSTEM, "staff", "interns")

    alice = await homer_identity.accounts.create(SYSTEM, "alice", PASSWORD, group="staff")
    bob = await homer_identity.accounts.create(SYSTEM, "bob", PASSWORD, group="interns")
    renamed = await groups.rename(SYSTEM, "staff", "crew")
    assert renamed.name == "crew"
    assert (await groups.get("interns")).parent == "crew"

    # Deleting a group with a parent moves members and children to the parent.
    moved = await groups.delete(SYSTEM, "crew")
    assert moved == 1
    users_group = await groups.get("users")
    assert (await homer_identity.accounts.get("alice")).group_id == users_group.id
    assert (await groups.get("interns")).parent == "users"
    assert homer_identity.can(await homer_identity.accounts.get("bob"), "room.post")
    assert not homer_identity.can(await homer_identity.accounts.get("alice"), "room.moderate")

    # Without a parent, members go to the default group.
    await groups.set_parent(SYSTEM, "interns", None)
    assert await groups.delete(SYSTEM, "interns") == 1
    assert (await homer_identity.accounts.get("bob")).group_id == users_group.id
    assert alice.id != bob.id

    with pytest.raises(Conflict, match="default group"):
        await groups.delete(SYSTEM, "users")
    with pytest.raises(NotFound):
        await groups.delete(SYSTEM, "interns")


async def test_group_admin_needs_admin_groups(homer_identity: Identity) -> None:
    user = await homer_identity.accounts.register("quinn", PASSWORD)
    quinn = homer_identity.actor(user)
    with pytest.raises(NotAuthorized, match="admin.groups"):
        await homer_identity.groups.create(quinn, "mine", ["admin.users"])
    with pytest.raises(NotAuthorized):
        await homer_identity.groups.grant(quinn, "users", "admin.users")
    assert not homer_identity.can(user, "admin.users")
    admin = await homer_identity.accounts.create(SYSTEM, "rita", PASSWORD, group="admins")
    await homer_identity.groups.create(homer_identity.actor(admin), "mine", ["room.post"])


async def test_deleting_the_default_groups_parent_leaves_no_cycle(homer_identity: Identity) -> None:
    groups = homer_identity.groups
    await groups.create(SYSTEM, "top", ["broadcast.send"])
    await groups.set_parent(SYSTEM, "users", "top")
    member = await homer_identity.accounts.register("uma", PASSWORD)
    assert homer_identity.can(member, "broadcast.send")
    await groups.delete(SYSTEM, "top")
    users = await groups.get("users")
    assert users.parent is None
    assert users.effective == {"room.create", "room.mention_all", "room.post"}
    stored = await homer_identity.store.group_by_name("users")
    assert stored is not None
    assert stored.parent_id is None
    assert not homer_identity.can(await homer_identity.accounts.get("uma"), "broadcast.send")


async def test_guarded_methods_of_the_services_take_a_user_id(homer_identity: Identity) -> None:
    admin = await homer_identity.accounts.create(SYSTEM, "ada", PASSWORD, group="admins")
    plain = await homer_identity.accounts.register("bo", PASSWORD)
    made = await homer_identity.accounts.create(admin.id, "cy", PASSWORD)
    assert made.name == "cy"
    await homer_identity.groups.create(admin.id, "helpers", ["room.moderate"])
    entries = await homer_identity.audit.entries(admin.id, limit=1)
    assert entries.items[0].actor == "ada", "the audit log names the user the id is"
    with pytest.raises(NotAuthorized, match="admin.users"):
        await homer_identity.accounts.create(plain.id, "dee", PASSWORD)
    with pytest.raises(NotFound):
        await homer_identity.accounts.create("no-such-id", "dee", PASSWORD)
    assert await homer_identity.store.user_by_name("dee") is None


async def test_the_registry_calls_any_guarded_function_by_user_id(
    homer_identity: Identity,
) -> None:
    user = await homer_identity.accounts.register("eve", PASSWORD)
    guarded = homer_identity.guarded
    assert await guarded.create_room(user.id, "lobby") == "created lobby"
    assert await guarded.create_room_async(user.id, "den") == "created den"
    assert await guarded.create_room(homer_identity.actor(user), "hall") == "created hall"
    assert {"create_room", "create_room_async"} <= set(dir(guarded))
    # The id is looked up at each call: a permission taken away applies at once.
    await homer_identity.accounts.revoke(SYSTEM, "eve", "room.create")
    with pytest.raises(NotAuthorized, match="room.create"):
        await guarded.create_room(user.id, "attic")
    with pytest.raises(NotFound):
        await guarded.create_room("no-such-id", "attic")
    with pytest.raises(AttributeError, match="no function named 'nothing_here'"):
        guarded.nothing_here  # noqa: B018
