from __future__ import annotations

import asyncio
from dataclasses import replace as change
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher, extract_parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homer.clock import ManualClock
from homer.config import HomerConfig
from homer.errors import Conflict, NotAuthorized, NotFound, Unauthenticated, ValidationFailed
from homer.identity import SYSTEM, Argon2Params, Identity, Passwords, UserSchema, email
from homer.store.records import AuditEvent

PASSWORD = "correct horse"


async def test_create_and_get(homer_identity: Identity) -> None:
    accounts = homer_identity.accounts
    user = await accounts.create(
        SYSTEM, "Ada", PASSWORD, {"email": "ada@EXAMPLE.org", "display_name": "Ada L."}
    )
    assert user.name == "Ada"
    assert len(user.id) == 36
    assert user.attributes == {"email": "ada@example.org", "display_name": "Ada L."}
    assert not hasattr(user, "password_hash")
    assert await accounts.get("ada") == user
    assert await accounts.get_by_id(user.id) == user
    with pytest.raises(NotFound):
        await accounts.get("nobody")


async def test_create_reports_every_bad_field_and_stores_nothing(homer_identity: Identity) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await homer_identity.accounts.create(
            SYSTEM, "bad name!", "short", {"email": "nope", "shoe_size": 44}
        )
    assert set(caught.value.fields) == {"name", "password", "email", "shoe_size"}
    page = await homer_identity.accounts.list(SYSTEM)
    assert page.items == []
    audit = await homer_identity.audit.entries(SYSTEM)
    assert not [e for e in audit.items if e.action.startswith("user.")]


async def test_an_unknown_group_is_refused(homer_identity: Identity) -> None:
    with pytest.raises(NotFound, match="ghosts"):
        await homer_identity.accounts.create(SYSTEM, "x1", PASSWORD, group="ghosts")


async def test_names_are_unique_case_insensitively(homer_identity: Identity) -> None:
    await homer_identity.accounts.register("bob", PASSWORD)
    with pytest.raises(Conflict, match="already exists"):
        await homer_identity.accounts.register("BOB", PASSWORD)


async def test_two_concurrent_creates_of_one_name(homer_identity: Identity) -> None:
    results = await asyncio.gather(
        homer_identity.accounts.register("carol", PASSWORD),
        homer_identity.accounts.register("Carol", PASSWORD),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0], Conflict)
    assert "already exists" in str(losers[0])


async def test_authenticate(homer_identity: Identity) -> None:
    user = await homer_identity.accounts.register("dave", PASSWORD)
    assert await homer_identity.accounts.authenticate("DAVE", PASSWORD) == user
    for name, password in [("dave", "wrong password"), ("nobody", PASSWORD)]:
        with pytest.raises(Unauthenticated, match="^wrong name or password$"):
            await homer_identity.accounts.authenticate(name, password)


