"""Permission names, who holds them, and the guard that enforces them.

A user's effective permissions are those of their group (and of the group's
ancestors: a group may inherit from a parent), plus the user's own grants,
minus the user's own denials. Per-user overrides replace the "personal group"
of the original design: same effect, no group per user to list and clean up
(docs/decisions/0003-permission-overrides.md).

``Authorizer.can`` answers from a cache keyed by user id and record version;
any change to a group clears it. It is the hot check of every operation.

A guarded call names who acts by a principal or by a user id. A method of an
object that can look ids up (``principal(user_id)``: the identity services)
takes an id directly; any guarded function can be called by name with an id
through :class:`Guarded` (``identity.guarded.NAME(user_id, ...)``), for which
``requires`` keeps a registry of the plain functions it guards.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, Protocol, TypeVar, runtime_checkable

from homer.errors import InvalidInput, NotAuthorized, NotFound
from homer.store.ports import AccountStore
from homer.store.records import GroupRecord

__all__ = [
    "BUILTIN_PERMISSIONS",
    "SYSTEM",
    "Actor",
    "Authorizer",
    "Guarded",
    "HasPermissions",
    "PermissionSet",
    "Principal",
    "actor_for",
    "protect",
    "requires",
]

#: Permissions Homer itself checks. Applications declare more of their own.
BUILTIN_PERMISSIONS: Mapping[str, str] = {
    "room.create": "create rooms",
    "room.post": "post in rooms one belongs to",
    "room.announce": "post in announce-only rooms",
    "room.moderate": "kick and ban members, change any room's topic, edit and redact"
    " others' messages",
    "room.mention_all": "mention everyone in a room with @room or @all",
    "broadcast.send": "send a message to every connected user",
    "admin.users": "create, change and delete users",
    "admin.groups": "create, change and delete groups; grant permissions",
    "admin.audit": "read the audit log",
    "admin.tokens": "issue and revoke tokens for other users",
}

_PERMISSION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class PermissionSet:
    """The permission names an application has declared; nothing else can be granted."""

    __slots__ = ("_descriptions",)

    def __init__(self, extra: Iterable[str] | Mapping[str, str] = ()) -> None:
        descriptions = dict(BUILTIN_PERMISSIONS)
        items = extra.items() if isinstance(extra, Mapping) else ((name, "") for name in extra)
        for name, description in items:
            if not _PERMISSION.fullmatch(name):
                raise InvalidInput(f"bad permission name {name!r}: use dotted lower-case words")
            descriptions.setdefault(name, description)
        self._descriptions = descriptions

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._descriptions)

    def describe(self) -> dict[str, str]:
        return dict(sorted(self._descriptions.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._descriptions

    def check(self, names: Iterable[str]) -> frozenset[str]:
        """Return ``names`` as a set, or raise naming every unknown one."""
        wanted = frozenset(names)
        unknown = sorted(wanted - self._descriptions.keys())
        if unknown:
            raise InvalidInput(f"unknown permission(s): {', '.join(unknown)}")
        return wanted


class HasPermissions(Protocol):
    """What the authorizer needs from a user record."""

    @property
    def id(self) -> str: ...
    @property
    def group_id(self) -> str: ...
    @property
    def grants(self) -> frozenset[str]: ...
    @property
    def denies(self) -> frozenset[str]: ...
    @property
    def version(self) -> int: ...


@runtime_checkable
class Principal(Protocol):
    """Whoever acts: guarded calls take one as their first argument."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    def can(self, permission: str) -> bool: ...


class Authorizer:
    """Answers ``can(user, permission)`` from an in-memory view of the groups."""

    __slots__ = ("_cache", "_group_sets", "_groups", "permissions")

    #: Past this many cached users the cache starts over; each entry is small.
    MAX_CACHED = 100_000

    def __init__(self, permissions: PermissionSet, groups: Iterable[GroupRecord] = ()) -> None:
        self.permissions = permissions
        self._groups: dict[str, GroupRecord] = {}
        self._group_sets: dict[str, frozenset[str]] = {}
        self._cache: dict[tuple[str, int], frozenset[str]] = {}
        self.load_groups(groups)

    def load_groups(self, groups: Iterable[GroupRecord]) -> None:
        """Replace the view of every group (at start-up, or after another node changed one)."""
        self._groups = {group.id: group for group in groups}
        self.invalidate()

    def group_changed(self, group: GroupRecord) -> None:
        self._groups[group.id] = group
        self.invalidate()

    def group_removed(self, group_id: str) -> None:
        """Forget a group; its children now inherit from its own parent (as stored)."""
        removed = self._groups.pop(group_id, None)
        parent_id = removed.parent_id if removed is not None else None
        for child in [g for g in self._groups.values() if g.parent_id == group_id]:
            self._groups[child.id] = replace(child, parent_id=parent_id)
        self.invalidate()

    def invalidate(self) -> None:
        self._group_sets.clear()
        self._cache.clear()

    def group(self, group_id: str) -> GroupRecord | None:
        return self._groups.get(group_id)

    def group_permissions(self, group_id: str) -> frozenset[str]:
        """A group's permissions with everything it inherits."""
        found = self._group_sets.get(group_id)
        if found is None:
            collected: set[str] = set()
            seen: set[str] = set()
            current = self._groups.get(group_id)
            while current is not None and current.id not in seen:
                seen.add(current.id)
                collected |= current.permissions
                current = self._groups.get(current.parent_id) if current.parent_id else None
            found = self._group_sets[group_id] = frozenset(collected)
        return found

    def effective(self, user: HasPermissions) -> frozenset[str]:
        key = (user.id, user.version)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            found = self.group_permissions(user.group_id)
            if user.grants or user.denies:  # most users share their group's set
                found = (found | user.grants) - user.denies
            self._cache[key] = found
        return found

    def can(self, user: HasPermissions, permission: str) -> bool:
        found = self._cache.get((user.id, user.version))
        if found is None:
            found = self.effective(user)
        if permission in found:
            return True
        if permission not in self.permissions:
            # A typo in a guard must not read as "denied" forever.
            raise InvalidInput(f"unknown permission {permission!r}")
        return False


