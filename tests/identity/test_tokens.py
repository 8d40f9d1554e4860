"""Tests for homer.identity.tokens: formats, expiry, forgery, rotation, revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import pathlib
import stat
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from homer.clock import ManualClock
from homer.errors import InvalidInput, InvalidToken, TokenRevoked, Unauthenticated
from homer.identity.tokens import (
    CodecTokens,
    EncryptedTokens,
    JWTKey,
    SignedTokens,
    TokenFormat,
    TokenManager,
    load_or_create_secret,
)

# Key generation (RSA especially) is slow; one of each serves the whole module.
HS_KEY = JWTKey.generate("hs")
ED_KEY = JWTKey.generate("ed", "EdDSA")
RSA_KEY = JWTKey.generate("rsa", "RS256")
HS_KEY_SECRET: bytes = HS_KEY.verification_key  # type: ignore[assignment]
AES_KEY = bytes(range(32))
OTHER_AES_KEY = bytes(range(1, 33))

USER = {"id": "u-1", "name": "alice"}


def _codec() -> CodecTokens:
    """A toy application codec: base64 of JSON behind a fixed prefix."""

    def encode(claims: dict[str, Any]) -> str:
        return "app1:" + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()

    def decode(token: str) -> dict[str, Any]:
        prefix, _, body = token.partition(":")
        if prefix != "app1":
            raise ValueError("not ours")
        value = json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value

    return CodecTokens("app1", encode, decode)


FORMATS: dict[str, Callable[[], TokenFormat]] = {
    "hs256": lambda: SignedTokens([HS_KEY]),
    "eddsa": lambda: SignedTokens([ED_KEY]),
    "rs256": lambda: SignedTokens([RSA_KEY]),
    "aesgcm": lambda: EncryptedTokens({"a": AES_KEY}),
    "codec": _codec,
}
#: Formats that authenticate their tokens (the toy codec does not).
SECURE_FORMATS = ["hs256", "eddsa", "rs256", "aesgcm"]


def manager(fmt: str = "hs256", **kwargs: Any) -> TokenManager:
    kwargs.setdefault("clock", ManualClock())
    return TokenManager(FORMATS[fmt](), **kwargs)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def unb64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(sig)}"


def claims_for(clock: ManualClock, **extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "u-1",
        "name": "alice",
        "iat": clock(),
        "exp": clock() + 60,
        "jti": "j-1",
        "aud": "homer",
    }
    claims.update(extra)
    return claims


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip(fmt: str) -> None:
    clock = ManualClock(1_700_000_000.25)
    tokens = manager(fmt, clock=clock)
    token = tokens.issue(USER)
    claims = tokens.check(token)
    assert claims is not None
    assert claims["sub"] == "u-1"
    assert claims["name"] == "alice"
    assert claims["aud"] == "homer"
    assert claims["iat"] == 1_700_000_000.25
    assert claims["exp"] == 1_700_000_000.25 + 1800
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 20


def test_claims_carry_configured_fields_only() -> None:
    tokens = manager(fields=("name", "role"))
    claims = tokens.check(tokens.issue({"id": "u-1", "name": "a", "role": "op", "secret": "x"}))
    assert claims is not None
    assert set(claims) == {"sub", "name", "role", "iat", "exp", "jti", "aud"}


def test_iat_is_floored_to_the_millisecond() -> None:
    clock = ManualClock(1_700_000_000.123_999)
    tokens = manager(clock=clock)
    claims = tokens.check(tokens.issue(USER))
    assert claims is not None
    assert claims["iat"] == 1_700_000_000.123
    assert claims["iat"] <= clock()


def test_each_token_has_its_own_jti() -> None:
    tokens = manager()
    jtis = {tokens.check(tokens.issue(USER))["jti"] for _ in range(20)}  # type: ignore[index]
    assert len(jtis) == 20


async def test_a_field_the_user_lacks_is_left_out() -> None:
    """An optional attribute a user never set must not stop them getting a token."""
    tokens = manager(fields=("name", "role"))
    claims = tokens.check(tokens.issue({"id": "u-1", "name": "a"}))
    assert claims is not None
    assert "role" not in claims
    fresh = await tokens.refresh(tokens.issue({"id": "u-1", "name": "a", "role": "x"}))
    refreshed = tokens.check(fresh)
    assert refreshed is not None
    assert refreshed["role"] == "x"


@pytest.mark.parametrize("info", [{"name": "a"}, {"id": "", "name": "a"}, {"id": 5, "name": "a"}])
def test_issue_needs_a_string_id(info: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="id"):
        manager().issue(info)


@pytest.mark.parametrize("fields", [("exp",), ("sub",), ("guest",), ("id",), ("a", "a"), ("",)])
def test_reserved_or_repeated_fields_are_refused(fields: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput):
        manager(fields=fields)


@pytest.mark.parametrize("fmt", ["hs256", "aesgcm"])
@pytest.mark.parametrize("value", [math.nan, math.inf, object(), b"bytes"])
def test_values_that_are_not_json_are_refused(fmt: str, value: object) -> None:
    with pytest.raises(InvalidInput, match="JSON"):
        manager(fmt).issue({"id": "u-1", "name": value})


# --------------------------------------------------------------------------- lifetime


def test_default_ttl_is_thirty_minutes() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock)
    token = tokens.issue(USER)
    clock.advance(1799.9)
    assert tokens.check(token) is not None
    clock.advance(0.1)
    assert tokens.check(token) is None


def test_per_manager_ttl() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, ttl=60)
    token = tokens.issue(USER)
    clock.advance(59)
    assert tokens.check(token) is not None
    clock.advance(1)
    assert tokens.check(token) is None


def test_per_token_ttl_overrides_the_manager() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, ttl=60)
    short = tokens.issue(USER, ttl=5)
    long = tokens.issue(USER, ttl=3600)
    clock.advance(5)
    assert tokens.check(short) is None
    clock.advance(600)
    assert tokens.check(long) is not None


@pytest.mark.parametrize("where", ["manager", "token"])
def test_ttl_none_means_no_exp(where: str) -> None:
    clock = ManualClock()
    if where == "manager":
        tokens = manager(clock=clock, ttl=None)
        token = tokens.issue(USER)
    else:
        tokens = manager(clock=clock)
        token = tokens.issue(USER, ttl=None)
    clock.advance(10 * 365 * 86400)
    claims = tokens.check(token)
    assert claims is not None
    assert "exp" not in claims


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, True, "60"])
def test_bad_ttl_is_refused(ttl: Any) -> None:
    with pytest.raises(InvalidInput):
        manager(ttl=ttl)
    with pytest.raises(InvalidInput):
        manager().issue(USER, ttl=ttl)


def test_expired_is_none_not_an_error_for_every_format() -> None:
    for fmt in FORMATS:
        clock = ManualClock()
        tokens = manager(fmt, clock=clock, ttl=10)
        token = tokens.issue(USER)
        clock.advance(10)
        assert tokens.check(token) is None, fmt


def test_not_before_is_honoured() -> None:
    clock = ManualClock()
    token = hs256({"alg": "HS256", "kid": "hs"}, claims_for(clock, nbf=clock() + 30), HS_KEY_SECRET)
    tokens = manager(clock=clock)
    with pytest.raises(InvalidToken, match="not valid yet"):
        tokens.check(token)
    clock.advance(30)
    assert tokens.check(token) is not None


# --------------------------------------------------------------------------- forgery


def _tamper_header(token: str) -> str:
    header, payload, sig = token.split(".")
    changed = {**unb64json(header), "typ": "JOSE"}
    return f"{b64json(changed)}.{payload}.{sig}"


def _tamper_payload(token: str) -> str:
    header, payload, sig = token.split(".")
    changed = {**unb64json(payload), "sub": "admin"}
    return f"{header}.{b64json(changed)}.{sig}"


def _tamper_signature(token: str) -> str:
    header, payload, sig = token.split(".")
    middle = len(sig) // 2
    flipped = "A" if sig[middle] != "A" else "B"
    return f"{header}.{payload}.{sig[:middle]}{flipped}{sig[middle + 1 :]}"


def _drop_signature(token: str) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}."


@pytest.mark.parametrize("fmt", ["hs256", "eddsa", "rs256"])
@pytest.mark.parametrize(
    "tamper", [_tamper_header, _tamper_payload, _tamper_signature, _drop_signature]
)
def test_tampering_is_rejected(fmt: str, tamper: Callable[[str], str]) -> None:
    tokens = manager(fmt)
    token = tokens.issue(USER)
    with pytest.raises(InvalidToken):
        tokens.check(tamper(token))


def test_tampered_ciphertext_is_rejected() -> None:
    tokens = manager("aesgcm")
    token = tokens.issue(USER)
    kid, body = token.split(".")
    middle = len(body) // 2
    flipped = "A" if body[middle] != "A" else "B"
    with pytest.raises(InvalidToken):
        tokens.check(f"{kid}.{body[:middle]}{flipped}{body[middle + 1 :]}")
    with pytest.raises(InvalidToken):
        tokens.check(f"{kid}.{body[:-4]}")


@pytest.mark.parametrize("algorithm", ["HS256", "EdDSA", "RS256"])
def test_wrong_key_is_rejected(algorithm: Any) -> None:
    ours = TokenManager(SignedTokens([JWTKey.generate("k", algorithm)]), clock=ManualClock())
    # Same kid and algorithm, another key.
    forger = TokenManager(SignedTokens([JWTKey.generate("k", algorithm)]), clock=ManualClock())
    with pytest.raises(InvalidToken):
        ours.check(forger.issue(USER))


def test_alg_none_is_rejected() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock)
    payload = b64json(claims_for(clock))
    for header in ({"alg": "none", "kid": "hs"}, {"alg": "none"}, {"alg": "None", "kid": "hs"}):
        with pytest.raises(InvalidToken):
            tokens.check(f"{b64json(header)}.{payload}.")
    unsigned = jwt.encode(claims_for(clock), "", algorithm="none", headers={"kid": "hs"})
    with pytest.raises(InvalidToken):
        tokens.check(unsigned)


def test_hs256_signed_with_a_public_key_pem_is_rejected() -> None:
    """The classic confusion: the public key is known, so an attacker HMACs with it."""
    public_pem = RSA_KEY.verification_key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    clock = ManualClock()
    tokens = TokenManager(
        SignedTokens([JWTKey.from_pem("rsa", public_pem=public_pem)]), clock=clock
    )
    for header in ({"alg": "HS256", "kid": "rsa"}, {"alg": "HS256"}):
        forged = hs256(header, claims_for(clock), public_pem)
        with pytest.raises(InvalidToken, match="algorithm"):
            tokens.check(forged)


def test_header_alg_must_match_the_keys_algorithm() -> None:
    clock = ManualClock()
    signer = TokenManager(SignedTokens([ED_KEY]), clock=clock)
    token = signer.issue(USER)
    _, payload, sig = token.split(".")
    # Same signature, but the header now claims a key of another algorithm.
    relabelled = f"{b64json({'alg': 'EdDSA', 'kid': 'hs'})}.{payload}.{sig}"
    both = TokenManager(SignedTokens([HS_KEY, ED_KEY]), clock=clock)
    with pytest.raises(InvalidToken):
        both.check(relabelled)
    assert both.check(token) is not None


def test_unknown_kid_is_rejected() -> None:
    clock = ManualClock()
    forged = hs256({"alg": "HS256", "kid": "nope"}, claims_for(clock), HS_KEY_SECRET)
    with pytest.raises(InvalidToken, match="unknown key"):
        manager(clock=clock).check(forged)
    weird = hs256({"alg": "HS256", "kid": 7}, claims_for(clock), HS_KEY_SECRET)
    with pytest.raises(InvalidToken):
        manager(clock=clock).check(weird)


def test_no_kid_only_with_a_single_key() -> None:
    clock = ManualClock()
    token = hs256({"alg": "HS256", "typ": "JWT"}, claims_for(clock), HS_KEY_SECRET)
    assert manager(clock=clock).check(token) is not None
    two = TokenManager(SignedTokens([HS_KEY, ED_KEY]), clock=clock)
    with pytest.raises(InvalidToken, match="key id"):
        two.check(token)


def test_critical_header_extensions_are_rejected() -> None:
    clock = ManualClock()
    token = hs256({"alg": "HS256", "kid": "hs", "crit": ["exp"]}, claims_for(clock), HS_KEY_SECRET)
    with pytest.raises(InvalidToken):
        manager(clock=clock).check(token)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": 5},
        {"sub": None},
        {"exp": "never"},
        {"exp": True},
        {"iat": "now"},
        {"jti": ["a"]},
        {"aud": None},
    ],
)
def test_claims_of_the_wrong_type_are_rejected(claims: dict[str, Any]) -> None:
    clock = ManualClock()
    token = hs256({"alg": "HS256", "kid": "hs"}, claims_for(clock, **claims), HS_KEY_SECRET)
    with pytest.raises(InvalidToken):
        manager(clock=clock).check(token)


@pytest.mark.parametrize(
    "token", ["", "a", "a.b", "a.b.c", "a.b.c.d", "é.é.é", "...", "x" * 20_000]
)
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_garbage_is_invalid(fmt: str, token: str) -> None:
    with pytest.raises(InvalidToken):
        manager(fmt).check(token)


def test_none_and_non_strings_are_invalid() -> None:
    tokens = manager()
    with pytest.raises(InvalidToken):
        tokens.check(None)
    with pytest.raises(InvalidToken):
        tokens.check(b"a.b.c")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- purpose


def test_purpose_mismatch_is_rejected() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock)
    reset = tokens.issue(USER, purpose="password-reset")
    with pytest.raises(InvalidToken, match="another purpose"):
        tokens.check(reset)
    resets = manager(clock=clock, purpose="password-reset")
    assert resets.check(reset) is not None
    with pytest.raises(InvalidToken, match="another purpose"):
        resets.check(tokens.issue(USER))


def test_audience_list_containing_the_purpose_is_accepted() -> None:
    clock = ManualClock()
    token = hs256(
        {"alg": "HS256", "kid": "hs"}, claims_for(clock, aud=["api", "homer"]), HS_KEY_SECRET
    )
    assert manager(clock=clock).check(token) is not None


# --------------------------------------------------------------------------- rotation


def test_rotation_old_key_verifies_new_key_signs() -> None:
    clock = ManualClock()
    old, new = JWTKey.generate("2024"), JWTKey.generate("2025")
    before = TokenManager(SignedTokens([old]), clock=clock)
    old_token = before.issue(USER)

    after = TokenManager(SignedTokens([new, old.verify_only()]), clock=clock)
    assert after.check(old_token) is not None
    new_token = after.issue(USER)
    assert unb64json(new_token.split(".")[0])["kid"] == "2025"
    assert after.check(new_token) is not None

    # A node that never learnt the new key refuses its tokens.
    with pytest.raises(InvalidToken, match="unknown key"):
        before.check(new_token)
    # Once the old key is dropped, its tokens are refused.
    with pytest.raises(InvalidToken, match="unknown key"):
        TokenManager(SignedTokens([new]), clock=clock).check(old_token)


def test_signing_kid_selects_the_signer() -> None:
    a, b = JWTKey.generate("a"), JWTKey.generate("b")
    assert SignedTokens([a, b]).signing_kid == "a"
    assert SignedTokens([a, b], signing_kid="b").signing_kid == "b"
    assert SignedTokens([a.verify_only(), b]).signing_kid == "b"
    with pytest.raises(InvalidInput):
        SignedTokens([a, b], signing_kid="c")
    with pytest.raises(InvalidInput):
        SignedTokens([a.verify_only(), b], signing_kid="a")


def test_verify_only_keys_cannot_issue() -> None:
    tokens = TokenManager(SignedTokens([ED_KEY.verify_only()]))
    with pytest.raises(InvalidInput, match="only verify"):
        tokens.issue(USER)


def test_key_set_validation() -> None:
    with pytest.raises(InvalidInput):
        SignedTokens([])
    with pytest.raises(InvalidInput, match="duplicate"):
        SignedTokens([JWTKey.generate("a"), JWTKey.generate("a")])


def test_encrypted_rotation() -> None:
    clock = ManualClock()
    old = TokenManager(EncryptedTokens({"v1": AES_KEY}), clock=clock)
    token = old.issue(USER)
    both = EncryptedTokens({"v1": AES_KEY, "v2": OTHER_AES_KEY}, encrypting_kid="v2")
    new = TokenManager(both, clock=clock)
    assert new.check(token) is not None
    fresh = new.issue(USER)
    assert fresh.startswith("v2.")
    with pytest.raises(InvalidToken):
        old.check(fresh)


# --------------------------------------------------------------------------- keys


def test_hmac_secret_must_be_long_enough() -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        JWTKey.hmac("k", b"short")
    with pytest.raises(InvalidInput):
        JWTKey.hmac("", os.urandom(32))


def test_pem_is_not_an_hmac_secret() -> None:
    public_pem = ED_KEY.verification_key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidInput):
        JWTKey.hmac("k", public_pem)


def test_from_pem_infers_the_algorithm() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = JWTKey.from_pem("ed", private_pem=ed_pem)
    assert key.algorithm == "EdDSA"
    assert key.can_sign
    rsa_pem = RSA_KEY.signing_key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert JWTKey.from_pem("r", private_pem=rsa_pem).algorithm == "RS256"


def test_from_pem_refuses_bad_keys() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidInput, match="unsupported key type"):
        JWTKey.from_pem("ec", public_pem=ec_pem)
    with pytest.raises(InvalidInput, match="unreadable"):
        JWTKey.from_pem("x", public_pem=b"not a pem")
    with pytest.raises(InvalidInput):
        JWTKey.from_pem("x")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    small_pem = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidInput, match="2048"):
        JWTKey.from_pem("small", public_pem=small_pem)


def test_from_pem_refuses_a_mismatched_pair() -> None:
    private_pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = ED_KEY.verification_key.public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InvalidInput, match="belong together"):
        JWTKey.from_pem("ed", private_pem=private_pem, public_pem=public_pem)


def test_key_repr_hides_the_secret() -> None:
    key = JWTKey.hmac("k", b"s" * 32)
    assert "sss" not in repr(key)
    assert "k" in repr(key)


# --------------------------------------------------------------------------- interoperability


def _pems(private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_token_minted_by_another_backend_verifies(algorithm: str) -> None:
    """The app's backend holds the private key and mints with plain PyJWT."""
    private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if algorithm == "EdDSA" else RSA_KEY.signing_key  # type: ignore[assignment]
    )
    clock = ManualClock()
    minted = jwt.encode(
        {"sub": "u-9", "name": "zoe", "aud": "homer", "iat": int(clock()), "exp": clock() + 60},
        private,
        algorithm=algorithm,
        headers={"kid": "backend"},
    )
    verifier = JWTKey.from_pem("backend", public_pem=_pems(private))
    assert not verifier.can_sign
    tokens = TokenManager(SignedTokens([verifier]), clock=clock)
    claims = tokens.check(minted)
    assert claims is not None
    assert (claims["sub"], claims["name"]) == ("u-9", "zoe")
    # ... and a token from a different private key is refused.
    stranger = jwt.encode(
        {"sub": "u-9", "aud": "homer"},
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "EdDSA"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm=algorithm,
        headers={"kid": "backend"},
    )
    with pytest.raises(InvalidToken):
        tokens.check(stranger)


