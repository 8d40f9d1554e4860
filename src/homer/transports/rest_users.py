"""The REST routes of accounts: the caller's own account, and the
administration of users, their tokens and the audit log. Each calls the
identity services, whose guards check the caller's permissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msgspec import UNSET

from homer.errors import RateLimited
from homer.identity.accounts import User
from homer.identity.groups import Group
from homer.store.records import name_key
from homer.transports.rest_types import (
    AttributeChanges,
    AuditEntryView,
    AuditPage,
    AuditQuery,
    GroupView,
    IssuedToken,
    NewPassword,
    NewUser,
    PasswordChange,
    TokenOptions,
    UserChanges,
    UserPage,
    UsersQuery,
    UserView,
)
from homer.transports.routes import Route, RouteCall

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["USER_ROUTES", "group_view", "unset", "user_view"]


def unset(value: Any) -> Any:
    """``None`` for a field left out of a body or a query."""
    return None if value is UNSET else value


def user_view(app: Homer, user: User) -> UserView:
    authorizer = app.identity.authorizer
    group = authorizer.group(user.group_id)
    return UserView(
        id=user.id,
        name=user.name,
        group=group.name if group is not None else user.group_id,
        attributes=dict(user.attributes),
        grants=sorted(user.grants),
        denies=sorted(user.denies),
        permissions=sorted(authorizer.effective(user)),
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def group_view(app: Homer, group: Group) -> GroupView:
    return GroupView(
        id=group.id,
        name=group.name,
        parent=group.parent,
        default=group.name == app.identity.groups.default_group,
        permissions=sorted(group.permissions),
        effective=sorted(group.effective),
        members=await app.identity.groups.size(group),
    )


# -- my account -------------------------------------------------------------------


async def get_me(call: RouteCall) -> UserView:
    """The caller's account, with their effective permissions."""
    return user_view(call.app, await call.app.identity.accounts.get_by_id(call.user.id))


async def update_me(call: RouteCall) -> UserView:
    """Change attributes of the caller's account, as the user schema allows."""
    changes: AttributeChanges = call.body
    return user_view(
        call.app, await call.app.identity.accounts.update_own(call.actor, changes.attributes)
    )


async def change_my_password(call: RouteCall) -> None:
    """Change the caller's password, proving the current one. Every token of the
    caller is revoked, this one included: log in again. Attempts count against
    the login limits (``limits.logins_per_account`` for the account and address)."""
    app = call.app
    address = call.request.remote or "unknown"
    wait, _ = app.logins.take(name_key(call.user.name), address, app.clock())
    if wait:
        raise RateLimited("too many password attempts: wait and try again", wait)
    change: PasswordChange = call.body
    await app.identity.accounts.change_password(call.actor, change.old, change.new, client=address)


# -- users ------------------------------------------------------------------------


async def list_users(call: RouteCall) -> UserPage:
    """Users by name, a page at a time."""
    query: UsersQuery = call.query
    page = await call.app.identity.accounts.list(
        call.actor,
        search=unset(query.search),
        group=unset(query.group),
        after=unset(query.after),
        limit=query.limit,
    )
    return UserPage([user_view(call.app, user) for user in page.items], page.next_cursor)


async def create_user(call: RouteCall) -> UserView:
    """Create an account. Every invalid field is reported at once, in ``fields``."""
    new: NewUser = call.body
    user = await call.app.identity.accounts.create(
        call.actor, new.name, new.password, new.attributes, group=unset(new.group)
    )
    return user_view(call.app, user)


async def get_user(call: RouteCall) -> UserView:
    """An account, with its effective permissions."""
    return user_view(call.app, await call.app.identity.accounts.get(call.path("name")))


async def update_user(call: RouteCall) -> UserView:
    """Change an account's attributes, group or name. Each change is checked before
    any is made; each is its own entry in the audit log. An empty body changes nothing."""
    changes: UserChanges = call.body
    user = await call.app.identity.accounts.change(
        call.actor,
        call.path("name"),
        attributes=unset(changes.attributes),
        group=unset(changes.group),
        new_name=unset(changes.name),
    )
    return user_view(call.app, user)


async def delete_user(call: RouteCall) -> None:
    """Delete an account and revoke its tokens; the audit log keeps its trace and
    its messages stay in history."""
    await call.app.identity.accounts.delete(call.actor, call.path("name"))


async def set_password(call: RouteCall) -> None:
    """Set an account's password; every token of the user is revoked."""
    new: NewPassword = call.body
    await call.app.identity.accounts.set_password(call.actor, call.path("name"), new.password)


async def grant_user(call: RouteCall) -> UserView:
    """Give one user a permission beyond their group's."""
    accounts = call.app.identity.accounts
    user = await accounts.grant(call.actor, call.path("name"), call.path("permission"))
    return user_view(call.app, user)


async def deny_user(call: RouteCall) -> UserView:
    """Take a permission from one user, even one their group holds."""
    accounts = call.app.identity.accounts
    user = await accounts.revoke(call.actor, call.path("name"), call.path("permission"))
    return user_view(call.app, user)


