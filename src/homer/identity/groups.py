"""Groups: named permission sets, optionally inheriting from a parent group.

Deleting a group never leaves anyone without one: its members move to its
*heir*, which is its parent if it has one and the default group otherwise;
its child groups then inherit from its parent (or from nothing). The default
group itself cannot be deleted (choose another default first).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from homer.clock import Clock, system_clock
from homer.errors import Conflict, InvalidInput, NotFound
from homer.identity.permissions import Authorizer, Principal, actor_for, requires
from homer.identity.schema import validate_name
from homer.store.ports import Store
from homer.store.records import AuditEvent, GroupRecord

__all__ = ["Group", "GroupService"]


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The default of an argument that may be ``None``: left as it is."""


UNCHANGED = Unchanged()


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    name: str
    permissions: frozenset[str]
    #: Everything the group grants: its own permissions and its ancestors'.
    effective: frozenset[str]
    parent: str | None


class GroupService:
    def __init__(
        self,
        store: Store,
        authorizer: Authorizer,
        *,
        default_group: str,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.authorizer = authorizer
        self.default_group = default_group
        self.clock = clock

    async def principal(self, user_id: str) -> Principal:
        """Who acts when a guarded method is given a user id instead of a principal."""
        return await actor_for(self.store, self.authorizer, user_id)

    async def ensure(
        self, name: str, permissions: Iterable[str], *, parent: str | None = None
    ) -> GroupRecord:
        """Create ``name`` unless it exists (start-up; an existing group is left as it is)."""
        found = await self.store.group_by_name(name)
        if found is not None:
            return found
        parent_id = (await self._record(parent)).id if parent else None
        try:
            return await self._insert(
                "system", validate_name(name, "group"), self._known(permissions), parent_id
            )
        except Conflict:  # created by another process meanwhile
            found = await self.store.group_by_name(name)
            if found is None:
                raise
            return found

    async def reload(self) -> None:
        """Refresh the authorizer's view from the store."""
        self.authorizer.load_groups(await self.store.all_groups())

    async def get(self, name: str) -> Group:
        return self._view(await self._record(name))

    async def list(self) -> list[Group]:
        return [self._view(g) for g in await self.store.all_groups()]

    @requires("admin.groups")
    async def create(
        self,
        actor: Principal,
        name: str,
        permissions: Iterable[str] = (),
        *,
        parent: str | None = None,
    ) -> Group:
        name = validate_name(name, "group")
        perms = self._known(permissions)
        parent_id = (await self._record(parent)).id if parent else None
        return self._view(await self._insert(actor.name, name, perms, parent_id))

    @requires("admin.groups")
    async def rename(self, actor: Principal, name: str, new_name: str) -> Group:
        new_name = validate_name(new_name, "new_name")
        record = await self._record(name)
        updated = await self._replace(
            actor, record, "group.rename", {"new_name": new_name}, name=new_name
        )
        if record.name == self.default_group:
            self.default_group = new_name
        return self._view(updated)

    @requires("admin.groups")
    async def grant(self, actor: Principal, name: str, *permissions: str) -> Group:
        record = await self._record(name)
        added = self._known(permissions)
        return self._view(
            await self._replace(
                actor,
                record,
                "group.grant",
                {"permissions": sorted(added)},
                permissions=record.permissions | added,
            )
        )

    @requires("admin.groups")
    async def revoke(self, actor: Principal, name: str, *permissions: str) -> Group:
        record = await self._record(name)
        removed = self._known(permissions)
        return self._view(
            await self._replace(
                actor,
                record,
                "group.revoke",
                {"permissions": sorted(removed)},
                permissions=record.permissions - removed,
            )
        )

    @requires("admin.groups")
    async def set_permissions(
        self, actor: Principal, name: str, permissions: Iterable[str]
    ) -> Group:
        record = await self._record(name)
        wanted = self._known(permissions)
        return self._view(
            await self._replace(
                actor, record, "group.set", {"permissions": sorted(wanted)}, permissions=wanted
            )
        )

    @requires("admin.groups")
    async def set_parent(self, actor: Principal, name: str, parent: str | None) -> Group:
        record = await self._record(name)
        parent_id = (await self._record(parent)).id if parent else None
        ancestor = parent_id
        while ancestor is not None:
            if ancestor == record.id:
                raise Conflict(f"{parent!r} inherits from {name!r}: that would be a cycle")
            found = self.authorizer.group(ancestor)
            ancestor = found.parent_id if found else None
        return self._view(
            await self._replace(
                actor, record, "group.parent", {"parent": parent}, parent_id=parent_id
            )
        )

    @requires("admin.groups")
    async def change(
        self,
        actor: Principal,
        name: str,
        *,
        parent: str | Unchanged | None = UNCHANGED,
        permissions: Iterable[str] | None = None,
        new_name: str | None = None,
    ) -> Group:
        """Change parent (``None``: none), permissions (the whole new set) and name
        (those given), in that order. Every change is checked before any is made."""
        group = await self.get(name)
        wanted = self._known(permissions) if permissions is not None else None
        if new_name is not None:
            validate_name(new_name, "name")
            taken = await self.store.group_by_name(new_name)
            if taken is not None and taken.id != group.id:
                raise Conflict(f"a group named {new_name!r} already exists")
        if not isinstance(parent, Unchanged):
            group = await self.set_parent(actor, group.name, parent)
        if wanted is not None:
            group = await self.set_permissions(actor, group.name, wanted)
        if new_name is not None:
            group = await self.rename(actor, group.name, new_name)
        return group

    async def size(self, group: Group) -> int:
        """How many users are in ``group``."""
        return await self.store.count_members(group.id)

    @requires("admin.groups")
    async def delete(self, actor: Principal, name: str) -> int:
        """Delete a group; returns how many members moved to its heir."""
        record = await self._record(name)
        if record.name == self.default_group:
            raise Conflict(f"{name!r} is the default group for new users and cannot be deleted")
        heir_id = record.parent_id or (await self._record(self.default_group)).id
        moved = await self.store.delete_group(
            record.id,
            heir_id=heir_id,
            audit=self._event(actor.name, "group.delete", record, {"heir_id": heir_id}),
        )
        self.authorizer.group_removed(record.id)
        return moved

    # -- helpers --------------------------------------------------------------

    def _known(self, permissions: Iterable[str]) -> frozenset[str]:
        if isinstance(permissions, str):
            raise InvalidInput("permissions must be a list of names, not one string")
        return self.authorizer.permissions.check(permissions)

    async def _insert(
        self, actor: str, name: str, permissions: frozenset[str], parent_id: str | None
    ) -> GroupRecord:
        now = self.clock()
        record = GroupRecord(
            id=str(uuid.uuid4()),
            name=name,
            permissions=permissions,
            parent_id=parent_id,
            created_at=now,
            updated_at=now,
        )
        await self.store.insert_group(
            record,
            self._event(
                actor,
                "group.create",
                record,
                {"permissions": sorted(permissions), "parent_id": parent_id},
            ),
        )
        self.authorizer.group_changed(record)
        return record

    async def _replace(
        self,
        actor: Principal,
        record: GroupRecord,
        action: str,
        detail: dict[str, Any],
        **changes: Any,
    ) -> GroupRecord:
        updated = replace(record, **changes, updated_at=self.clock(), version=record.version + 1)
        await self.store.replace_group(updated, self._event(actor.name, action, record, detail))
        self.authorizer.group_changed(updated)
        return updated

    async def _record(self, name: str) -> GroupRecord:
        found = await self.store.group_by_name(name) if isinstance(name, str) else None
        if found is None:
            raise NotFound(f"no group named {name!r}")
        return found

    def _view(self, record: GroupRecord) -> Group:
        parent = self.authorizer.group(record.parent_id) if record.parent_id else None
        return Group(
            id=record.id,
            name=record.name,
            permissions=record.permissions,
            effective=self.authorizer.group_permissions(record.id),
            parent=parent.name if parent else None,
        )

    def _event(
        self, actor: str, action: str, record: GroupRecord, detail: dict[str, Any]
    ) -> AuditEvent:
        return AuditEvent(
            actor=actor,
            action=action,
            target=f"group:{record.name}",
            at=self.clock(),
            detail={"group_id": record.id, **detail},
        )
