"""Tokens: who the holder is, for how long, and proof that Homer (or the app) said so.

A :class:`TokenManager` turns a user's id and a few chosen fields into a token
and back. How the claims become text is a pluggable :class:`TokenFormat`:

- :class:`SignedTokens` -- standard JWTs (HS256, EdDSA, RS256), so that an
  application's own backend can mint tokens Homer accepts and vice versa;
- :class:`EncryptedTokens` -- AES-GCM, for claims the holder must not read;
- :class:`CodecTokens` -- any encode/decode pair the application supplies.

``check`` is on the hot path of every request, so it is synchronous and keeps
revocations in memory; HS256 is verified by a short path of our own because
PyJWT's general one does about a ninth as many checks per second.
"""

from __future__ import annotations

import base64
import enum
import hmac
import json
import math
import os
import pathlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, TypeAlias, TypeGuard

import jwt
import msgspec
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.api_jws import PyJWS

from homer.clock import Clock, system_clock
from homer.errors import InvalidInput, InvalidToken, TokenRevoked, Unauthenticated
from homer.identity.security import SecurityEvents
from homer.store.ports import TokenStore
from homer.store.records import AuditEvent, Revocations

__all__ = [
    "Algorithm",
    "CodecTokens",
    "EncryptedTokens",
    "JWTKey",
    "SignedTokens",
    "TokenFormat",
    "TokenManager",
    "load_or_create_secret",
]

Algorithm: TypeAlias = Literal["HS256", "EdDSA", "RS256"]
_ALGORITHMS: Final = frozenset({"HS256", "EdDSA", "RS256"})

SigningKey: TypeAlias = bytes | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
VerificationKey: TypeAlias = bytes | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
_MIN_HMAC_BYTES: Final = 32
_MIN_RSA_BITS: Final = 2048
#: Longer than any sane token; bounds the work a garbage string can cause.
_MAX_TOKEN_CHARS: Final = 16_384
#: Claims Homer sets itself; a configured field may not shadow one of them.
_RESERVED_CLAIMS: Final = frozenset({"sub", "iat", "exp", "nbf", "jti", "aud", "iss", "guest"})
_KID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    """Lenient base64url; only used on text that a signature or a tag also covers."""
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidToken("garbled token") from None
    if type(value) is not dict:
        raise InvalidToken("garbled token")
    return value


def _dump_claims(claims: Mapping[str, Any]) -> bytes:
    """Strict JSON: NaN or a non-JSON value fails here rather than minting an unreadable token."""
    try:
        text = json.dumps(claims, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"token claims are not JSON: {exc}") from None


class TokenFormat(Protocol):
    """How claims become token text and back.

    ``decode`` raises :class:`InvalidToken` for anything it did not produce
    (or cannot authenticate) and never judges expiry: that is the manager's job,
    so that every format expires tokens the same way, by the same clock.
    """

    name: str

    def encode(self, claims: dict[str, Any]) -> str: ...

    def decode(self, token: str) -> dict[str, Any]: ...


# --------------------------------------------------------------------------- signed (JWT)


