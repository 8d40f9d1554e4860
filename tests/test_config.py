from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homer.config import load_config
from homer.errors import InvalidInput, ValidationFailed
from homer.identity import SYSTEM, Argon2Params, Identity


def test_precedence_is_defaults_file_environment_flags(tmp_path: Path) -> None:
    file = tmp_path / "homer.toml"
    file.write_text('data_dir = "from-file"\n[tokens]\nttl = 60\nfields = ["name", "email"]\n')
    assert load_config().data_dir == "./homer-data"
    assert load_config(file, environ={}).data_dir == "from-file"
    env = {"HOMER_DATA_DIR": "from-env", "HOMER_TOKENS_TTL": "90", "HOMER_TOKENS_GUEST": "yes"}
    config = load_config(file, environ=env)
    assert (config.data_dir, config.tokens.ttl, config.tokens.guest) == ("from-env", 90.0, True)
    assert config.tokens.fields == ["name", "email"]
    flagged = load_config(file, environ=env, overrides={"data_dir": "from-flag"})
    assert flagged.data_dir == "from-flag"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data_dir = [", "cannot read"),
        ("[tokens]\nttl = 'soon'", "tokens.ttl"),
        ("[tokens]\nformat = 'rot13'", "tokens.format"),
        ("unknown_setting = 1", "unknown_setting"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "homer.toml"
    file.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        load_config(file, environ={})
    with pytest.raises(InvalidInput, match="not found"):
        load_config(tmp_path / "missing.toml", environ={})


async def test_groups_schema_and_permissions_from_the_file(tmp_path: Path) -> None:
    file = tmp_path / "homer.toml"
    file.write_text(
        f"""
data_dir = "{tmp_path / "data"}"
[identity]
default_group = "members"
permissions = ["shop.sell"]
[identity.groups.members]
permissions = ["room.post"]
[identity.groups.sellers]
permissions = ["shop.sell"]
parent = "members"
[identity.attributes.age]
type = "integer"
required = true
[identity.attributes.plan]
choices = ["free", "pro"]
default = "free"
[identity.attributes.code]
pattern = "[A-Z]{{3}}"
"""
    )
    config = await asyncio.to_thread(load_config, file, environ={})  # file I/O: off the loop
    identity = await Identity.open(config, password_params=Argon2Params.cheap())
    try:
        seller = await identity.accounts.create(
            SYSTEM, "sam", "long enough", {"age": 30, "code": "ABC"}, group="sellers"
        )
        assert seller.attributes == {"age": 30, "code": "ABC", "plan": "free"}
        assert identity.can(seller, "shop.sell")
        assert identity.can(seller, "room.post")
        member = await identity.accounts.register("meg", "long enough", {"age": 5})
        assert (await identity.groups.get("members")).id == member.group_id
        with pytest.raises(ValidationFailed) as caught:
            await identity.accounts.register("x", "long enough", {"plan": "gold", "code": "abc"})
        assert set(caught.value.fields) == {"age", "plan", "code"}
    finally:
        await identity.close()
    # Opening again changes nothing that exists.
    identity = await Identity.open(config, password_params=Argon2Params.cheap())
    try:
        assert [g.name for g in await identity.groups.list()] == ["members", "sellers"]
    finally:
        await identity.close()


async def test_a_group_cycle_in_the_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "homer.toml"
    file.write_text(
        f'data_dir = "{tmp_path}"\n'
        '[identity.groups.a]\nparent = "b"\n[identity.groups.b]\nparent = "a"\n'
    )
    config = await asyncio.to_thread(load_config, file, environ={})
    with pytest.raises(InvalidInput, match="cycle"):
        await Identity.open(config, password_params=Argon2Params.cheap())