async def reset_user(call: RouteCall) -> UserView:
    """Drop a user's own grants and denials: they have their group's permissions again."""
    accounts = call.app.identity.accounts
    return user_view(call.app, await accounts.reset_permissions(call.actor, call.path("name")))


async def issue_token(call: RouteCall) -> IssuedToken:
    """A token for a user, to act as them."""
    identity = call.app.identity
    options: TokenOptions = call.body
    user = await identity.accounts.get(call.path("name"))
    if options.ttl is UNSET:
        token = identity.tokens.issue(user.token_info())
    else:
        token = identity.tokens.issue(user.token_info(), ttl=options.ttl or None)
    claims = identity.tokens.check(token) or {}
    return IssuedToken(token, claims.get("exp"))


async def revoke_tokens(call: RouteCall) -> None:
    """Revoke every token the user holds now; their open connections close within
    a few seconds."""
    identity = call.app.identity
    user = await identity.accounts.get(call.path("name"))
    await identity.tokens.revoke_user(user.id, actor=call.user.name)


async def audit_log(call: RouteCall) -> AuditPage:
    """The audit log of changes to users, groups, permissions and tokens, newest first."""
    query: AuditQuery = call.query
    page = await call.app.identity.audit.entries(
        call.actor,
        before=unset(query.before),
        limit=query.limit,
        by=unset(query.actor),
        target=unset(query.target),
    )
    entries = [
        AuditEntryView(e.id, e.at, e.actor, e.action, e.target, dict(e.detail)) for e in page.items
    ]
    return AuditPage(entries, page.next_cursor)


#: The caller's own account and the administration of users.
USER_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/api/me",
        handler=get_me,
        summary="My account",
        tag="account",
        answer=UserView,
    ),
    Route(
        method="PATCH",
        path="/api/me",
        handler=update_me,
        summary="Change my attributes",
        tag="account",
        answer=UserView,
        body=AttributeChanges,
    ),
    Route(
        method="POST",
        path="/api/me/password",
        handler=change_my_password,
        summary="Change my password",
        tag="account",
        status=204,
        body=PasswordChange,
    ),
    Route(
        method="GET",
        path="/api/users",
        handler=list_users,
        summary="Users",
        tag="users",
        answer=UserPage,
        query=UsersQuery,
        errors=(404,),
        permission="admin.users",
    ),
    Route(
        method="POST",
        path="/api/users",
        handler=create_user,
        summary="Create a user",
        tag="users",
        answer=UserView,
        status=201,
        body=NewUser,
        errors=(404, 409),
        permission="admin.users",
    ),
    Route(
        method="GET",
        path="/api/users/{name}",
        handler=get_user,
        summary="A user",
        tag="users",
        answer=UserView,
        errors=(404,),
        permission="admin.users",
    ),
    Route(
        method="PATCH",
        path="/api/users/{name}",
        handler=update_user,
        summary="Change a user",
        tag="users",
        answer=UserView,
        body=UserChanges,
        errors=(404, 409),
        permission="admin.users",
    ),
    Route(
        method="DELETE",
        path="/api/users/{name}",
        handler=delete_user,
        summary="Delete a user",
        tag="users",
        status=204,
        errors=(404,),
        permission="admin.users",
    ),
    Route(
        method="PUT",
        path="/api/users/{name}/password",
        handler=set_password,
        summary="Set a user's password",
        tag="users",
        status=204,
        body=NewPassword,
        errors=(404,),
        permission="admin.users",
    ),
    Route(
        method="DELETE",
        path="/api/users/{name}/permissions",
        handler=reset_user,
        summary="Reset a user's permissions to their group's",
        tag="users",
        answer=UserView,
        errors=(404,),
        permission="admin.groups",
    ),
    Route(
        method="PUT",
        path="/api/users/{name}/permissions/{permission}",
        handler=grant_user,
        summary="Grant a user a permission",
        tag="users",
        answer=UserView,
        errors=(404,),
        permission="admin.groups",
    ),
    Route(
        method="DELETE",
        path="/api/users/{name}/permissions/{permission}",
        handler=deny_user,
        summary="Deny a user a permission",
        tag="users",
        answer=UserView,
        errors=(404,),
        permission="admin.groups",
    ),
    Route(
        method="POST",
        path="/api/users/{name}/tokens",
        handler=issue_token,
        summary="Issue a token for a user",
        tag="users",
        answer=IssuedToken,
        status=201,
        body=TokenOptions,
        errors=(404,),
        permission="admin.tokens",
    ),
    Route(
        method="DELETE",
        path="/api/users/{name}/tokens",
        handler=revoke_tokens,
        summary="Revoke a user's tokens",
        tag="users",
        status=204,
        errors=(404,),
        permission="admin.tokens",
    ),
    Route(
        method="GET",
        path="/api/audit",
        handler=audit_log,
        summary="The audit log",
        tag="users",
        answer=AuditPage,
        query=AuditQuery,
        permission="admin.audit",
    ),
)