def test_homer_hs256_token_verifies_with_plain_pyjwt() -> None:
    tokens = TokenManager(SignedTokens([HS_KEY]))  # real clock: PyJWT checks exp itself
    token = tokens.issue(USER)
    claims = jwt.decode(token, HS_KEY_SECRET, algorithms=["HS256"], audience="homer")
    assert claims == tokens.check(token)
    assert jwt.get_unverified_header(token)["kid"] == "hs"


def test_homer_eddsa_token_verifies_with_plain_pyjwt() -> None:
    tokens = TokenManager(SignedTokens([ED_KEY]))
    token = tokens.issue(USER)
    claims = jwt.decode(token, ED_KEY.verification_key, algorithms=["EdDSA"], audience="homer")
    assert claims["sub"] == "u-1"


def test_short_path_agrees_with_pyjwt_on_a_foreign_token() -> None:
    """A token PyJWT minted with HS256 (no kid) passes Homer's own HS256 check."""
    clock = ManualClock()
    token = jwt.encode(claims_for(clock), HS_KEY_SECRET, algorithm="HS256")
    assert manager(clock=clock).check(token) == claims_for(clock)


# --------------------------------------------------------------------------- encrypted


def test_encrypted_claims_are_unreadable() -> None:
    tokens = manager("aesgcm", fields=("name", "email"))
    info = {"id": "user-secret-id", "name": "Zebediah", "email": "zeb@example.org"}
    token = tokens.issue(info)
    assert token.startswith("a.")
    body = token.split(".", 1)[1]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    for value in info.values():
        assert value not in token
        assert value.encode() not in raw
        assert b64(value.encode()) not in token
    claims = tokens.check(token)
    assert claims is not None
    assert claims["email"] == "zeb@example.org"