async def test_an_unknown_name_costs_as_much_as_a_wrong_password(tmp_path: Path) -> None:
    """Same answer and the same work, so a login cannot probe for names: an unknown
    name runs one full argon2 verification too, against a hash made with the same
    parameters. (Checked by what runs, not by a stopwatch, so it holds on a busy
    machine; the timing itself is in bench/, ``tokens``.)"""
    params = Argon2Params(time_cost=2, memory_cost_kib=8192, parallelism=1)
    identity = await Identity.open(HomerConfig(data_dir=str(tmp_path)), password_params=params)
    await identity.accounts.register("erin", PASSWORD)
    verified: list[str] = []
    hasher = identity.accounts.passwords._hasher

    class Recording(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(hash if isinstance(hash, str) else hash.decode())
            return super().verify(hash, password)

    identity.accounts.passwords._hasher = Recording.from_parameters(hasher._parameters)
    try:
        for name in ("erin", "nobody-at-all", "erin", "nobody-else"):
            with pytest.raises(Unauthenticated, match="wrong name or password"):
                await identity.accounts.authenticate(name, "wrong password")
    finally:
        await identity.close()
    assert len(verified) == 4
    known, unknown = verified[0], verified[1]
    assert unknown != known
    assert extract_parameters(unknown) == extract_parameters(known)
    assert verified[3] == unknown  # one dummy hash, made once


async def test_hashes_are_argon2id_and_upgraded_when_parameters_change(tmp_path: Path) -> None:
    config = HomerConfig(data_dir=str(tmp_path))
    old = await Identity.open(config, password_params=Argon2Params.cheap())
    user = await old.accounts.register("frank", PASSWORD)
    record = await old.store.user_by_id(user.id)
    assert record is not None
    assert record.password_hash.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    await old.close()

    stronger = Argon2Params(time_cost=2, memory_cost_kib=512, parallelism=1)
    new = await Identity.open(config, password_params=stronger)
    await new.accounts.authenticate("frank", PASSWORD)
    record = await new.store.user_by_id(user.id)
    assert record is not None
    assert record.password_hash.startswith("$argon2id$v=19$m=512,t=2,p=1$")
    await new.accounts.authenticate("frank", PASSWORD)
    await new.close()


def test_default_argon2_parameters_are_not_the_cheap_ones() -> None:
    default = Argon2Params()
    assert default.memory_cost_kib >= 65536
    assert default.time_cost >= 3
    assert Passwords().params == default


async def test_confirm_an_attribute(homer_identity: Identity) -> None:
    await homer_identity.accounts.register("gina", PASSWORD, {"email": "gina@example.org"})
    confirm = homer_identity.accounts.confirm
    assert await confirm("gina", "email", "gina@example.org")
    assert not await confirm("gina", "email", "other@example.org")
    assert not await confirm("gina", "display_name", None)
    assert not await confirm("nobody", "email", "gina@example.org")
    assert not await confirm("gina", "email", object())


async def test_confirm_normalises_the_value_as_the_stored_one_was(
    homer_identity: Identity,
) -> None:
    await homer_identity.accounts.register("hal", PASSWORD, {"email": "Hal@Example.ORG"})
    confirm = homer_identity.accounts.confirm
    assert (await homer_identity.accounts.get("hal")).attributes["email"] == "Hal@example.org"
    assert await confirm("hal", "email", "Hal@Example.ORG"), "the address it was created with"
    assert await confirm("hal", "email", " Hal@EXAMPLE.org ")
    assert not await confirm("hal", "email", "hal@example.org"), "the local part is kept"
    assert not await confirm("hal", "email", "not an address")


async def test_a_schema_of_bare_validators_works_end_to_end(tmp_path: Path) -> None:
    """The memo's form: attribute name -> a checker function, a type, or None."""

    def shout(value: object) -> str:
        if not isinstance(value, str):
            raise TypeError("must be a string")
        return value.upper()

    schema = UserSchema({"email": email(), "motto": shout, "age": int, "note": None})
    identity = await Identity.open(
        HomerConfig(data_dir=str(tmp_path)), schema=schema, password_params=Argon2Params.cheap()
    )
    try:
        attributes = {"email": "Ida@Example.ORG", "motto": "hi", "age": 30, "note": [1, "x"]}
        user = await identity.accounts.create(SYSTEM, "ida", PASSWORD, attributes)
        assert dict(user.attributes) == {
            "email": "Ida@example.org",
            "motto": "HI",
            "age": 30,
            "note": [1, "x"],
        }
        assert await identity.accounts.confirm("ida", "email", "Ida@Example.ORG")
        with pytest.raises(ValidationFailed) as failed:
            await identity.accounts.create(SYSTEM, "jo", PASSWORD, {"motto": 5, "age": "x"})
        assert failed.value.fields == {"motto": "must be a string", "age": "must be of type int"}
        assert (await identity.accounts.create(SYSTEM, "kim", PASSWORD)).attributes == {}
    finally:
        await identity.close()


def test_a_schema_entry_that_is_no_validator_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="'age': expected an Attribute, a validator or None"):
        UserSchema({"age": 42})  # type: ignore[dict-item]


