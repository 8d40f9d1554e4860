"""The password strength policy: on by default, configurable, with reasons."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from homer.config import HomerConfig, IdentityConfig
from homer.errors import ValidationFailed
from homer.identity import SYSTEM, Argon2Params, Identity
from homer.identity.password_policy import ESTIMATE_CHARS, PasswordPolicy

STRONG = "correct horse battery staple"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "most common"),
        ("12345678", "most common"),
        ("PassWord", "most common"),
        (" " * 8, "only spaces"),
        ("\x00" * 8, "control characters"),
        ("tab\there-it-is", "control characters"),
        ("short", "8 to 1024"),
        ("x" * 1025, "8 to 1024"),
        ("asdfghjkl;", "too easy to guess"),
        ("a" * 1024, "too easy to guess"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(
    tmp_path: Path, password: str, reason: str
) -> None:
    identity = await Identity.open(
        HomerConfig(data_dir=str(tmp_path)), password_params=Argon2Params.cheap()
    )
    try:
        with pytest.raises(ValidationFailed) as caught:
            await identity.accounts.register("carol", password)
        assert list(caught.value.fields) == ["password"]
        assert reason in caught.value.fields["password"]
        assert await identity.store.user_by_name("carol") is None
    finally:
        await identity.close()


async def test_the_policy_applies_to_every_new_password_but_not_to_old_ones(
    tmp_path: Path,
) -> None:
    identity = await Identity.open(
        HomerConfig(data_dir=str(tmp_path)), password_params=Argon2Params.cheap()
    )
    try:
        await identity.accounts.create(SYSTEM, "dan", STRONG)
        with pytest.raises(ValidationFailed, match="most common"):
            await identity.accounts.set_password(SYSTEM, "dan", "password1")
        dan = await identity.principal((await identity.accounts.get("dan")).id)
        with pytest.raises(ValidationFailed, match="too easy"):  # his name, repeated
            await identity.accounts.change_password(dan, STRONG, "dandandan1")
        await identity.accounts.change_password(dan, STRONG, STRONG + " again")
        assert await identity.login("dan", STRONG + " again")
    finally:
        await identity.close()


async def test_the_policy_is_configurable(tmp_path: Path) -> None:
    lenient = HomerConfig(
        data_dir=str(tmp_path),
        identity=IdentityConfig(
            password_min_score=0, password_refuse_common=False, password_min_length=4
        ),
    )
    identity = await Identity.open(lenient, password_params=Argon2Params.cheap())
    try:
        await identity.accounts.register("eve", "pass")
        with pytest.raises(ValidationFailed, match="control characters"):
            await identity.accounts.register("fay", "pass\x07word")
    finally:
        await identity.close()


def test_the_estimate_sees_a_bounded_prefix_so_a_long_password_is_cheap() -> None:
    policy = PasswordPolicy()
    started = time.process_time()
    assert policy.weakness("ab" * 512) is not None
    assert policy.weakness("ab" * (ESTIMATE_CHARS // 2) + "Zq8!" * 240) is not None
    assert policy.weakness(STRONG * 30) is None
    # Uncapped, zxcvbn takes more than a minute on 1024 repeated characters.
    assert time.process_time() - started < 5.0