def test_encrypted_token_fails_with_another_key() -> None:
    token = manager("aesgcm").issue(USER)
    same_kid_other_key = TokenManager(EncryptedTokens({"a": OTHER_AES_KEY}))
    with pytest.raises(InvalidToken):
        same_kid_other_key.check(token)
    other_kid = TokenManager(EncryptedTokens({"b": AES_KEY}))
    with pytest.raises(InvalidToken, match="unknown key"):
        other_kid.check(token)


def test_encrypted_token_cannot_move_to_another_kid() -> None:
    """Both kids hold the same key; the kid is associated data, so relabelling fails."""
    tokens = TokenManager(EncryptedTokens({"a": AES_KEY, "b": AES_KEY}))
    token = tokens.issue(USER)
    with pytest.raises(InvalidToken):
        tokens.check("b" + token[1:])


@pytest.mark.parametrize(
    "keys",
    [{}, {"a": b"short"}, {"a.b": AES_KEY}, {"": AES_KEY}, {"a": "x" * 32}],
)
def test_encrypted_key_validation(keys: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        EncryptedTokens(keys)


def test_encrypted_unknown_encrypting_kid() -> None:
    with pytest.raises(InvalidInput):
        EncryptedTokens({"a": AES_KEY}, encrypting_kid="b")


# --------------------------------------------------------------------------- codec


def test_codec_round_trip_and_name() -> None:
    tokens = manager("codec")
    token = tokens.issue(USER)
    assert token.startswith("app1:")
    assert tokens.format.name == "app1"
    claims = tokens.check(token)
    assert claims is not None
    assert claims["name"] == "alice"


def test_codec_errors_become_invalid_token() -> None:
    tokens = manager("codec")
    with pytest.raises(InvalidToken) as info:
        tokens.check("garbage")
    assert isinstance(info.value.__cause__, ValueError)


def test_codec_invalid_token_passes_through() -> None:
    def decode(token: str) -> dict[str, Any]:
        raise InvalidToken("codec says no")

    codec = CodecTokens("x", lambda claims: "t", decode)
    with pytest.raises(InvalidToken, match="codec says no"):
        codec.decode("t")


def test_codec_must_decode_to_a_dict() -> None:
    codec = CodecTokens("x", lambda claims: "t", lambda token: ["not", "a", "dict"])  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidToken):
        codec.decode("t")