async def test_update_rename_passwd_delete(
    homer_identity: Identity, homer_clock: ManualClock
) -> None:
    accounts = homer_identity.accounts
    user = await accounts.register("hank", PASSWORD)
    homer_clock.advance(5)
    updated = await accounts.update(SYSTEM, "hank", {"display_name": "Hank"})
    assert updated.attributes["display_name"] == "Hank"
    assert updated.version == user.version + 1
    assert updated.updated_at == user.updated_at + 5
    with pytest.raises(ValidationFailed, match="display_name"):
        await accounts.update(SYSTEM, "hank", {"display_name": "x" * 65})
    assert (await accounts.get("hank")).attributes["display_name"] == "Hank"

    renamed = await accounts.rename(SYSTEM, "hank", "Henry")
    assert renamed.id == user.id
    with pytest.raises(NotFound):
        await accounts.get("hank")
    await accounts.register("ivy", PASSWORD)
    with pytest.raises(Conflict):
        await accounts.rename(SYSTEM, "henry", "IVY")

    token = homer_identity.tokens.issue(renamed.token_info())
    homer_clock.advance(1)
    await accounts.set_password(SYSTEM, "henry", "a new password")
    with pytest.raises(Unauthenticated):
        await accounts.authenticate("henry", PASSWORD)
    await accounts.authenticate("henry", "a new password")
    with pytest.raises(Unauthenticated):
        homer_identity.tokens.check(token)  # signed out everywhere

    homer_clock.advance(1)
    fresh = homer_identity.tokens.issue(renamed.token_info())
    homer_clock.advance(1)
    await accounts.delete(SYSTEM, "henry")
    with pytest.raises(NotFound):
        await accounts.get("henry")
    with pytest.raises(Unauthenticated):
        homer_identity.tokens.check(fresh)
    with pytest.raises(NotFound):
        await accounts.delete(SYSTEM, "henry")
    # The name is free for a new account with a new id.
    again = await accounts.register("henry", PASSWORD)
    assert again.id != user.id


async def test_a_change_of_several_fields_is_all_or_nothing(homer_identity: Identity) -> None:
    """Attributes, group and name change in one write, with an audit entry each; a
    refused part (a taken name) leaves everything as it was."""
    accounts = homer_identity.accounts
    await accounts.register("olga", PASSWORD)
    await accounts.register("pete", PASSWORD)
    before = await accounts.get("olga")
    with pytest.raises(Conflict):
        await accounts.change(
            SYSTEM, "olga", attributes={"display_name": "Olga"}, group="admins", new_name="PETE"
        )
    assert await accounts.get("olga") == before
    changed = await accounts.change(
        SYSTEM, "olga", attributes={"display_name": "Olga"}, group="admins", new_name="olive"
    )
    assert (changed.name, changed.attributes["display_name"]) == ("olive", "Olga")
    assert changed.version == before.version + 1
    page = await homer_identity.audit.entries(SYSTEM, limit=3)
    assert sorted(e.action for e in page.items) == ["user.group", "user.rename", "user.update"]
    assert {e.at for e in page.items} == {changed.updated_at}


async def test_users_change_their_own_password_and_attributes(homer_identity: Identity) -> None:
    user = await homer_identity.accounts.register("jane", PASSWORD)
    me = homer_identity.actor(user)
    with pytest.raises(Unauthenticated):
        await homer_identity.accounts.change_password(me, "not it", "another password")
    await homer_identity.accounts.change_password(me, PASSWORD, "another password")
    await homer_identity.accounts.authenticate("jane", "another password")
    changed = await homer_identity.accounts.update_own(me, {"display_name": "J"})
    assert changed.attributes == {"display_name": "J"}


async def test_admin_operations_need_admin_users(homer_identity: Identity) -> None:
    user = await homer_identity.accounts.register("kim", PASSWORD)
    await homer_identity.accounts.register("lee", PASSWORD)
    kim = homer_identity.actor(user)
    for call in (
        homer_identity.accounts.create(kim, "mallory", PASSWORD),
        homer_identity.accounts.delete(kim, "lee"),
        homer_identity.accounts.set_password(kim, "lee", "hijacked!!"),
        homer_identity.accounts.update(kim, "lee", {"display_name": "pwned"}),
        homer_identity.accounts.list(kim),
    ):
        with pytest.raises(NotAuthorized, match="admin.users"):
            await call
    with pytest.raises(NotAuthorized, match="admin.groups"):
        await homer_identity.accounts.grant(kim, "kim", "admin.users")
    assert (await homer_identity.accounts.get("lee")).attributes == {}
    await homer_identity.accounts.authenticate("lee", PASSWORD)


