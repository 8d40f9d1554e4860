"""The REST routes of groups and permissions (administration). Each calls the
identity services, whose guards check the caller's permissions.
"""

from __future__ import annotations

from msgspec import UNSET

from homer.errors import Conflict, NotFound
from homer.identity.groups import UNCHANGED
from homer.transports.rest_types import (
    GroupChanges,
    GroupDeleted,
    GroupList,
    GroupMembersQuery,
    GroupView,
    NewGroup,
    PermissionList,
    UserPage,
    UserView,
)
from homer.transports.rest_users import group_view, unset, user_view
from homer.transports.routes import Route, RouteCall

__all__ = ["GROUP_ROUTES"]


async def list_groups(call: RouteCall) -> GroupList:
    """Every group, with its permissions (inherited ones included) and its size."""
    groups = await call.app.identity.groups.list()
    return GroupList([await group_view(call.app, group) for group in groups])


async def create_group(call: RouteCall) -> GroupView:
    """Create a group."""
    new: NewGroup = call.body
    group = await call.app.identity.groups.create(
        call.actor, new.name, new.permissions, parent=unset(new.parent)
    )
    return await group_view(call.app, group)


async def get_group(call: RouteCall) -> GroupView:
    """A group."""
    return await group_view(call.app, await call.app.identity.groups.get(call.path("name")))


async def update_group(call: RouteCall) -> GroupView:
    """Change a group's parent, permissions or name (an empty body changes nothing).
    Renaming the default group also needs ``identity.default_group`` changed in the
    configuration."""
    changes: GroupChanges = call.body
    group = await call.app.identity.groups.change(
        call.actor,
        call.path("name"),
        parent=UNCHANGED if changes.parent is UNSET else changes.parent,
        permissions=unset(changes.permissions),
        new_name=unset(changes.name),
    )
    return await group_view(call.app, group)


async def delete_group(call: RouteCall) -> GroupDeleted:
    """Delete a group: its members move to its parent, or to the default group;
    its child groups inherit from its parent. The default group stays."""
    name = call.path("name")
    moved = await call.app.identity.groups.delete(call.actor, name)
    return GroupDeleted(name, moved)


async def list_group_members(call: RouteCall) -> UserPage:
    """The group's users by name, a page at a time."""
    query: GroupMembersQuery = call.query
    page = await call.app.identity.accounts.list(
        call.actor, group=call.path("name"), after=unset(query.after), limit=query.limit
    )
    return UserPage([user_view(call.app, user) for user in page.items], page.next_cursor)


async def put_group_member(call: RouteCall) -> UserView:
    """Move a user to this group (a user is in exactly one group)."""
    accounts = call.app.identity.accounts
    user = await accounts.set_group(call.actor, call.path("user"), call.path("name"))
    return user_view(call.app, user)


async def delete_group_member(call: RouteCall) -> UserView:
    """Move a user out of this group, back to the default group."""
    identity = call.app.identity
    group = await identity.groups.get(call.path("name"))
    user = await identity.accounts.get(call.path("user"))
    if user.group_id != group.id:
        raise NotFound(f"{user.name} is not in group {group.name}")
    default = identity.groups.default_group
    if group.name == default:
        raise Conflict(f"{group.name!r} is the default group: move {user.name} to another one")
    user = await identity.accounts.set_group(call.actor, user.name, default)
    return user_view(call.app, user)


async def grant_group(call: RouteCall) -> GroupView:
    """Give the group a permission."""
    groups = call.app.identity.groups
    group = await groups.grant(call.actor, call.path("name"), call.path("permission"))
    return await group_view(call.app, group)


async def revoke_group(call: RouteCall) -> GroupView:
    """Take a permission from the group (its members may still inherit it from
    a parent group, or hold it as their own grant)."""
    groups = call.app.identity.groups
    group = await groups.revoke(call.actor, call.path("name"), call.path("permission"))
    return await group_view(call.app, group)


async def list_permissions(call: RouteCall) -> PermissionList:
    """The permission names that can be granted: Homer's and the application's."""
    return PermissionList(call.app.identity.authorizer.permissions.describe())


#: The administration of groups and permissions.
GROUP_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/api/groups",
        handler=list_groups,
        summary="Groups",
        tag="groups",
        answer=GroupList,
        permission="admin.groups",
    ),
    Route(
        method="POST",
        path="/api/groups",
        handler=create_group,
        summary="Create a group",
        tag="groups",
        answer=GroupView,
        status=201,
        body=NewGroup,
        errors=(404, 409),
        permission="admin.groups",
    ),
    Route(
        method="GET",
        path="/api/groups/{name}",
        handler=get_group,
        summary="A group",
        tag="groups",
        answer=GroupView,
        errors=(404,),
        permission="admin.groups",
    ),
    Route(
        method="PATCH",
        path="/api/groups/{name}",
        handler=update_group,
        summary="Change a group",
        tag="groups",
        answer=GroupView,
        body=GroupChanges,
        errors=(404, 409),
        permission="admin.groups",
    ),
    Route(
        method="DELETE",
        path="/api/groups/{name}",
        handler=delete_group,
        summary="Delete a group",
        tag="groups",
        answer=GroupDeleted,
        errors=(404, 409),
        permission="admin.groups",
    ),
    Route(
        method="GET",
        path="/api/groups/{name}/members",
        handler=list_group_members,
        summary="A group's users",
        tag="groups",
        answer=UserPage,
        query=GroupMembersQuery,
        errors=(404,),
        permission="admin.users",
    ),
    Route(
        method="PUT",
        path="/api/groups/{name}/members/{user}",
        handler=put_group_member,
        summary="Move a user to a group",
        tag="groups",
        answer=UserView,
        errors=(404,),
        permission="admin.users",
    ),
    Route(
        method="DELETE",
        path="/api/groups/{name}/members/{user}",
        handler=delete_group_member,
        summary="Move a user back to the default group",
        tag="groups",
        answer=UserView,
        errors=(404, 409),
        permission="admin.users",
    ),
    Route(
        method="PUT",
        path="/api/groups/{name}/permissions/{permission}",
        handler=grant_group,
        summary="Grant a group a permission",
        tag="groups",
        answer=GroupView,
        errors=(404,),
        permission="admin.groups",
    ),
    Route(
        method="DELETE",
        path="/api/groups/{name}/permissions/{permission}",
        handler=revoke_group,
        summary="Revoke a permission from a group",
        tag="groups",
        answer=GroupView,
        errors=(404,),
        permission="admin.groups",
    ),
    Route(
        method="GET",
        path="/api/permissions",
        handler=list_permissions,
        summary="Permission names",
        tag="groups",
        answer=PermissionList,
        permission="admin.groups",
    ),
)