def test_codec_must_encode_to_str() -> None:
    codec = CodecTokens("x", lambda claims: b"t", lambda token: {})  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidInput):
        TokenManager(codec).issue(USER)


# --------------------------------------------------------------------------- guests


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b.c"])
def test_guest_mode_turns_missing_or_invalid_tokens_into_guests(token: str | None) -> None:
    tokens = manager(guest=True)
    claims = tokens.check(token)
    assert claims is not None
    assert claims["guest"] is True
    assert claims["sub"].startswith("guest:")
    assert claims["name"].startswith("guest-")


def test_guests_are_distinct() -> None:
    tokens = manager(guest=True)
    subs = {tokens.check(None)["sub"] for _ in range(10)}  # type: ignore[index]
    assert len(subs) == 10


def test_guest_mode_still_checks_real_tokens() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, guest=True, ttl=10)
    token = tokens.issue(USER)
    claims = tokens.check(token)
    assert claims is not None
    assert claims["sub"] == "u-1"
    assert "guest" not in claims
    clock.advance(10)
    assert tokens.check(token) is None  # expired: ask for a refresh, do not demote to guest


def test_guest_mode_off_by_default() -> None:
    with pytest.raises(InvalidToken):
        manager().check(None)


# --------------------------------------------------------------------------- refresh


