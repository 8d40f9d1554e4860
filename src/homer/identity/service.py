"""The identity layer wired together from the configuration.

:class:`Identity` is a plain container built once at start-up (by the server
or the admin CLI) with explicit constructor arguments; nothing reaches for it
through a global.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from homer.clock import Clock, system_clock
from homer.config import AttributeSpec, HomerConfig, TokenConfig
from homer.errors import InvalidInput, NotFound, Unauthenticated
from homer.identity.accounts import AccountService, User
from homer.identity.audit import AuditTrail
from homer.identity.groups import GroupService
from homer.identity.password_policy import PasswordPolicy
from homer.identity.passwords import Argon2Params, Passwords
from homer.identity.permissions import (
    Actor,
    Authorizer,
    Guarded,
    PermissionSet,
    Principal,
    actor_for,
)
from homer.identity.schema import (
    MISSING,
    Attribute,
    UserSchema,
    Validator,
    all_of,
    between,
    choice,
    email,
    length,
    of_type,
    pattern,
)
from homer.identity.security import SecurityEvents
from homer.identity.sessions import ServerSessions
from homer.identity.tokens import (
    EncryptedTokens,
    JWTKey,
    SignedTokens,
    TokenFormat,
    TokenManager,
    load_or_create_secret,
)
from homer.store.factory import open_store
from homer.store.ports import Store

__all__ = ["Identity", "schema_from_config", "token_format_from_config"]


@dataclass(eq=False)
class Identity:
    store: Store
    authorizer: Authorizer
    passwords: Passwords
    tokens: TokenManager
    accounts: AccountService
    groups: GroupService
    sessions: ServerSessions
    audit: AuditTrail
    #: Security events, counted by kind and written to the audit log.
    events: SecurityEvents
    #: Whether :meth:`close` closes the store (it does when ``open`` made it).
    owns_store: bool = True

    @classmethod
    async def open(
        cls,
        config: HomerConfig,
        *,
        store: Store | None = None,
        schema: UserSchema | None = None,
        permissions: Iterable[str] | Mapping[str, str] = (),
        password_params: Argon2Params | None = None,
        token_format: TokenFormat | None = None,
        clock: Clock = system_clock,
    ) -> Identity:
        """Open the store (migrating it), create the configured groups if missing,
        and load what the permission and token checks keep in memory."""
        identity_config = config.identity
        permission_set = PermissionSet(
            {**dict.fromkeys(identity_config.permissions, ""), **_as_mapping(permissions)}
        )
        owned_store = store is None
        store = store or open_store(config)
        await store.open()
        passwords: Passwords | None = None
        events = SecurityEvents(store, clock=clock)
        try:
            authorizer = Authorizer(permission_set)
            groups = GroupService(
                store, authorizer, default_group=identity_config.default_group, clock=clock
            )
            await groups.reload()
            for name, spec in _parents_first(identity_config.groups):
                await groups.ensure(name, spec.permissions, parent=spec.parent)
            default = await store.group_by_name(identity_config.default_group)
            if default is None:
                default = await groups.ensure(identity_config.default_group, [])
            await groups.reload()

            tokens_config = config.tokens
            if token_format is None:  # reads (or creates) key files: not on the loop
                token_format = await asyncio.to_thread(token_format_from_config, config)
            tokens = TokenManager(
                token_format,
                fields=tokens_config.fields,
                ttl=tokens_config.ttl or None,
                purpose=tokens_config.purpose,
                guest=tokens_config.guest,
                clock=clock,
                store=store,
                events=events,
            )
            await tokens.load_revocations()
            params = password_params or Argon2Params(
                time_cost=identity_config.passwords.time_cost,
                memory_cost_kib=identity_config.passwords.memory_cost_kib,
                parallelism=identity_config.passwords.parallelism,
            )
            passwords = Passwords(
                params,
                workers=identity_config.passwords.workers,
                per_client=identity_config.passwords.per_client,
                policy=PasswordPolicy(
                    min_length=identity_config.password_min_length,
                    min_score=identity_config.password_min_score,
                    refuse_common=identity_config.password_refuse_common,
                ),
            )
            accounts = AccountService(
                store,
                schema or schema_from_config(identity_config.attributes),
                passwords,
                authorizer,
                default_group_id=default.id,
                tokens=tokens,
                events=events,
                name_scripts=identity_config.name_scripts,
                clock=clock,
            )
            sessions = ServerSessions(store, ttl=config.sessions.ttl or None, clock=clock)
        except BaseException:
            if passwords is not None:
                passwords.close()
            if owned_store:
                await store.close()
            raise
        return cls(
            store=store,
            authorizer=authorizer,
            passwords=passwords,
            tokens=tokens,
            accounts=accounts,
            groups=groups,
            sessions=sessions,
            audit=AuditTrail(store, principals=accounts.principal),
            events=events,
            owns_store=owned_store,
        )

    async def close(self) -> None:
        self.passwords.close()
        if self.owns_store:
            await self.store.close()

    def actor(self, user: User) -> Actor:
        """The principal that acts as ``user`` in guarded calls."""
        return Actor(user, self.authorizer, user.name)

    async def principal(self, user_id: str) -> Principal:
        """The principal that acts as the stored user ``user_id``; ``NotFound`` if none."""
        return await actor_for(self.store, self.authorizer, user_id)

    @property
    def guarded(self) -> Guarded:
        """Every plain function guarded with ``requires``, by name, taking a user id
        (or a principal) first: ``await identity.guarded.create_room(user_id, "lobby")``."""
        return Guarded(self.principal)

    def can(self, user: User, permission: str) -> bool:
        return self.authorizer.can(user, permission)

    async def login(self, name: str, password: str, *, client: str = "") -> tuple[User, str]:
        """Check a name and password; return the user and a fresh token. ``client``
        is the client's address: its turn in the hashing pool, its name in the audit log."""
        user = await self.accounts.authenticate(name, password, client=client)
        return user, self.tokens.issue(user.token_info())

    async def refresh(self, token: str) -> tuple[User, str]:
        """A new token for the holder of a valid one, carrying the account's fields
        as they are now. Judged by the store, not memory: a token revoked or an
        account deleted by another process a moment ago is refused."""
        claims = await self.tokens.check_stored(token)
        user = await self.account_of(claims["sub"])
        return user, self.tokens.issue(user.token_info())

    async def account_of(self, user_id: str) -> User:
        """The user a token names, read from the store; ``Unauthenticated`` if deleted."""
        try:
            return await self.accounts.get_by_id(user_id)
        except NotFound:
            raise Unauthenticated("the account behind this token no longer exists") from None