async def test_list_and_search_page_through_users(homer_identity: Identity) -> None:
    for i in range(12):
        await homer_identity.accounts.register(f"member{i:02d}", PASSWORD)
    await homer_identity.accounts.register("other", PASSWORD)
    names: list[str] = []
    after = None
    while True:
        page = await homer_identity.accounts.list(SYSTEM, search="MEMBER", after=after, limit=5)
        names += [u.name for u in page.items]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert names == [f"member{i:02d}" for i in range(12)]
    admins = await homer_identity.accounts.list(SYSTEM, group="admins")
    assert admins.items == []


async def test_every_change_is_audited(homer_identity: Identity, homer_clock: ManualClock) -> None:
    user = await homer_identity.accounts.register("nina", PASSWORD)
    admin = await homer_identity.accounts.create(SYSTEM, "root", PASSWORD, group="admins")
    root = homer_identity.actor(admin)
    homer_clock.advance(10)
    await homer_identity.accounts.update(root, "nina", {"email": "n@example.org"})
    await homer_identity.accounts.grant(root, "nina", "broadcast.send")
    await homer_identity.groups.create(root, "mods", ["room.moderate"])
    await homer_identity.accounts.delete(root, "nina")
    page = await homer_identity.audit.entries(root, limit=5)
    assert [(e.actor, e.action, e.target) for e in page.items] == [
        ("root", "token.revoke_all", user.id),
        ("root", "user.delete", "user:nina"),
        ("root", "group.create", "group:mods"),
        ("root", "user.grant", "user:nina"),
        ("root", "user.update", "user:nina"),
    ]
    assert all(e.at == homer_clock.now for e in page.items)
    assert page.items[1].detail["user_id"] == user.id
    older = await homer_identity.audit.entries(root, before=int(page.next_cursor or 0))
    assert [e.action for e in older.items][:2] == ["user.create", "user.create"]
    nobody = homer_identity.actor(await homer_identity.accounts.register("x2", PASSWORD))
    with pytest.raises(NotAuthorized, match="admin.audit"):
        await homer_identity.audit.entries(nobody)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    display=st.text(max_size=64).filter(lambda s: "\x00" not in s),
    name=st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}", fullmatch=True),
)
async def test_attribute_values_round_trip_through_the_store(
    homer_identity: Identity, display: str, name: str
) -> None:
    existing = await homer_identity.store.user_by_name(name)
    if existing is not None:
        await homer_identity.accounts.delete(SYSTEM, name)
    created = await homer_identity.accounts.register(name, PASSWORD, {"display_name": display})
    assert await homer_identity.accounts.get(name) == created
    assert created.attributes["display_name"] == display
    # The next example's name may look like this one ("0" and "O"): make way for it.
    await homer_identity.accounts.delete(SYSTEM, name)


async def test_the_cached_lookup_sees_local_changes_at_once_and_others_in_time(
    homer_identity: Identity, homer_clock: ManualClock
) -> None:
    accounts = homer_identity.accounts
    user = await accounts.register("quin", PASSWORD)
    assert await accounts.get_by_id(user.id, cached=True) == user
    changed = await accounts.update(SYSTEM, "quin", {"display_name": "Q"})
    assert await accounts.get_by_id(user.id, cached=True) == changed
    # A change behind the service's back (another process) shows once the entry expires.
    record = await homer_identity.store.user_by_id(user.id)
    assert record is not None
    await homer_identity.store.replace_user(
        change(record, attributes={"display_name": "elsewhere"}, version=record.version + 1),
        AuditEvent(actor="cli", action="user.update", target="user:quin", at=0.0),
    )
    assert (await accounts.get_by_id(user.id, cached=True)).attributes == {"display_name": "Q"}
    homer_clock.advance(accounts.CACHE_SECONDS + 1)
    fresh = await accounts.get_by_id(user.id, cached=True)
    assert fresh.attributes == {"display_name": "elsewhere"}
    await accounts.delete(SYSTEM, "quin")
    with pytest.raises(NotFound):
        await accounts.get_by_id(user.id, cached=True)