async def test_refresh_makes_a_new_token() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, fields=("name", "role"), ttl=60)
    token = tokens.issue({"id": "u-1", "name": "a", "role": "op"})
    clock.advance(30)
    fresh = await tokens.refresh(token)
    old, new = tokens.check(token), tokens.check(fresh)
    assert old is not None
    assert new is not None
    assert new["jti"] != old["jti"]
    assert (new["sub"], new["name"], new["role"]) == ("u-1", "a", "op")
    assert new["iat"] == old["iat"] + 30
    assert new["exp"] == new["iat"] + 60
    clock.advance(30)
    assert tokens.check(token) is None
    assert tokens.check(fresh) is not None


async def test_refresh_with_a_custom_ttl() -> None:
    tokens = manager()
    fresh = await tokens.refresh(tokens.issue(USER), ttl=None)
    claims = tokens.check(fresh)
    assert claims is not None
    assert "exp" not in claims


async def test_refresh_of_an_expired_token_fails() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, ttl=10)
    token = tokens.issue(USER)
    clock.advance(10)
    with pytest.raises(Unauthenticated, match="expired") as info:
        await tokens.refresh(token)
    assert not isinstance(info.value, InvalidToken)


async def test_refresh_of_an_invalid_token_fails_even_for_guests() -> None:
    with pytest.raises(InvalidToken):
        await manager(guest=True).refresh("garbage")