@dataclass(frozen=True, slots=True, eq=False)
class JWTKey:
    """One JWT key. Without ``signing_key`` it only verifies: an old key kept
    during rotation, or the public half of a key another backend signs with."""

    kid: str
    algorithm: Algorithm
    verification_key: VerificationKey = field(repr=False)
    signing_key: SigningKey | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kid, str) or not self.kid:
            raise InvalidInput("a JWT key needs a non-empty kid")
        if self.algorithm not in _ALGORITHMS:
            raise InvalidInput(f"unsupported JWT algorithm {self.algorithm!r}")
        verify, sign = self.verification_key, self.signing_key
        if self.algorithm == "HS256":
            if not isinstance(verify, bytes) or (sign is not None and sign != verify):
                raise InvalidInput("an HS256 key is one secret, as bytes")
            if len(verify) < _MIN_HMAC_BYTES:
                raise InvalidInput(f"an HS256 secret needs at least {_MIN_HMAC_BYTES} bytes")
            try:
                jwt.get_algorithm_by_name("HS256").prepare_key(verify)
            except jwt.InvalidKeyError as exc:  # e.g. a PEM passed as a secret
                raise InvalidInput(f"unusable HS256 secret: {exc}") from None
        elif self.algorithm == "EdDSA":
            if not isinstance(verify, ed25519.Ed25519PublicKey) or not (
                sign is None or isinstance(sign, ed25519.Ed25519PrivateKey)
            ):
                raise InvalidInput("an EdDSA key needs Ed25519 key objects")
        else:
            if not isinstance(verify, rsa.RSAPublicKey) or not (
                sign is None or isinstance(sign, rsa.RSAPrivateKey)
            ):
                raise InvalidInput("an RS256 key needs RSA key objects")
            if verify.key_size < _MIN_RSA_BITS:
                raise InvalidInput(f"an RSA key needs at least {_MIN_RSA_BITS} bits")
        if isinstance(sign, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            pair = sign.public_key()
            if _public_der(pair) != _public_der(verify):  # type: ignore[arg-type]
                raise InvalidInput("the private and public key do not belong together")

    @property
    def can_sign(self) -> bool:
        return self.signing_key is not None

    @classmethod
    def hmac(cls, kid: str, secret: bytes) -> JWTKey:
        """A shared-secret HS256 key: fast, but whoever verifies can also sign."""
        return cls(kid, "HS256", secret, secret)

    @classmethod
    def from_pem(
        cls, kid: str, *, private_pem: bytes | None = None, public_pem: bytes | None = None
    ) -> JWTKey:
        """Ed25519 keys become EdDSA keys, RSA keys RS256; a public PEM alone verifies only."""
        private: Any = None
        public: Any
        try:
            if private_pem is not None:
                private = serialization.load_pem_private_key(private_pem, password=None)
            if public_pem is not None:
                public = serialization.load_pem_public_key(public_pem)
            elif private is not None:
                public = private.public_key()
            else:
                raise InvalidInput("from_pem needs a private or a public PEM")
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidInput(f"unreadable PEM key: {exc}") from None
        algorithm: Algorithm
        if isinstance(public, ed25519.Ed25519PublicKey):
            algorithm = "EdDSA"
        elif isinstance(public, rsa.RSAPublicKey):
            algorithm = "RS256"
        else:
            raise InvalidInput(f"unsupported key type {type(public).__name__}; use Ed25519 or RSA")
        return cls(kid, algorithm, public, private)

    @classmethod
    def generate(cls, kid: str, algorithm: Algorithm = "HS256") -> JWTKey:
        """A fresh random key, for tests and tools."""
        if algorithm == "HS256":
            return cls.hmac(kid, secrets.token_bytes(_MIN_HMAC_BYTES))
        if algorithm == "EdDSA":
            ed_private = ed25519.Ed25519PrivateKey.generate()
            return cls(kid, "EdDSA", ed_private.public_key(), ed_private)
        if algorithm == "RS256":
            rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=_MIN_RSA_BITS)
            return cls(kid, "RS256", rsa_private.public_key(), rsa_private)
        raise InvalidInput(f"unsupported JWT algorithm {algorithm!r}")

    def verify_only(self) -> JWTKey:
        """The same key without its signing half: what a verifier should hold."""
        return JWTKey(self.kid, self.algorithm, self.verification_key)