@dataclass(frozen=True, slots=True)
class Actor:
    """A user acting through Homer: a principal whose permissions come from the authorizer."""

    user: HasPermissions
    authorizer: Authorizer
    name: str

    @property
    def id(self) -> str:
        return self.user.id

    def can(self, permission: str) -> bool:
        return self.authorizer.can(self.user, permission)


async def actor_for(store: AccountStore, authorizer: Authorizer, user_id: str) -> Actor:
    """The principal for the stored user ``user_id``; :class:`NotFound` if there is none."""
    record = await store.user_by_id(user_id) if isinstance(user_id, str) else None
    if record is None:
        raise NotFound(f"no user with id {user_id!r}")
    return Actor(record, authorizer, record.name)


class _System:
    """Homer itself and its admin CLI: every permission, named ``system`` in the audit log."""

    __slots__ = ()
    id = "system"
    name = "system"

    def can(self, permission: str) -> bool:
        return True

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Principal = _System()

P = ParamSpec("P")
R = TypeVar("R")


def _acting_index(fn: Callable[..., Any]) -> int:
    """Where the acting principal sits: after ``self``/``cls`` on a method, first otherwise."""
    try:
        parameters = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return 0
    return 1 if parameters and parameters[0] in ("self", "cls") else 0


#: Plain functions guarded with :func:`requires`, by name, for :class:`Guarded`.
#: The last one guarded under a name wins, as a redefined function would.
_REGISTRY: dict[str, Callable[..., Any]] = {}

Resolve = Callable[[str], Awaitable[Principal]]


def _check(actor: Any, permission: str, fn: Callable[..., Any]) -> None:
    can = getattr(actor, "can", None)
    if can is None:
        raise TypeError(f"{fn.__qualname__} is guarded: {actor!r} is not a principal")
    if not can(permission):
        raise NotAuthorized(permission, getattr(actor, "name", ""))


def _acting(args: tuple[Any, ...], index: int, fn: Callable[..., Any]) -> Any:
    if len(args) <= index:
        raise TypeError(f"{fn.__qualname__} is guarded: pass the acting principal first")
    return args[index]


def _id_refused(fn: Callable[..., Any]) -> TypeError:
    return TypeError(
        f"{fn.__qualname__} is guarded and cannot look a user id up itself: pass a"
        f" principal, or call identity.guarded.{fn.__name__}(user_id, ...)"
    )


def requires(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a function, coroutine function or method: the acting principal comes first
    (after ``self``); without ``permission`` the call raises :class:`NotAuthorized`
    before the body runs.

    A coroutine method whose object has ``principal(user_id)`` also takes a user
    id there. Plain functions are registered by name for :class:`Guarded`.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        index = _acting_index(fn)
        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                actor = _acting(args, index, fn)
                if isinstance(actor, str):
                    resolve = getattr(args[0], "principal", None) if index else None
                    if resolve is None:
                        raise _id_refused(fn)
                    actor = await resolve(actor)
                    args = (*args[:index], actor, *args[index + 1 :])  # type: ignore[assignment]
                _check(actor, permission, fn)
                return await fn(*args, **kwargs)

            guarded_async.required_permission = permission  # type: ignore[attr-defined]
            wrapper = guarded_async
        else:

            @functools.wraps(fn)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                actor = _acting(args, index, fn)
                if isinstance(actor, str):
                    raise _id_refused(fn)
                _check(actor, permission, fn)
                return fn(*args, **kwargs)

            guarded.required_permission = permission  # type: ignore[attr-defined]
            wrapper = guarded
        name = getattr(fn, "__name__", "")
        if index == 0 and name.isidentifier():
            _REGISTRY[name] = wrapper
        return wrapper  # type: ignore[return-value]

    return decorate


class Guarded:
    """Every plain function guarded with :func:`requires`, by name, called with the
    acting user's id (or a principal) first: ``await identity.guarded.NAME(user_id, ...)``.

    The id is looked up at each call, so the user's current permissions apply.
    Methods are not here: call them on their object, which knows its ``self``.
    """

    __slots__ = ("_resolve",)

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        fn = _REGISTRY.get(name)
        if fn is None:
            raise AttributeError(f"no function named {name!r} is guarded with requires")
        resolve = self._resolve

        async def call(who: Principal | str, /, *args: Any, **kwargs: Any) -> Any:
            actor = await resolve(who) if isinstance(who, str) else who
            result = fn(actor, *args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return call

    def __dir__(self) -> list[str]:
        return sorted(_REGISTRY)


def protect(permission: str, fn: Callable[P, R]) -> Callable[P, R]:
    """The call form of :func:`requires`: ``protect("admin.users", delete_user)``."""
    return requires(permission)(fn)