# --------------------------------------------------------------------------- revocation


async def test_revocation_in_memory_without_a_store() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock)
    token, other = tokens.issue(USER), tokens.issue(USER)
    await tokens.revoke(token)
    with pytest.raises(TokenRevoked):
        tokens.check(token)
    assert tokens.check(other) is not None
    await tokens.load_revocations()  # no store: nothing to load, nothing lost
    with pytest.raises(TokenRevoked):
        tokens.check(token)


async def test_revoke_one_token(store: Any) -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, store=store)
    token, other = tokens.issue(USER), tokens.issue(USER)
    await tokens.revoke(token, actor="admin")
    with pytest.raises(TokenRevoked):
        tokens.check(token)
    with pytest.raises(TokenRevoked):
        await tokens.refresh(token)
    assert tokens.check(other) is not None
    entries = (await store.audit_entries(actor="admin")).items
    assert [(e.action, e.target) for e in entries] == [("token.revoke", "u-1")]
    jti = tokens.format.decode(token)["jti"]
    assert entries[0].detail["jti"] == jti
    revocations = await store.revocations(clock())
    assert jti in revocations.tokens


async def test_revoke_by_claims(store: Any) -> None:
    tokens = manager(store=store)
    token = tokens.issue(USER)
    claims = tokens.check(token)
    assert claims is not None
    await tokens.revoke(claims)
    with pytest.raises(TokenRevoked):
        tokens.check(token)


