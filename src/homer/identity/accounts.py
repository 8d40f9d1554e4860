"""User accounts: create, authenticate, confirm, change, rename, delete, list.

Admin operations take the acting principal first and are guarded with
``admin.users`` (``admin.groups`` for per-user permission overrides); the
self-service ones (``register``, ``authenticate``, ``change_password``,
``update_own``) act on the caller's own account.

Deleting a user removes the account row and revokes every token the user
holds; the audit trail keeps the entries about them (by id and name), and,
once messaging is in, the messages they sent stay in history under their id.
The name becomes free to take again, by a new account with a new id.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import msgspec

from homer.clock import Clock, system_clock
from homer.confusables import restriction, script_names
from homer.errors import Conflict, NotFound, RateLimited, Unauthenticated, ValidationFailed
from homer.identity.passwords import Passwords
from homer.identity.permissions import Authorizer, Principal, actor_for, requires
from homer.identity.schema import UserSchema, validate_name
from homer.identity.security import SecurityEvents
from homer.store.ports import Store
from homer.store.records import AuditEvent, JSONMap, Page, UserRecord

if TYPE_CHECKING:
    from homer.identity.tokens import TokenManager

__all__ = ["AccountService", "User"]


@dataclass(frozen=True, slots=True)
class User:
    """A user as the application sees one: never the password hash."""

    id: str
    name: str
    group_id: str
    attributes: JSONMap
    grants: frozenset[str]
    denies: frozenset[str]
    created_at: float
    updated_at: float
    version: int

    @classmethod
    def from_record(cls, record: UserRecord) -> User:
        return cls(
            id=record.id,
            name=record.name,
            group_id=record.group_id,
            attributes=record.attributes,
            grants=record.grants,
            denies=record.denies,
            created_at=record.created_at,
            updated_at=record.updated_at,
            version=record.version,
        )

    def token_info(self) -> dict[str, Any]:
        """What a token manager picks its fields from."""
        return {**self.attributes, "id": self.id, "name": self.name, "group_id": self.group_id}


class AccountService:
    #: How long ``get_by_id(cached=True)`` may answer from memory.
    CACHE_SECONDS = 5.0

    def __init__(
        self,
        store: Store,
        schema: UserSchema,
        passwords: Passwords,
        authorizer: Authorizer,
        *,
        default_group_id: str,
        tokens: TokenManager | None = None,
        events: SecurityEvents | None = None,
        name_scripts: str = "highly_restrictive",
        clock: Clock = system_clock,
    ) -> None:
        if name_scripts not in ("single", "highly_restrictive", "any"):
            raise ValueError(f"name_scripts: unknown setting {name_scripts!r}")
        self.store = store
        #: Which mixes of scripts a new name may have (``identity.name_scripts``).
        self.name_scripts = name_scripts
        #: Where failed logins, refused sign-ups and password changes are told.
        self.events = events or SecurityEvents(store, clock=clock)
        self.schema = schema
        self.passwords = passwords
        self.authorizer = authorizer
        self.default_group_id = default_group_id
        self.tokens = tokens
        self.clock = clock
        self._by_id: dict[str, tuple[User, float]] = {}

    async def principal(self, user_id: str) -> Principal:
        """Who acts when a guarded method is given a user id instead of a principal."""
        return await actor_for(self.store, self.authorizer, user_id)

    # -- creating -------------------------------------------------------------

    async def register(
        self,
        name: str,
        password: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        client: str = "",
    ) -> User:
        """Self-service sign-up into the default group; ``client`` (the client's
        address) takes its turn in the hashing pool and is named in the audit log
        if the sign-up is refused."""
        try:
            return await self._create(None, name, password, attributes or {}, None, client)
        except (ValidationFailed, Conflict) as exc:
            reason = sorted(exc.fields) if isinstance(exc, ValidationFailed) else "name taken"
            await self.events.record(
                "registration.refused",
                actor=client or "-",
                target=f"user:{name if isinstance(name, str) else '?'}"[:100],
                detail={"reason": reason},
            )
            raise
        except RateLimited:
            await self.events.record("hashing.refused", actor=client or "-", target="sign-up")
            raise

    @requires("admin.users")
    async def create(
        self,
        actor: Principal,
        name: str,
        password: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        group: str | None = None,
    ) -> User:
        return await self._create(actor.name, name, password, attributes or {}, group)

    async def _create(
        self,
        actor_name: str | None,
        name: str,
        password: str,
        attributes: Mapping[str, Any],
        group: str | None,
        client: str = "",
    ) -> User:
        # Validate everything (and report every failing field) before the costly hash.
        errors: dict[str, str] = {}
        try:
            name = self._valid_name(name, "name")
        except ValidationFailed as exc:
            errors.update(exc.fields)
        try:
            self.passwords.policy.check_form(password)
        except ValidationFailed as exc:
            errors.update(exc.fields)
        try:
            values = self.schema.for_create(name, attributes)
        except ValidationFailed as exc:
            errors.update(exc.fields)
        if errors:
            raise ValidationFailed(errors)
        group_id = self.default_group_id if group is None else await self._group_id(group)
        if await self.store.user_by_name(name) is not None:
            raise Conflict(f"a user named {name!r} already exists")
        now = self.clock()
        record = UserRecord(
            id=str(uuid.uuid4()),
            name=name,
            password_hash=await self.passwords.hash_new(
                password, client=client, user_inputs=_words(name, values)
            ),
            group_id=group_id,
            attributes=values,
            created_at=now,
            updated_at=now,
        )
        await self.store.insert_user(
            record,
            self._event(
                actor_name or name,  # a self-service sign-up acts as the new user
                "user.create",
                record,
                {"group_id": group_id, "attributes": sorted(values)},
            ),
        )
        return User.from_record(record)

    # -- proving who one is ---------------------------------------------------

    async def authenticate(self, name: str, password: str, *, client: str = "") -> User:
        """The user, or :class:`Unauthenticated` with one answer for every failure.

        An unknown name costs a full hash too, so timing tells nothing. A hash made
        with older parameters is replaced after a successful check. ``client`` (the
        client's address) takes its turn in the hashing pool and is named in the
        audit log when the check fails.
        """
        record = await self.store.user_by_name(name) if isinstance(name, str) else None
        try:
            ok, needs_rehash = await self.passwords.verify(
                record.password_hash if record else None,
                password if isinstance(password, str) else "",
                client=client,
            )
        except RateLimited:
            await self.events.record("hashing.refused", actor=client or "-", target="login")
            raise
        if record is None or not ok:
            await self.events.record(
                "login.failed",
                actor=client or "-",
                target=f"user:{name if isinstance(name, str) else '?'}"[:100],
                detail={"user_id": record.id} if record else {"unknown": True},
            )
            raise Unauthenticated("wrong name or password")
        if needs_rehash:
            try:
                updated = self._next(
                    record,
                    password_hash=await self.passwords.hash(
                        password, client=client, background=False
                    ),
                )
                await self._replace(updated, self._event(record.name, "user.rehash", record, {}))
                record = updated
            except Conflict:
                pass  # changed meanwhile; the next login rehashes
            except ValidationFailed:
                pass  # set before the current policy: kept as it is until changed
        return User.from_record(record)

    async def confirm(self, name: str, attribute: str, value: Any) -> bool:
        """Whether ``name``'s ``attribute`` equals ``value`` (identity confirmation),
        compared in constant time; ``False`` for unknown users and attributes.

        ``value`` goes through the attribute's validator first, as the stored value
        did: ``Alice@Example.ORG`` confirms the address stored as ``Alice@example.org``.
        """
        record = await self.store.user_by_name(name)
        stored = record.attributes.get(attribute) if record else None
        spec = self.schema.attributes.get(attribute)
        try:
            value = spec.check(value) if spec is not None else value
        except ValueError:
            value = _UNMATCHABLE
        expected = msgspec.json.encode(stored)
        given = msgspec.json.encode(value) if _is_json(value) else b"\x00"
        return hmac.compare_digest(expected, given) and record is not None and stored is not None

    # -- reading --------------------------------------------------------------

    async def get(self, name: str) -> User:
        return User.from_record(await self._record(name))

    async def get_by_id(self, user_id: str, *, cached: bool = False) -> User:
        """The user with this id. ``cached=True`` (for hello, on every connection) may
        answer from memory: changes made through this service show at once, changes
        made by another process within :attr:`CACHE_SECONDS`."""
        if cached:
            hit = self._by_id.get(user_id)
            if hit is not None and hit[1] > self.clock():
                return hit[0]
        record = await self.store.user_by_id(user_id)
        if record is None:
            self._by_id.pop(user_id, None)
            raise NotFound(f"no user with id {user_id}")
        return self._remember(User.from_record(record))

    def _remember(self, user: User) -> User:
        if len(self._by_id) >= 100_000:
            self._by_id.clear()
        self._by_id[user.id] = (user, self.clock() + self.CACHE_SECONDS)
        return user

    async def _replace(self, record: UserRecord, audit: AuditEvent | Sequence[AuditEvent]) -> None:
        await self.store.replace_user(record, audit)
        self._by_id.pop(record.id, None)

    @requires("admin.users")
    async def list(
        self,
        actor: Principal,
        *,
        search: str | None = None,
        group: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page[User]:
        limit = max(1, min(limit, 500))
        group_id = await self._group_id(group) if group else None
        page = await self.store.list_users(
            search=search, group_id=group_id, after=after, limit=limit
        )
        return Page([User.from_record(r) for r in page.items], page.next_cursor)

    # -- changing -------------------------------------------------------------

    @requires("admin.users")
    async def update(self, actor: Principal, name: str, changes: Mapping[str, Any]) -> User:
        return await self._update(actor, await self._record(name), changes)

    async def update_own(self, actor: Principal, changes: Mapping[str, Any]) -> User:
        return await self._update(actor, await self._own(actor), changes)

    async def _update(
        self, actor: Principal, record: UserRecord, changes: Mapping[str, Any]
    ) -> User:
        values = self.schema.for_update(record.attributes, changes)
        updated = self._next(record, attributes=values)
        await self._replace(
            updated, self._event(actor.name, "user.update", record, {"attributes": sorted(changes)})
        )
        return User.from_record(updated)

    @requires("admin.users")
    async def set_password(self, actor: Principal, name: str, password: str) -> None:
        """Set a password and sign the user out everywhere."""
        record = await self._record(name)
        await self._store_password(actor, record, password)

    async def change_password(
        self, actor: Principal, old: str, new: str, *, client: str = ""
    ) -> None:
        """A user changes their own password, proving the old one first."""
        record = await self._own(actor)
        ok, _ = await self.passwords.verify(record.password_hash, old, client=client)
        if not ok:
            await self.events.record(
                "login.failed",
                actor=client or actor.name,
                target=f"user:{record.name}",
                detail={"user_id": record.id, "while": "password change"},
            )
            raise Unauthenticated("wrong password")
        await self._store_password(actor, record, new, client)

    async def _store_password(
        self, actor: Principal, record: UserRecord, password: str, client: str = ""
    ) -> None:
        hashed = await self.passwords.hash_new(
            password, client=client, user_inputs=_words(record.name, record.attributes)
        )
        updated = self._next(record, password_hash=hashed)
        await self._replace(updated, self._event(actor.name, "user.passwd", record, {}))
        self.events.count("user.passwd")
        if self.tokens is not None:
            await self.tokens.revoke_user(record.id, actor=actor.name)

    @requires("admin.users")
    async def rename(self, actor: Principal, name: str, new_name: str) -> User:
        new_name = self._valid_name(new_name, "new_name")
        record = await self._record(name)
        updated = self._next(record, name=new_name)
        await self._replace(
            updated, self._event(actor.name, "user.rename", record, {"new_name": new_name})
        )
        return User.from_record(updated)

    @requires("admin.users")
    async def change(
        self,
        actor: Principal,
        name: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        group: str | None = None,
        new_name: str | None = None,
    ) -> User:
        """Change attributes, group and name (those given) in one write: all of them
        or, if any is refused, none. Each change is its own entry in the audit log,
        written in the same transaction."""
        record = await self._record(name)
        changes: dict[str, Any] = {}
        events: list[AuditEvent] = []
        if attributes is not None:
            changes["attributes"] = self.schema.for_update(record.attributes, attributes)
            events.append(
                self._event(actor.name, "user.update", record, {"attributes": sorted(attributes)})
            )
        if group is not None:
            changes["group_id"] = await self._group_id(group)
            events.append(
                self._event(actor.name, "user.group", record, {"group_id": changes["group_id"]})
            )
        if new_name is not None:
            changes["name"] = self._valid_name(new_name, "name")
            events.append(
                self._event(actor.name, "user.rename", record, {"new_name": changes["name"]})
            )
        if not changes:
            return User.from_record(record)
        updated = self._next(record, **changes)
        await self._replace(updated, events)
        return User.from_record(updated)

    @requires("admin.users")
    async def set_group(self, actor: Principal, name: str, group: str) -> User:
        record = await self._record(name)
        updated = self._next(record, group_id=await self._group_id(group))
        await self._replace(
            updated,
            self._event(actor.name, "user.group", record, {"group_id": updated.group_id}),
        )
        return User.from_record(updated)

    @requires("admin.groups")
    async def grant(self, actor: Principal, name: str, permission: str) -> User:
        """Give one user a permission beyond their group's (a per-user override)."""
        (permission,) = self.authorizer.permissions.check([permission])
        record = await self._record(name)
        updated = self._next(
            record, grants=record.grants | {permission}, denies=record.denies - {permission}
        )
        await self._replace(
            updated, self._event(actor.name, "user.grant", record, {"permission": permission})
        )
        return User.from_record(updated)

    @requires("admin.groups")
    async def revoke(self, actor: Principal, name: str, permission: str) -> User:
        """Take a permission from one user, even one their group holds."""
        (permission,) = self.authorizer.permissions.check([permission])
        record = await self._record(name)
        updated = self._next(
            record, grants=record.grants - {permission}, denies=record.denies | {permission}
        )
        await self._replace(
            updated, self._event(actor.name, "user.revoke", record, {"permission": permission})
        )
        return User.from_record(updated)

    @requires("admin.groups")
    async def reset_permissions(self, actor: Principal, name: str) -> User:
        """Drop a user's overrides: they have exactly their group's permissions again."""
        record = await self._record(name)
        updated = self._next(record, grants=frozenset(), denies=frozenset())
        await self._replace(updated, self._event(actor.name, "user.reset_permissions", record, {}))
        return User.from_record(updated)

    @requires("admin.users")
    async def delete(self, actor: Principal, name: str) -> None:
        record = await self._record(name)
        self._by_id.pop(record.id, None)
        if not await self.store.delete_user(
            record.id, self._event(actor.name, "user.delete", record, {})
        ):
            raise NotFound(f"no user named {name!r}")
        if self.tokens is not None:
            await self.tokens.revoke_user(record.id, actor=actor.name)

    # -- helpers --------------------------------------------------------------

    def _valid_name(self, name: object, what: str) -> str:
        """A name as :func:`validate_name` wants it, in the scripts ``name_scripts``
        allows. (Look-alikes of existing names are refused by the store.)"""
        name = validate_name(name, what)
        level = restriction(name)
        allowed = {"any": ("single", "highly_restrictive", "mixed")}.get(
            self.name_scripts,
            ("single",) if self.name_scripts == "single" else ("single", "highly_restrictive"),
        )
        if level not in allowed:
            scripts = ", ".join(script_names(name))
            raise ValidationFailed({what: f"mixes scripts ({scripts}): use one script"})
        return name

    async def _record(self, name: str) -> UserRecord:
        record = await self.store.user_by_name(name) if isinstance(name, str) else None
        if record is None:
            raise NotFound(f"no user named {name!r}")
        return record

    async def _own(self, actor: Principal) -> UserRecord:
        record = await self.store.user_by_id(actor.id)
        if record is None:
            raise NotFound("your account no longer exists")
        return record

    async def _group_id(self, group: str) -> str:
        found = await self.store.group_by_name(group)
        if found is None:
            raise NotFound(f"no group named {group!r}")
        return found.id

    def _next(self, record: UserRecord, **changes: Any) -> UserRecord:
        return replace(record, **changes, updated_at=self.clock(), version=record.version + 1)

    def _event(
        self, actor: str, action: str, record: UserRecord, detail: dict[str, Any]
    ) -> AuditEvent:
        return AuditEvent(
            actor=actor,
            action=action,
            target=f"user:{record.name}",
            at=self.clock(),
            detail={"user_id": record.id, **detail},
        )


def _words(name: str, attributes: Mapping[str, Any]) -> list[str]:
    """What a password should not be built from: the name and text attributes."""
    return [name, *(v for v in attributes.values() if isinstance(v, str))]


#: What a value its validator refuses compares as: no stored value encodes to it.
_UNMATCHABLE = object()


def _is_json(value: Any) -> bool:
    try:
        msgspec.json.encode(value)
    except (TypeError, msgspec.EncodeError):
        return False
    return True
