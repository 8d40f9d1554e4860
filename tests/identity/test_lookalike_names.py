"""Names that look like an existing user's, or mix scripts, are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from homer.config import HomerConfig, IdentityConfig
from homer.confusables import CONFUSABLES_VERSION, UCD_VERSION, restriction, skeleton
from homer.errors import Conflict, ValidationFailed
from homer.identity import SYSTEM, Argon2Params, Identity

STRONG = "correct horse battery staple"

#: The look-alikes of ``alice`` an outside review signed up with.
LOOK_ALIKES = [
    "\u0430lice",  # Cyrillic а
    "\u03b1lice",  # Greek α
    "\u0251lice",  # Latin alpha ɑ
    "al\u0131ce",  # dotless ı
    "alice\u0301",  # a combining acute accent
    "AL\u0130CE",  # capital I with a dot
]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_each_look_alike_has_the_skeleton_of_alice(name: str) -> None:
    assert skeleton(name) == skeleton("alice") == "alice"


def test_distinct_names_keep_distinct_skeletons() -> None:
    names = ["alice", "alicia", "alex", "bob", "bobby", "carol", "jos\u00e9ph", "\u5c71\u7530"]
    assert len({skeleton(name) for name in names}) == len(names)


def test_scripts() -> None:
    assert restriction("alice") == "single"
    assert restriction("\u0430lice") == "mixed"  # Cyrillic and Latin
    assert restriction("\u041c\u0430\u0440\u0438\u044f") == "single"  # Мария
    assert restriction("\u5c71\u7530\u305f\u308d\u3046") == "single"  # Han with kana
    assert restriction("taro\u5c71\u7530") == "highly_restrictive"  # Latin with Han
    assert restriction("kim\uae40") == "highly_restrictive"  # Latin with Hangul
    assert restriction("\u03c9mega") == "mixed"  # Greek and Latin
    assert restriction("user_1.x-2") == "single"  # Common characters go with any script
    assert CONFUSABLES_VERSION == "13.0.0"
    assert UCD_VERSION == "15.0.0"


async def test_look_alikes_and_mixed_scripts_are_refused_beside_alice(tmp_path: Path) -> None:
    identity = await Identity.open(
        HomerConfig(data_dir=str(tmp_path)), password_params=Argon2Params.cheap()
    )
    try:
        await identity.accounts.register("alice", STRONG)
        for name in LOOK_ALIKES:
            with pytest.raises((Conflict, ValidationFailed)) as caught:
                await identity.accounts.register(name, STRONG)
            if isinstance(caught.value, ValidationFailed):
                assert "mixes scripts" in caught.value.fields["name"]
            else:
                assert "looks like" in str(caught.value)
        with pytest.raises(ValidationFailed, match=r"mixes scripts \(Cyrillic, Latin\)"):
            await identity.accounts.register("b\u043eb", STRONG)  # bob with a Cyrillic о
        await identity.accounts.register("\u0431\u043e\u0431", STRONG)  # боб: Cyrillic only
        await identity.accounts.register("bob", STRONG)
        with pytest.raises(Conflict, match="looks like"):
            await identity.accounts.rename(SYSTEM, "alice", "b0b")
        assert [u.name for u in (await identity.accounts.list(SYSTEM)).items] == [
            "alice",
            "bob",
            "\u0431\u043e\u0431",
        ]
    finally:
        await identity.close()


async def test_mixed_scripts_can_be_allowed_but_look_alikes_never(tmp_path: Path) -> None:
    config = HomerConfig(data_dir=str(tmp_path), identity=IdentityConfig(name_scripts="any"))
    identity = await Identity.open(config, password_params=Argon2Params.cheap())
    try:
        await identity.accounts.register("alice", STRONG)
        await identity.accounts.register("b\u043eb", STRONG)
        with pytest.raises(Conflict, match="looks like"):
            await identity.accounts.register("\u0430lice", STRONG)
    finally:
        await identity.close()