async def test_revoke_needs_a_jti(store: Any) -> None:
    with pytest.raises(InvalidInput, match="jti"):
        await manager(store=store).revoke({"sub": "u-1"})


async def test_revoke_of_a_garbled_token_fails(store: Any) -> None:
    with pytest.raises(InvalidToken):
        await manager(store=store).revoke("garbage")


async def test_revoke_all_of_a_users_tokens(store: Any) -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, store=store)
    first, second = tokens.issue(USER), tokens.issue(USER)
    someone_else = tokens.issue({"id": "u-2", "name": "bob"})
    clock.advance(1)
    await tokens.revoke_user("u-1", actor="admin")
    for token in (first, second):
        with pytest.raises(TokenRevoked):
            tokens.check(token)
    assert tokens.check(someone_else) is not None
    clock.advance(0.001)
    assert tokens.check(tokens.issue(USER)) is not None  # issued after the cut-off
    entries = (await store.audit_entries(actor="admin")).items
    assert [(e.action, e.target) for e in entries] == [("token.revoke_all", "u-1")]


async def test_token_issued_in_the_same_instant_as_the_cut_off_is_revoked(store: Any) -> None:
    clock = ManualClock(1_700_000_000.0004)
    tokens = manager(clock=clock, store=store)
    token = tokens.issue(USER)
    await tokens.revoke_user("u-1")
    with pytest.raises(TokenRevoked):
        tokens.check(token)


async def test_revocations_survive_a_restart(store: Any) -> None:
    clock = ManualClock()
    first = manager(clock=clock, store=store)
    one, kept = first.issue(USER), first.issue({"id": "u-2", "name": "bob"})
    everything = first.issue({"id": "u-3", "name": "cy"})
    clock.advance(1)
    await first.revoke(one)
    await first.revoke_user("u-3")

    second = manager(clock=clock, store=store)  # a new process on the same store
    assert second.check(one) is not None  # it has not loaded anything yet
    await second.load_revocations()
    with pytest.raises(TokenRevoked):
        second.check(one)
    with pytest.raises(TokenRevoked):
        second.check(everything)
    assert second.check(kept) is not None


async def test_refresh_reads_revocations_from_the_store(store: Any) -> None:
    """Another process revoked: ``check`` trusts memory until a reload, refresh does not."""
    clock = ManualClock()
    server = manager(clock=clock, store=store)
    one, everything = server.issue(USER), server.issue({"id": "u-3", "name": "cy"})
    kept = server.issue({"id": "u-2", "name": "bob"})
    clock.advance(1)
    admin = manager(clock=clock, store=store)  # the CLI beside the server
    await admin.revoke(one)
    await admin.revoke_user("u-3")
    assert server.check(one) is not None, "memory has not been reloaded"
    for token in (one, everything):
        with pytest.raises(TokenRevoked):
            await server.refresh(token)
        with pytest.raises(TokenRevoked):
            server.check(token)  # what refresh found is kept in memory
    assert server.check(await server.refresh(kept)) is not None