def _as_mapping(permissions: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    if isinstance(permissions, Mapping):
        return dict(permissions)
    return dict.fromkeys(permissions, "")


def _parents_first(groups: Mapping[str, Any]) -> list[tuple[str, Any]]:
    ordered: list[tuple[str, Any]] = []
    placed: set[str] = set()

    def place(name: str, trail: tuple[str, ...]) -> None:
        if name in placed or name not in groups:
            return
        if name in trail:
            raise InvalidInput(f"groups inherit in a cycle: {' -> '.join((*trail, name))}")
        parent = groups[name].parent
        if parent:
            place(parent, (*trail, name))
        placed.add(name)
        ordered.append((name, groups[name]))

    for name in groups:
        place(name, ())
    return ordered


_TYPES: dict[str, type | None] = {"string": str, "integer": int, "boolean": bool, "any": None}


def schema_from_config(specs: Mapping[str, AttributeSpec]) -> UserSchema:
    """A user schema from the ``[identity.attributes.NAME]`` tables of the config file."""
    attributes: dict[str, Attribute] = {}
    for name, spec in specs.items():
        checks: list[Validator] = []
        if spec.type == "email":
            checks.append(email())
        elif spec.type == "number":
            checks.append(between())
        else:
            kind = _TYPES[spec.type]
            if kind is not None:
                checks.append(of_type(kind))
        if spec.min_length is not None or spec.max_length is not None:
            checks.append(length(spec.min_length or 0, spec.max_length))
        if spec.pattern is not None:
            try:
                checks.append(pattern(spec.pattern))
            except re.error as exc:
                raise InvalidInput(f"attribute {name!r}: bad pattern: {exc}") from exc
        if spec.choices is not None:
            checks.append(choice(*spec.choices))
        default = MISSING if spec.default is msgspec.UNSET else spec.default
        try:
            attributes[name] = Attribute(
                validator=all_of(*checks) if checks else None,
                default=default,
                required=spec.required,
                description=spec.description,
            )
        except TypeError as exc:
            raise InvalidInput(f"attribute {name!r}: {exc}") from exc
    return UserSchema(attributes)


def token_format_from_config(config: HomerConfig) -> TokenFormat:
    tokens: TokenConfig = config.tokens
    if tokens.format == "aesgcm":
        secret = load_or_create_secret(config.under_data_dir(tokens.secret_file))
        keys = {tokens.key_id: secret}
        for kid, path in tokens.verify_keys.items():
            keys[kid] = _read(config, path)
        return EncryptedTokens(keys, encrypting_kid=tokens.key_id)
    if tokens.algorithm == "HS256":
        signing = JWTKey.hmac(
            tokens.key_id, load_or_create_secret(config.under_data_dir(tokens.secret_file))
        )
    else:
        if not tokens.private_key_file:
            raise InvalidInput(f"tokens.private_key_file is required for {tokens.algorithm}")
        signing = JWTKey.from_pem(tokens.key_id, private_pem=_read(config, tokens.private_key_file))
        if signing.algorithm != tokens.algorithm:
            raise InvalidInput(
                f"tokens.private_key_file holds an {signing.algorithm} key, not {tokens.algorithm}"
            )
    keys_list = [signing]
    for kid, path in tokens.verify_keys.items():
        material = _read(config, path)
        if material.lstrip().startswith(b"-----BEGIN"):
            keys_list.append(JWTKey.from_pem(kid, public_pem=material))
        else:
            keys_list.append(JWTKey.hmac(kid, material))
    return SignedTokens(keys_list, signing_kid=tokens.key_id)


def _read(config: HomerConfig, path: str) -> bytes:
    full = config.under_data_dir(path)
    try:
        return full.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read key file {full}: {exc}") from exc