def _public_der(key: ed25519.Ed25519PublicKey | rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class SignedTokens:
    """JWTs: readable by the holder, unforgeable without a signing key.

    The ``kid`` header picks the verification key, so old keys keep verifying
    after a new one signs. The header's ``alg`` must be the key's own algorithm;
    that closes ``alg: none`` and HS256-with-a-public-key confusion.
    """

    name = "jwt"

    def __init__(self, keys: Sequence[JWTKey], *, signing_kid: str | None = None) -> None:
        if not keys:
            raise InvalidInput("SignedTokens needs at least one key")
        self._keys: dict[str, JWTKey] = {}
        for key in keys:
            if key.kid in self._keys:
                raise InvalidInput(f"duplicate key id {key.kid!r}")
            self._keys[key.kid] = key
        # A token without ``kid`` is only unambiguous when there is one key.
        self._only = keys[0] if len(keys) == 1 else None
        self._signer: JWTKey | None
        if signing_kid is None:
            self._signer = next((key for key in keys if key.can_sign), None)
        else:
            self._signer = self._keys.get(signing_kid)
            if self._signer is None or not self._signer.can_sign:
                raise InvalidInput(f"no signing key with id {signing_kid!r}")
        self._jws = PyJWS()
        # Header text -> key, so the common case skips decoding the header.
        self._header_cache: dict[bytes, JWTKey] = {}

    @property
    def signing_kid(self) -> str | None:
        return self._signer.kid if self._signer is not None else None

    def encode(self, claims: dict[str, Any]) -> str:
        signer = self._signer
        if signer is None:
            raise InvalidInput("these JWT keys can only verify; none can sign")
        return self._jws.encode(
            _dump_claims(claims),
            signer.signing_key,  # type: ignore[arg-type]
            algorithm=signer.algorithm,
            headers={"kid": signer.kid},
        )

    def decode(self, token: str) -> dict[str, Any]:
        try:
            raw = token.encode("ascii")
        except (UnicodeEncodeError, AttributeError):
            raise InvalidToken("garbled token") from None
        parts = raw.split(b".")
        if len(parts) != 3:
            raise InvalidToken("garbled token")
        header, payload, signature = parts
        key = self._header_cache.get(header)
        if key is None:
            key = self._key_for(header)
        if key.algorithm == "HS256":
            signing_input = raw[: len(header) + 1 + len(payload)]
            expected = _b64encode(hmac.digest(key.verification_key, signing_input, "sha256"))  # type: ignore[arg-type]
            # Comparing the text, not decoded bytes, also rejects re-encoded signatures.
            if not hmac.compare_digest(expected, signature):
                raise InvalidToken("bad token signature")
            try:
                body = _b64decode(payload)
            except ValueError:
                raise InvalidToken("garbled token") from None
            return _json_object(body)
        try:
            verified = self._jws.decode_complete(
                raw, key.verification_key, algorithms=[key.algorithm]
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("bad token signature") from None
        return _json_object(verified["payload"])

    def _key_for(self, segment: bytes) -> JWTKey:
        try:
            header = _json_object(_b64decode(segment))
        except ValueError:
            raise InvalidToken("garbled token") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise InvalidToken("unsigned token")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported token header")
        kid = header.get("kid")
        if kid is None:
            if self._only is None:
                raise InvalidToken("token names no key id")
            key = self._only
        else:
            found = self._keys.get(kid) if isinstance(kid, str) else None
            if found is None:
                raise InvalidToken("token signed with an unknown key")
            key = found
        if alg != key.algorithm:
            raise InvalidToken("token algorithm does not match its key")
        if len(self._header_cache) >= 64:  # crafted headers cannot grow it without bound
            self._header_cache.clear()
        self._header_cache[segment] = key
        return key


# --------------------------------------------------------------------------- encrypted


class EncryptedTokens:
    """AES-256-GCM tokens: the holder can neither read nor alter the claims.

    Text is ``<kid>.<base64url(12-byte nonce + ciphertext)>``; the kid is the
    associated data, so a token cannot be moved to another key. Nonces are
    random, which is safe for well over a billion tokens per key.
    """

    name = "aesgcm"

    def __init__(self, keys: Mapping[str, bytes], *, encrypting_kid: str | None = None) -> None:
        if not keys:
            raise InvalidInput("EncryptedTokens needs at least one key")
        self._ciphers: dict[str, AESGCM] = {}
        for kid, key in keys.items():
            if not isinstance(kid, str) or not kid or not set(kid) <= _KID_CHARS:
                raise InvalidInput(f"key id {kid!r} must be letters, digits, '-' or '_'")
            if not isinstance(key, bytes) or len(key) != 32:
                raise InvalidInput(f"key {kid!r} must be 32 bytes")
            self._ciphers[kid] = AESGCM(key)
        if encrypting_kid is None:
            encrypting_kid = next(iter(keys))
        elif encrypting_kid not in self._ciphers:
            raise InvalidInput(f"no key with id {encrypting_kid!r}")
        self._kid = encrypting_kid

    def encode(self, claims: dict[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers[self._kid].encrypt(nonce, _dump_claims(claims), self._kid.encode())
        return f"{self._kid}.{_b64encode(nonce + sealed).decode('ascii')}"

    def decode(self, token: str) -> dict[str, Any]:
        try:
            kid, dot, body = token.partition(".")
            cipher = self._ciphers.get(kid)
            raw = body.encode("ascii")
            data = _b64decode(raw)
        except (AttributeError, ValueError):
            raise InvalidToken("garbled token") from None
        if cipher is None or not dot:
            raise InvalidToken("token sealed with an unknown key")
        if len(data) < 12 + 16 or _b64encode(data) != raw:
            raise InvalidToken("garbled token")
        try:
            plain = cipher.decrypt(data[:12], data[12:], kid.encode())
        except InvalidTag:
            raise InvalidToken("token fails authentication") from None
        return _json_object(plain)


# --------------------------------------------------------------------------- codec


class CodecTokens:
    """An application's own token format. Its decode may raise anything on bad
    input; that becomes :class:`InvalidToken`, so callers see one error."""

    def __init__(
        self,
        name: str,
        encode: Callable[[dict[str, Any]], str],
        decode: Callable[[str], dict[str, Any]],
    ) -> None:
        self.name = name
        self._encode = encode
        self._decode = decode

    def encode(self, claims: dict[str, Any]) -> str:
        token = self._encode(claims)
        if not isinstance(token, str):
            raise InvalidInput(f"token codec {self.name!r} must encode to str")
        return token

    def decode(self, token: str) -> dict[str, Any]:
        try:
            claims = self._decode(token)
        except InvalidToken:
            raise
        except Exception as exc:
            raise InvalidToken(f"token rejected by codec {self.name!r}") from exc
        if not isinstance(claims, dict):
            raise InvalidToken(f"token codec {self.name!r} decoded to a non-mapping")
        return claims


# --------------------------------------------------------------------------- manager


class _Default(enum.Enum):
    TTL = enum.auto()


def _number(value: object) -> TypeGuard[float]:
    """A JSON number: bool is an int to Python but not a time to us."""
    return type(value) is float or type(value) is int


def _checked_ttl(ttl: object) -> float | None:
    if ttl is None:
        return None
    if not _number(ttl) or not math.isfinite(ttl) or ttl <= 0:
        raise InvalidInput(f"a token ttl must be a positive number of seconds or None, not {ttl!r}")
    return float(ttl)


class TokenManager:
    """Issues and checks tokens for one purpose.

    Expiry is judged by the injected clock only. Revocations are held in
    memory so that ``check`` never waits on the store; they are written to
    the store (when there is one) so that :meth:`load_revocations` can bring
    them back after a restart or from another node.
    """

    def __init__(
        self,
        format: TokenFormat,
        *,
        fields: Sequence[str] = ("name",),
        ttl: float | None = 1800.0,
        purpose: str = "homer",
        clock: Clock = system_clock,
        guest: bool = False,
        store: TokenStore | None = None,
        events: SecurityEvents | None = None,
    ) -> None:
        fields = tuple(fields)
        for name in fields:
            if not isinstance(name, str) or not name or name in _RESERVED_CLAIMS or name == "id":
                raise InvalidInput(f"token field {name!r} is empty or reserved")
        if len(set(fields)) != len(fields):
            raise InvalidInput("token fields repeat a name")
        if not isinstance(purpose, str) or not purpose:
            raise InvalidInput("a token purpose must be a non-empty string")
        self.format = format
        self.fields = fields
        self.ttl = _checked_ttl(ttl)
        self.purpose = purpose
        self.guest = guest
        self._clock = clock
        self._store = store
        #: Told of every revocation (the audit entry is written with it).
        self.events = events or SecurityEvents(None)
        self._revoked: dict[str, float | None] = {}
        self._cutoffs: dict[str, float] = {}
        self._prune_at = 1024

    # -- issuing

    def issue(
        self,
        info: Mapping[str, Any],
        *,
        ttl: float | Literal[_Default.TTL] | None = _Default.TTL,
        purpose: str | None = None,
    ) -> str:
        """A token for ``info["id"]`` carrying the configured fields it has
        (a user without an optional attribute gets a token without that claim).

        ``purpose`` mints a token for another manager (say, a password-reset
        link) that this one's ``check`` will refuse.
        """
        user_id = info.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise InvalidInput("token info needs a non-empty string 'id'")
        lifetime = self.ttl if ttl is _Default.TTL else _checked_ttl(ttl)
        if purpose is not None and (not isinstance(purpose, str) or not purpose):
            raise InvalidInput("a token purpose must be a non-empty string")
        # Floor to the millisecond: a token issued before a user's cut-off must
        # never look as if it came after it.
        issued = math.floor(self._clock() * 1000) / 1000
        claims: dict[str, Any] = {"sub": user_id}
        for name in self.fields:
            if name in info:
                claims[name] = info[name]
        claims["iat"] = issued
        if lifetime is not None:
            claims["exp"] = issued + lifetime
        claims["jti"] = secrets.token_urlsafe(16)
        claims["aud"] = purpose or self.purpose
        return self.format.encode(claims)

    async def refresh(
        self, token: str, *, ttl: float | Literal[_Default.TTL] | None = _Default.TTL
    ) -> str:
        """A new token (new jti, iat, exp) for the holder of a valid one.

        Judged by :meth:`check_stored`: a refresh must not outlive a revocation
        another process made a moment ago. The old token stays valid until it
        expires; revoke it to retire it.
        """
        claims = await self.check_stored(token)
        info: dict[str, Any] = {"id": claims["sub"]}
        for name in self.fields:
            if name in claims:
                info[name] = claims[name]
        return self.issue(info, ttl=ttl)

    # -- checking

    def check(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a valid token; ``None`` if it expired (ask for a refresh).

        Raises :class:`InvalidToken` (or :class:`TokenRevoked`) otherwise --
        unless guests are on, in which case anyone without a valid token is a
        fresh guest.
        """
        if not self.guest:
            return self._verify(token)
        try:
            return self._verify(token)
        except InvalidToken:
            return {
                "sub": f"guest:{secrets.token_urlsafe(12)}",
                "guest": True,
                "name": f"guest-{secrets.token_hex(3)}",
            }

    async def check_stored(self, token: str) -> dict[str, Any]:
        """The claims of a valid token, judged by the revocations in the store as
        they are now, not by those in memory (which a server reloads every few
        seconds). For rare checks that grant something, such as a refresh.

        Never applies guest mode; an expired token raises :class:`Unauthenticated`.
        """
        claims = self._verify(token)
        if claims is None:
            raise Unauthenticated("token expired")
        if await self.revoked_in_store(claims["sub"], claims.get("jti"), claims.get("iat")):
            raise TokenRevoked("token revoked")
        return claims

    def _verify(self, token: object) -> dict[str, Any] | None:
        if not isinstance(token, str) or not token:
            raise InvalidToken("no token")
        if len(token) > _MAX_TOKEN_CHARS:
            raise InvalidToken("token too long")
        claims = self.format.decode(token)
        aud = claims.get("aud")
        if aud != self.purpose and not (isinstance(aud, list) and self.purpose in aud):
            raise InvalidToken("token issued for another purpose")
        sub = claims.get("sub")
        jti = claims.get("jti")
        iat = claims.get("iat")
        exp = claims.get("exp")
        if (
            type(sub) is not str
            or not sub
            or (jti is not None and type(jti) is not str)
            or (iat is not None and not _number(iat))
            or (exp is not None and not _number(exp))
        ):
            raise InvalidToken("token claims have the wrong types")
        if self.revoked(sub, jti, iat):
            raise TokenRevoked("token revoked")
        if exp is not None and exp <= self._clock():
            return None
        nbf = claims.get("nbf")
        if nbf is not None and (not _number(nbf) or nbf > self._clock()):
            raise InvalidToken("token not valid yet")
        return claims

    # -- revoking

    def revoked(self, sub: str, jti: str | None, iat: float | None) -> bool:
        """Whether a token with these claims is revoked (by id, or by its user's cut-off).

        Lets a long-lived session re-check its token without keeping the token."""
        if self._revoked and jti is not None and jti in self._revoked:
            return True
        if self._cutoffs:
            cutoff = self._cutoffs.get(sub)
            # No iat: nothing proves the token came after the cut-off.
            if cutoff is not None and (iat is None or iat <= cutoff):
                return True
        return False

    async def revoked_in_store(self, sub: str, jti: str | None, iat: float | None) -> bool:
        """Like :meth:`revoked`, but reads the token's revocations from the store
        first (and keeps them in memory). Without a store, the same as ``revoked``."""
        if self._store is not None:
            self._merge(await self._store.revocations_of(sub, jti))
        return self.revoked(sub, jti, iat)

    async def revoke(
        self, token_or_claims: str | Mapping[str, Any], *, actor: str = "system"
    ) -> None:
        """Revoke one token (by its ``jti``), expired or not."""
        if isinstance(token_or_claims, str):
            if len(token_or_claims) > _MAX_TOKEN_CHARS:
                raise InvalidToken("token too long")
            claims: Mapping[str, Any] = self.format.decode(token_or_claims)
        else:
            claims = token_or_claims
        jti = claims.get("jti")
        exp = claims.get("exp")
        if type(jti) is not str or not jti:
            raise InvalidInput("the token has no jti; revoke all of the user's tokens instead")
        if exp is not None and not _number(exp):
            raise InvalidInput("the token's exp is not a number")
        sub = claims.get("sub")
        if self._store is not None:
            event = AuditEvent(
                actor=actor,
                action="token.revoke",
                target=sub if isinstance(sub, str) else jti,
                at=self._clock(),
                detail={"jti": jti},
            )
            await self._store.revoke_token(jti, exp, event)
        self._revoked[jti] = exp
        self._prune()
        self.events.count("token.revoke")

    async def revoke_user(self, user_id: str, *, actor: str = "system") -> None:
        """Revoke every token of ``user_id`` issued up to now."""
        if not isinstance(user_id, str) or not user_id:
            raise InvalidInput("revoke_user needs a user id")
        cutoff = self._clock()
        if self._store is not None:
            event = AuditEvent(actor=actor, action="token.revoke_all", target=user_id, at=cutoff)
            await self._store.revoke_user_tokens(user_id, cutoff, event)
        self._cutoffs[user_id] = max(cutoff, self._cutoffs.get(user_id, cutoff))
        self.events.count("token.revoke_all")

    async def load_revocations(self) -> None:
        """Merge the store's revocations into memory (at start-up, or periodically
        when several nodes share a store)."""
        if self._store is None:
            return
        self._merge(await self._store.revocations(self._clock()))

    def _merge(self, found: Revocations) -> None:
        self._revoked.update(found.tokens)
        for user_id, cutoff in found.users.items():
            self._cutoffs[user_id] = max(cutoff, self._cutoffs.get(user_id, cutoff))
        self._prune()

    def _prune(self) -> None:
        """Forget revoked tokens that have expired anyway; amortised over many revokes."""
        if len(self._revoked) < self._prune_at:
            return
        now = self._clock()
        self._revoked = {j: e for j, e in self._revoked.items() if e is None or e > now}
        self._prune_at = max(1024, 2 * len(self._revoked))


# --------------------------------------------------------------------------- secrets on disk


def load_or_create_secret(path: pathlib.Path, size: int = 32) -> bytes:
    """The node's secret: random on first start, the same bytes ever after, so
    tokens survive restarts. Created owner-only (0600) and atomically, so a
    crash or a second process never leaves a short or different secret."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(size))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # never overwrites: if another process won, use theirs
            except FileExistsError:
                pass
            except OSError:  # no hard links on this file system
                if not path.exists():
                    os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        data = path.read_bytes()
    if len(data) < size:
        raise InvalidInput(f"secret file {path} holds {len(data)} bytes, expected {size}")
    return data