async def test_revocations_survive_reopening_the_database(tmp_path: pathlib.Path) -> None:
    from homer.store.sqlite import SQLiteStore

    clock = ManualClock()
    path = tmp_path / "homer.db"
    db = SQLiteStore(path)
    await db.open()
    try:
        tokens = manager(clock=clock, store=db)
        token = tokens.issue(USER)
        await tokens.revoke(token)
    finally:
        await db.close()
    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        restarted = manager(clock=clock, store=reopened)
        await restarted.load_revocations()
        with pytest.raises(TokenRevoked):
            restarted.check(token)
    finally:
        await reopened.close()


async def test_revoked_token_that_expired_is_simply_expired(store: Any) -> None:
    clock = ManualClock()
    tokens = manager(clock=clock, store=store, ttl=10)
    token = tokens.issue(USER)
    await tokens.revoke(token)
    clock.advance(10)
    restarted = manager(clock=clock, store=store, ttl=10)
    await restarted.load_revocations()  # the store leaves expired revocations out
    assert restarted.check(token) is None


async def test_revocations_of_expired_tokens_are_forgotten() -> None:
    clock = ManualClock()
    tokens = manager(clock=clock)
    for _ in range(1500):
        await tokens.revoke({"jti": os.urandom(8).hex(), "exp": clock() + 10})
    clock.advance(10)  # all 1500 have expired anyway: no need to remember them
    kept = [tokens.issue(USER, ttl=None) for _ in range(600)]
    for token in kept:
        await tokens.revoke(token)
    assert len(tokens._revoked) < 1500
    for token in kept:
        with pytest.raises(TokenRevoked):
            tokens.check(token)


# --------------------------------------------------------------------------- secret file


def test_load_or_create_secret(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data" / "token.key"
    secret = load_or_create_secret(path)
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == secret
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    other = load_or_create_secret(tmp_path / "other.key", size=64)
    assert len(other) == 64
    assert other[:32] != secret


def test_load_or_create_secret_refuses_a_short_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "token.key"
    path.write_bytes(b"abc")
    with pytest.raises(InvalidInput, match="3 bytes"):
        load_or_create_secret(path)


def test_secret_feeds_an_hmac_key(tmp_path: pathlib.Path) -> None:
    key = JWTKey.hmac("local", load_or_create_secret(tmp_path / "k"))
    tokens = TokenManager(SignedTokens([key]))
    assert tokens.check(tokens.issue(USER)) is not None


# --------------------------------------------------------------------------- properties

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("fmt", list(FORMATS))
@PROPERTY_SETTINGS
@given(name=json_values, extra=json_values, user_id=st.text(min_size=1, max_size=30))
def test_property_round_trip(fmt: str, name: Any, extra: Any, user_id: str) -> None:
    tokens = manager(fmt, fields=("name", "extra"))
    claims = tokens.check(tokens.issue({"id": user_id, "name": name, "extra": extra}))
    assert claims is not None
    assert claims["sub"] == user_id
    assert claims["name"] == name
    assert claims["extra"] == extra


B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
segments = st.text(alphabet=B64_CHARS, max_size=60)
garbage = (
    st.text(max_size=200)
    | st.lists(segments, min_size=1, max_size=4).map(".".join)
    | st.tuples(st.dictionaries(st.text(max_size=5), json_values, max_size=4), segments).map(
        lambda pair: f"{b64json(pair[0])}.{pair[1]}.{pair[1]}"
    )
    | json_values.map(lambda value: f"{b64json({'alg': 'HS256', 'kid': 'hs'})}.{b64json(value)}.")
)


@pytest.mark.parametrize("fmt", list(FORMATS))
@PROPERTY_SETTINGS
@given(token=garbage)
def test_property_garbage_is_only_ever_invalid(fmt: str, token: str) -> None:
    tokens = manager(fmt)
    with pytest.raises(InvalidToken):
        tokens.check(token)


@pytest.mark.parametrize("fmt", SECURE_FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_property_any_one_character_change_is_rejected(fmt: str, data: st.DataObject) -> None:
    tokens = manager(fmt)
    token = tokens.issue(USER)
    where = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.characters(codec="utf-8") | st.sampled_from(B64_CHARS + "."))
    assume(replacement != token[where])
    with pytest.raises(InvalidToken):
        tokens.check(token[:where] + replacement + token[where + 1 :])
