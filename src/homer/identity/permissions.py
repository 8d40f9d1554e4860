"""Permission names, who holds them, and the guard that enforces them.

A user's effective permissions are those of their group (and of the group's
ancestors: a group may inherit from a parent), plus the user's own grants,
minus the user's own denials. Per-user overrides replace the "personal group"
of the original design: same effect, no group per user to list and clean up
(docs/decisions/0003-permission-overrides.md).

``Authorizer.can`` answers from a cache keyed by user id and record version;
any change to a group clears it. It is the hot check of every operation.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ParamSpec, Protocol, TypeVar, runtime_checkable

from homer.errors import InvalidInput, NotAuthorized
from homer.store.records import GroupRecord

__all__ = [
    "BUILTIN_PERMISSIONS",
    "SYSTEM",
    "Actor",
    "Authorizer",
    "HasPermissions",
    "PermissionSet",
    "Principal",
    "protect",
    "requires",
]

#: Permissions Homer itself checks. Applications declare more of their own.
BUILTIN_PERMISSIONS: Mapping[str, str] = {
    "room.create": "create rooms",
    "room.post": "post in rooms one belongs to",
    "room.announce": "post in announce-only rooms",
    "room.moderate": "kick and ban members, change any room's topic",
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


def _check(args: tuple[Any, ...], index: int, permission: str, fn: Callable[..., Any]) -> None:
    if len(args) <= index:
        raise TypeError(f"{fn.__qualname__} is guarded: pass the acting principal first")
    actor = args[index]
    can = getattr(actor, "can", None)
    if can is None:
        raise TypeError(f"{fn.__qualname__} is guarded: {actor!r} is not a principal")
    if not can(permission):
        raise NotAuthorized(permission, getattr(actor, "name", ""))


def requires(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a function, coroutine function or method: the acting principal comes first
    (after ``self``); without ``permission`` the call raises :class:`NotAuthorized`
    before the body runs."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        index = _acting_index(fn)
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                _check(args, index, permission, fn)
                return await fn(*args, **kwargs)

            guarded_async.required_permission = permission  # type: ignore[attr-defined]
            return guarded_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            _check(args, index, permission, fn)
            return fn(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded

    return decorate


def protect(permission: str, fn: Callable[P, R]) -> Callable[P, R]:
    """The call form of :func:`requires`: ``protect("admin.users", delete_user)``."""
    return requires(permission)(fn)
