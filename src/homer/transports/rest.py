"""Resource-shaped JSON routes: rooms, members, history, read markers, one's own
account, and the administration of users and groups.

Thin over the code the other transports run. What an operation already does
runs through :func:`~homer.transports.http_ops.run_op`, so REST, WebSocket and
``POST /api/ops/{op}`` apply the same checks, hooks and limits and give the
same answers; one's account and the admin routes call the identity services,
whose guards check the caller's permissions.

Every route is declared once, in :data:`ENDPOINTS`, with the msgspec types of
its query, body and answer: the same types parse the request here and
describe it in the OpenAPI document (:mod:`homer.transports.openapi`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from homer.core.ops import Create, Direct
from homer.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthorized,
    NotFound,
    RateLimited,
)
from homer.identity.accounts import User
from homer.identity.groups import Group
from homer.identity.permissions import Actor
from homer.identity.schema import validate_name
from homer.messaging.rooms import room_info
from homer.protocol.envelope import Envelope
from homer.store.records import name_key
from homer.transports.http import APP_KEY, bearer_user, json_response, read_body
from homer.transports.http_ops import run_op

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["ENDPOINTS", "OP_REPLIES", "Endpoint", "add_rest_routes"]

#: What a sequence number, a read marker or an audit id can be: a signed 64-bit integer.
Seq = Annotated[int, Meta(ge=0, le=2**63 - 1)]
#: A time: seconds since the Unix epoch.
Time = Annotated[float, Meta(ge=0)]


def about(description: str) -> Meta:
    """The description of a field, in the OpenAPI document."""
    return Meta(description=description)


#: Where a listing continues: the ``next`` of the page before.
PageAfter = Annotated[str, about("The `next` of the previous page.")]
#: A new password.
Password = Annotated[str, about("8 to 1024 characters.")]


# -- answers ----------------------------------------------------------------------


class RoomInfo(msgspec.Struct, forbid_unknown_fields=True):
    """A room. ``role`` and ``read`` describe the caller's membership and are there
    when the caller is in the room; ``unread`` too where the answer counts it."""

    id: str
    kind: Literal["public", "private", "announce", "dm"]
    name: str
    topic: str
    meta: dict[str, Any]
    epoch: Annotated[int, about("Changes when the history is purged.")]
    last_seq: Annotated[int, about("The last sequence number given out in the room (0: none yet).")]
    role: Literal["owner", "member"] | UnsetType = UNSET
    read: Annotated[int, about("The caller's read marker.")] | UnsetType = UNSET
    unread: int | UnsetType = UNSET


class RoomList(msgspec.Struct, forbid_unknown_fields=True):
    """The caller's rooms."""

    rooms: list[RoomInfo]


class DirectoryPage(msgspec.Struct, forbid_unknown_fields=True):
    """Public and announce rooms by id; ``next`` is the ``after`` of the next page."""

    rooms: list[RoomInfo]
    next: str | None


class Member(msgspec.Struct, forbid_unknown_fields=True):
    """A member of a room, with their presence."""

    uid: str
    name: Annotated[str | None, about("`null` for an account deleted since.")]
    role: Literal["owner", "member"]
    joined_at: float
    status: Literal["online", "away", "offline"]


class MemberPage(msgspec.Struct, forbid_unknown_fields=True):
    """Members by user id; ``next`` is the ``after`` of the next page."""

    room: str
    members: list[Member]
    next: str | None


class MembershipChange(msgspec.Struct, forbid_unknown_fields=True):
    """A membership change: who, in which room."""

    room: str
    user: str


class HistoryPage(msgspec.Struct, forbid_unknown_fields=True):
    """A page of history; ``more`` says whether the same query finds more past it."""

    room: str
    epoch: int
    last_seq: int
    messages: list[Envelope]
    more: bool


class Purged(msgspec.Struct, forbid_unknown_fields=True):
    """A room's history after a purge: a new epoch."""

    room: str
    epoch: int
    last_seq: int


class ReadMarker(msgspec.Struct, forbid_unknown_fields=True):
    """The caller's read marker in a room and what is left unread."""

    room: str
    read: int
    unread: int


class Ack(msgspec.Struct, forbid_unknown_fields=True):
    """A stored message; a resend with the same ``cid`` gets the first ack again."""

    room: str
    seq: int
    id: str
    cid: str
    ts: float
    duplicate: bool


class UserView(msgspec.Struct, forbid_unknown_fields=True):
    """A user account: never its password."""

    id: str
    name: str
    group: Annotated[str, about("The user's group.")]
    attributes: dict[str, Any]
    grants: Annotated[list[str], about("Permissions given to this user beyond their group's.")]
    denies: Annotated[
        list[str],
        about("Permissions taken from this user even if their group has them."),
    ]
    permissions: Annotated[
        list[str],
        Meta(
            description="What the user may do: their group's permissions (inherited ones"
            " included), plus `grants`, minus `denies`."
        ),
    ]
    created_at: float
    updated_at: float


class UserPage(msgspec.Struct, forbid_unknown_fields=True):
    """Users by name; ``next`` is the ``after`` of the next page."""

    users: list[UserView]
    next: str | None


class IssuedToken(msgspec.Struct, forbid_unknown_fields=True):
    """A token; ``expires_at`` is ``null`` for one that never expires."""

    token: str
    expires_at: float | None


class GroupView(msgspec.Struct, forbid_unknown_fields=True):
    """A group: a named set of permissions, maybe inheriting a parent's."""

    id: str
    name: str
    parent: str | None
    default: Annotated[bool, about("Whether new users join this group.")]
    permissions: Annotated[list[str], about("The group's own permissions.")]
    effective: Annotated[list[str], about("Its own and its ancestors' permissions.")]
    members: Annotated[int, about("How many users are in it.")]


class GroupList(msgspec.Struct, forbid_unknown_fields=True):
    """Every group."""

    groups: list[GroupView]


class GroupDeleted(msgspec.Struct, forbid_unknown_fields=True):
    """A deleted group and how many members moved to its parent or the default group."""

    group: str
    moved: int


class PermissionList(msgspec.Struct, forbid_unknown_fields=True):
    """Every permission name that can be granted, with what it allows."""

    permissions: dict[str, str]


class AuditEntryView(msgspec.Struct, forbid_unknown_fields=True):
    """A change to a user, a group, a permission or a token."""

    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditPage(msgspec.Struct, forbid_unknown_fields=True):
    """Audit entries, newest first; ``next`` is the ``before`` of the next page."""

    entries: list[AuditEntryView]
    next: str | None


#: The reply of each built-in operation that a REST route answers with as it is.
OP_REPLIES: dict[str, Any] = {
    "rooms": RoomList,
    "create": RoomInfo,
    "directory": DirectoryPage,
    "members": MemberPage,
    "topic": RoomInfo,
    "join": RoomInfo,
    "invite": MembershipChange,
    "kick": MembershipChange,
    "ban": MembershipChange,
    "unban": MembershipChange,
    "dm": RoomInfo,
    "send": Ack,
    "history": HistoryPage,
    "purge": Purged,
    "read": ReadMarker,
}


# -- queries ----------------------------------------------------------------------


class DirectoryQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=200)] = 50


class MembersQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] = 100


class HistoryQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: (
        Annotated[Seq, about("Messages after this sequence number, oldest first.")] | UnsetType
    ) = UNSET
    before: Annotated[Seq, about("Messages before this sequence number.")] | UnsetType = UNSET
    since: Annotated[Time, about("Messages at or after this time.")] | UnsetType = UNSET
    until: (
        Annotated[Time, about("Messages before this time; alone, the newest of them.")] | UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1), about("At most this many (`limits.history_limit`).")] = 50


class UsersQuery(msgspec.Struct, forbid_unknown_fields=True):
    search: Annotated[str, about("Only names containing this text.")] | UnsetType = UNSET
    group: Annotated[str, about("Only members of this group.")] | UnsetType = UNSET
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] = 50


class GroupMembersQuery(msgspec.Struct, forbid_unknown_fields=True):
    after: PageAfter | UnsetType = UNSET
    limit: Annotated[int, Meta(ge=1, le=500)] = 50


class AuditQuery(msgspec.Struct, forbid_unknown_fields=True):
    before: Annotated[Seq, about("Only entries older than this id: the `next` of a page.")] | (
        UnsetType
    ) = UNSET
    limit: Annotated[int, Meta(ge=1, le=1000)] = 50
    actor: Annotated[str, about("Only changes made by this user (or `system`).")] | UnsetType = (
        UNSET
    )
    target: Annotated[str, about("Only changes to this (`user:NAME`, `group:NAME`).")] | (
        UnsetType
    ) = UNSET


# -- bodies -----------------------------------------------------------------------


class RoomChanges(msgspec.Struct, forbid_unknown_fields=True):
    """A new topic, new metadata, or both."""

    topic: str | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = UNSET


class ReadPosition(msgspec.Struct, forbid_unknown_fields=True):
    """Everything up to ``seq`` is read (a marker never moves back)."""

    seq: Seq


class AttributeChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Attributes to set; ``null`` removes an optional one."""

    attributes: dict[str, Any]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """The current password, to prove it, and the new one."""

    old: str
    new: Password


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    """An account to create, in the default group unless ``group`` names another."""

    name: str
    password: Password
    attributes: dict[str, Any] = {}
    group: str | UnsetType = UNSET


class UserChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to an account, applied in this order: attributes (``null`` removes
    an optional one), group, then name."""

    attributes: dict[str, Any] | UnsetType = UNSET
    group: str | UnsetType = UNSET
    name: str | UnsetType = UNSET


class NewPassword(msgspec.Struct, forbid_unknown_fields=True):
    """A password to set."""

    password: Password


class TokenOptions(msgspec.Struct, forbid_unknown_fields=True):
    """The token's lifetime in seconds (0: it never expires); ``tokens.ttl`` without it."""

    ttl: Time | UnsetType = UNSET


class NewGroup(msgspec.Struct, forbid_unknown_fields=True):
    """A group to create."""

    name: str
    permissions: list[str] = []
    parent: Annotated[str, about("A group whose permissions this one inherits.")] | UnsetType = (
        UNSET
    )


class GroupChanges(msgspec.Struct, forbid_unknown_fields=True):
    """Changes to a group, applied in this order: parent (``null``: none),
    permissions (the whole new set), then name."""

    parent: str | UnsetType | None = UNSET
    permissions: list[str] | UnsetType = UNSET
    name: str | UnsetType = UNSET


# -- the machinery ----------------------------------------------------------------


@dataclass(slots=True)
class Call:
    """One request to an endpoint: the caller, and its query and body already typed."""

    app: Homer
    request: web.Request
    #: The authenticated caller, as :func:`run_op` takes it.
    caller: tuple[User, dict[str, Any]]
    user: User
    query: Any
    body: Any

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def actor(self) -> Actor:
        return self.app.identity.actor(self.user)

    def is_me(self, name: str) -> bool:
        return name_key(name) == name_key(self.user.name)

    async def op(self, op: str, **params: Any) -> Any:
        """Run ``op`` as ``POST /api/ops/{op}`` would (unset parameters left out)."""
        given = {key: value for key, value in params.items() if value is not UNSET}
        return await run_op(self.app, self.request, op, given, self.caller)


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route: what it takes, what it answers, who may call it.

    The handler's docstring is the route's description. Every endpoint takes
    ``Authorization: Bearer``; one that runs ``ops`` leaves the per-user rate
    limit to :func:`run_op`, the others take from it themselves.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    #: The type of the answer's body; a tuple for "one of these"; ``None``: no body (204).
    answer: Any = None
    status: int = 200
    query: type[msgspec.Struct] | None = None
    body: type[msgspec.Struct] | None = None
    #: Statuses of refusals besides those every endpoint can give.
    errors: tuple[int, ...] = ()
    #: The permission the caller needs, checked before anything else.
    permission: str | None = None
    #: The operations the endpoint runs.
    ops: tuple[str, ...] = ()
    #: Bounds that come from the configuration: query parameter -> schema keywords.
    bounds: Callable[[Homer], dict[str, dict[str, Any]]] | None = None


def _serve(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        app = request.app[APP_KEY]
        app.metrics.requests.inc()
        # Routes that run an operation take from the rate limit there, once.
        user, claims = await bearer_user(request, limited=not endpoint.ops)
        if endpoint.permission is not None and not app.identity.can(user, endpoint.permission):
            raise NotAuthorized(endpoint.permission, user.name)
        query = _query(request, endpoint.query)
        body = _decode(await read_body(request), endpoint.body)
        answer = await endpoint.handler(Call(app, request, (user, claims), user, query, body))
        if answer is None:
            return web.Response(status=204)
        return json_response(answer, endpoint.status)

    serve.__name__ = serve.__qualname__ = endpoint.handler.__name__
    return serve


def _query(request: web.Request, kind: type[msgspec.Struct] | None) -> Any:
    query = request.query
    if kind is None:
        if query:
            raise InvalidInput("this route takes no query parameters")
        return None
    if len(query) != len(set(query)):
        raise InvalidInput("give each query parameter at most once")
    try:
        return msgspec.convert(dict(query), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"query parameters: {exc}") from None


def _decode(raw: bytes, kind: type[msgspec.Struct] | None) -> Any:
    if kind is None:
        if raw.strip():
            raise InvalidInput("this route takes no body")
        return None
    try:
        return msgspec.json.decode(raw if raw.strip() else b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None


def _unset(value: Any) -> Any:
    return None if value is UNSET else value


def add_rest_routes(http: web.Application) -> None:
    """Add every route of :data:`ENDPOINTS` to ``http``."""
    for endpoint in ENDPOINTS:
        http.router.add_route(endpoint.method, endpoint.path, _serve(endpoint))


# -- views ------------------------------------------------------------------------


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
        members=await app.identity.store.count_members(group.id),
    )


# -- my account -------------------------------------------------------------------


async def get_me(call: Call) -> UserView:
    """The caller's account, with their effective permissions."""
    return user_view(call.app, await call.app.identity.accounts.get_by_id(call.user.id))


async def update_me(call: Call) -> UserView:
    """Change attributes of the caller's account, as the user schema allows."""
    changes: AttributeChanges = call.body
    return user_view(
        call.app, await call.app.identity.accounts.update_own(call.actor, changes.attributes)
    )


async def change_my_password(call: Call) -> None:
    """Change the caller's password, proving the current one. Every token of the
    caller is revoked, this one included: log in again. Attempts count against
    the login limit of the account (``limits.logins_per_account``)."""
    app = call.app
    wait = app.login_by_account.take(name_key(call.user.name), app.clock())
    if wait:
        raise RateLimited("too many password attempts: wait and try again", wait)
    change: PasswordChange = call.body
    await app.identity.accounts.change_password(call.actor, change.old, change.new)


# -- rooms ------------------------------------------------------------------------


async def list_rooms(call: Call) -> Any:
    """The caller's rooms, with read markers and unread counts."""
    return await call.op("rooms")


async def create_room(call: Call) -> Any:
    """Create a room; the caller owns it. Without ``room``, the server picks an id."""
    created: Create = call.body
    return await call.op("create", **msgspec.structs.asdict(created))


async def directory(call: Call) -> Any:
    """Public and announce rooms, by id, a page at a time."""
    query: DirectoryQuery = call.query
    return await call.op("directory", after=query.after, limit=query.limit)


async def get_room(call: Call) -> Any:
    """A room: with the caller's membership and unread count when they are in it;
    a public or announce room to anyone; a private room or a DM to its members only."""
    app, room_id = call.app, call.path("room")
    room = await app.rooms.get(room_id)
    member = await app.store.member(room.id, call.user.id)
    if member is None:
        if room.kind not in ("public", "announce"):
            raise Forbidden(f"you are not a member of {room_id!r}")
        return room_info(room)
    unread = await app.store.unread_counts(call.user.id, room_id=room.id)
    return room_info(room, member, unread.get(room.id, 0))


async def update_room(call: Call) -> Any:
    """Change a room's topic, metadata or both (its owner, or ``room.moderate``).
    An empty body changes nothing and answers as ``GET`` does."""
    changes: RoomChanges = call.body
    if changes.topic is UNSET and changes.meta is UNSET:
        return await get_room(call)
    return await call.op("topic", room=call.path("room"), topic=changes.topic, meta=changes.meta)


async def list_members(call: Call) -> Any:
    """The room's members (the caller must be one), a page at a time."""
    query: MembersQuery = call.query
    return await call.op("members", room=call.path("room"), after=query.after, limit=query.limit)


async def put_member(call: Call) -> Any:
    """Oneself: join the room (a public or announce room, or one invited to), and
    the answer is the room. Someone else: invite them (a member of the room may),
    and the answer names them."""
    room, user = call.path("room"), call.path("user")
    if call.is_me(user):
        return await call.op("join", room=room)
    return await call.op("invite", room=room, user=user)


async def delete_member(call: Call) -> Any:
    """Oneself: leave the room. Someone else: kick them (the room's owner, or
    ``room.moderate``); they may join again."""
    room, user = call.path("room"), call.path("user")
    if call.is_me(user):
        await call.op("leave", room=room)
        return MembershipChange(room=room, user=call.user.name)
    return await call.op("kick", room=room, user=user)


async def put_ban(call: Call) -> Any:
    """Ban a user from the room, removing them if they are in it (the room's
    owner, or ``room.moderate``)."""
    return await call.op("ban", room=call.path("room"), user=call.path("user"))


async def delete_ban(call: Call) -> Any:
    """Lift a ban (the room's owner, or ``room.moderate``)."""
    return await call.op("unban", room=call.path("room"), user=call.path("user"))


async def get_history(call: Call) -> Any:
    """A page of the room's history, by sequence number (``after`` or ``before``;
    neither: the latest) or by time (``since`` and/or ``until``). Members only."""
    query: HistoryQuery = call.query
    return await call.op("history", room=call.path("room"), **msgspec.structs.asdict(query))


async def purge_history(call: Call) -> Any:
    """Delete the room's history and start a new epoch (the room's owner, or
    ``room.moderate``); members hear a ``purged`` event."""
    return await call.op("purge", room=call.path("room"))


async def set_read(call: Call) -> Any:
    """Move the caller's read marker; every session of theirs hears the new
    unread count."""
    position: ReadPosition = call.body
    return await call.op("read", room=call.path("room"), seq=position.seq)


async def open_dm(call: Call) -> Any:
    """The direct conversation between the caller and ``user``, created on first use."""
    direct: Direct = call.body
    return await call.op("dm", user=direct.user)


# -- users ------------------------------------------------------------------------


async def list_users(call: Call) -> UserPage:
    """Users by name, a page at a time."""
    query: UsersQuery = call.query
    page = await call.app.identity.accounts.list(
        call.actor,
        search=_unset(query.search),
        group=_unset(query.group),
        after=_unset(query.after),
        limit=query.limit,
    )
    return UserPage([user_view(call.app, user) for user in page.items], page.next_cursor)


async def create_user(call: Call) -> UserView:
    """Create an account. Every invalid field is reported at once, in ``fields``."""
    new: NewUser = call.body
    user = await call.app.identity.accounts.create(
        call.actor, new.name, new.password, new.attributes, group=_unset(new.group)
    )
    return user_view(call.app, user)


async def get_user(call: Call) -> UserView:
    """An account, with its effective permissions."""
    return user_view(call.app, await call.app.identity.accounts.get(call.path("name")))


async def update_user(call: Call) -> UserView:
    """Change an account's attributes, group or name. Each change is checked before
    any is made; each is its own entry in the audit log. An empty body changes nothing."""
    changes: UserChanges = call.body
    identity = call.app.identity
    accounts, actor = identity.accounts, call.actor
    user = await accounts.get(call.path("name"))
    if changes.attributes is not UNSET:
        accounts.schema.for_update(user.attributes, changes.attributes)
    if changes.group is not UNSET and await identity.store.group_by_name(changes.group) is None:
        raise NotFound(f"no group named {changes.group!r}")
    if changes.name is not UNSET:
        validate_name(changes.name, "name")
        taken = await identity.store.user_by_name(changes.name)
        if taken is not None and taken.id != user.id:
            raise Conflict(f"a user named {changes.name!r} already exists")
    if changes.attributes is not UNSET:
        user = await accounts.update(actor, user.name, changes.attributes)
    if changes.group is not UNSET:
        user = await accounts.set_group(actor, user.name, changes.group)
    if changes.name is not UNSET:
        user = await accounts.rename(actor, user.name, changes.name)
    return user_view(call.app, user)


async def delete_user(call: Call) -> None:
    """Delete an account and revoke its tokens; the audit log keeps its trace and
    its messages stay in history."""
    await call.app.identity.accounts.delete(call.actor, call.path("name"))


async def set_password(call: Call) -> None:
    """Set an account's password; every token of the user is revoked."""
    new: NewPassword = call.body
    await call.app.identity.accounts.set_password(call.actor, call.path("name"), new.password)


async def grant_user(call: Call) -> UserView:
    """Give one user a permission beyond their group's."""
    accounts = call.app.identity.accounts
    user = await accounts.grant(call.actor, call.path("name"), call.path("permission"))
    return user_view(call.app, user)


async def deny_user(call: Call) -> UserView:
    """Take a permission from one user, even one their group holds."""
    accounts = call.app.identity.accounts
    user = await accounts.revoke(call.actor, call.path("name"), call.path("permission"))
    return user_view(call.app, user)


async def reset_user(call: Call) -> UserView:
    """Drop a user's own grants and denials: they have their group's permissions again."""
    accounts = call.app.identity.accounts
    return user_view(call.app, await accounts.reset_permissions(call.actor, call.path("name")))


async def issue_token(call: Call) -> IssuedToken:
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


async def revoke_tokens(call: Call) -> None:
    """Revoke every token the user holds now; their open connections close within
    a few seconds."""
    identity = call.app.identity
    user = await identity.accounts.get(call.path("name"))
    await identity.tokens.revoke_user(user.id, actor=call.user.name)


# -- groups -----------------------------------------------------------------------


async def list_groups(call: Call) -> GroupList:
    """Every group, with its permissions (inherited ones included) and its size."""
    groups = await call.app.identity.groups.list()
    return GroupList([await group_view(call.app, group) for group in groups])


async def create_group(call: Call) -> GroupView:
    """Create a group."""
    new: NewGroup = call.body
    group = await call.app.identity.groups.create(
        call.actor, new.name, new.permissions, parent=_unset(new.parent)
    )
    return await group_view(call.app, group)


async def get_group(call: Call) -> GroupView:
    """A group."""
    return await group_view(call.app, await call.app.identity.groups.get(call.path("name")))


async def update_group(call: Call) -> GroupView:
    """Change a group's parent, permissions or name (an empty body changes nothing).
    Renaming the default group also needs ``identity.default_group`` changed in the
    configuration."""
    changes: GroupChanges = call.body
    identity, actor = call.app.identity, call.actor
    group = await identity.groups.get(call.path("name"))
    if changes.permissions is not UNSET:
        identity.authorizer.permissions.check(changes.permissions)
    if changes.name is not UNSET:
        validate_name(changes.name, "name")
        taken = await identity.store.group_by_name(changes.name)
        if taken is not None and taken.id != group.id:
            raise Conflict(f"a group named {changes.name!r} already exists")
    if changes.parent is not UNSET:
        group = await identity.groups.set_parent(actor, group.name, changes.parent)
    if changes.permissions is not UNSET:
        group = await identity.groups.set_permissions(actor, group.name, changes.permissions)
    if changes.name is not UNSET:
        group = await identity.groups.rename(actor, group.name, changes.name)
    return await group_view(call.app, group)


async def delete_group(call: Call) -> GroupDeleted:
    """Delete a group: its members move to its parent, or to the default group;
    its child groups inherit from its parent. The default group stays."""
    name = call.path("name")
    moved = await call.app.identity.groups.delete(call.actor, name)
    return GroupDeleted(name, moved)


async def list_group_members(call: Call) -> UserPage:
    """The group's users by name, a page at a time."""
    query: GroupMembersQuery = call.query
    page = await call.app.identity.accounts.list(
        call.actor, group=call.path("name"), after=_unset(query.after), limit=query.limit
    )
    return UserPage([user_view(call.app, user) for user in page.items], page.next_cursor)


async def put_group_member(call: Call) -> UserView:
    """Move a user to this group (a user is in exactly one group)."""
    accounts = call.app.identity.accounts
    user = await accounts.set_group(call.actor, call.path("user"), call.path("name"))
    return user_view(call.app, user)


async def delete_group_member(call: Call) -> UserView:
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


async def grant_group(call: Call) -> GroupView:
    """Give the group a permission."""
    groups = call.app.identity.groups
    group = await groups.grant(call.actor, call.path("name"), call.path("permission"))
    return await group_view(call.app, group)


async def revoke_group(call: Call) -> GroupView:
    """Take a permission from the group (its members may still inherit it from
    a parent group, or hold it as their own grant)."""
    groups = call.app.identity.groups
    group = await groups.revoke(call.actor, call.path("name"), call.path("permission"))
    return await group_view(call.app, group)


async def list_permissions(call: Call) -> PermissionList:
    """The permission names that can be granted: Homer's and the application's."""
    return PermissionList(call.app.identity.authorizer.permissions.describe())


async def audit_log(call: Call) -> AuditPage:
    """The audit log of changes to users, groups, permissions and tokens, newest first."""
    query: AuditQuery = call.query
    page = await call.app.identity.audit.entries(
        call.actor,
        before=_unset(query.before),
        limit=query.limit,
        by=_unset(query.actor),
        target=_unset(query.target),
    )
    entries = [
        AuditEntryView(e.id, e.at, e.actor, e.action, e.target, dict(e.detail)) for e in page.items
    ]
    return AuditPage(entries, page.next_cursor)


# -- the table --------------------------------------------------------------------


def _history_bounds(app: Homer) -> dict[str, dict[str, Any]]:
    return {"limit": {"maximum": app.config.limits.history_limit}}


_ME, _ROOMS, _USERS, _GROUPS = "account", "rooms", "users", "groups"

#: Every REST route.
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/me", get_me, "My account", _ME, UserView),
    Endpoint(
        "PATCH",
        "/api/me",
        update_me,
        "Change my attributes",
        _ME,
        UserView,
        body=AttributeChanges,
    ),
    Endpoint(
        "POST",
        "/api/me/password",
        change_my_password,
        "Change my password",
        _ME,
        status=204,
        body=PasswordChange,
    ),
    Endpoint("GET", "/api/rooms", list_rooms, "My rooms", _ROOMS, RoomList, ops=("rooms",)),
    Endpoint(
        "POST",
        "/api/rooms",
        create_room,
        "Create a room",
        _ROOMS,
        RoomInfo,
        status=201,
        body=Create,
        errors=(403, 409),
        ops=("create",),
    ),
    Endpoint(
        "GET",
        "/api/directory",
        directory,
        "Public rooms",
        _ROOMS,
        DirectoryPage,
        query=DirectoryQuery,
        ops=("directory",),
    ),
    Endpoint("GET", "/api/rooms/{room}", get_room, "A room", _ROOMS, RoomInfo, errors=(403, 404)),
    Endpoint(
        "PATCH",
        "/api/rooms/{room}",
        update_room,
        "Change a room's topic or metadata",
        _ROOMS,
        RoomInfo,
        body=RoomChanges,
        errors=(403, 404),
        ops=("topic",),
    ),
    Endpoint(
        "GET",
        "/api/rooms/{room}/members",
        list_members,
        "A room's members",
        _ROOMS,
        MemberPage,
        query=MembersQuery,
        errors=(403, 404),
        ops=("members",),
    ),
    Endpoint(
        "PUT",
        "/api/rooms/{room}/members/{user}",
        put_member,
        "Join a room, or invite someone",
        _ROOMS,
        (RoomInfo, MembershipChange),
        errors=(403, 404, 409),
        ops=("join", "invite"),
    ),
    Endpoint(
        "DELETE",
        "/api/rooms/{room}/members/{user}",
        delete_member,
        "Leave a room, or kick someone",
        _ROOMS,
        MembershipChange,
        errors=(403, 404),
        ops=("leave", "kick"),
    ),
    Endpoint(
        "PUT",
        "/api/rooms/{room}/bans/{user}",
        put_ban,
        "Ban someone from a room",
        _ROOMS,
        MembershipChange,
        errors=(403, 404),
        ops=("ban",),
    ),
    Endpoint(
        "DELETE",
        "/api/rooms/{room}/bans/{user}",
        delete_ban,
        "Lift a ban",
        _ROOMS,
        MembershipChange,
        errors=(403, 404),
        ops=("unban",),
    ),
    Endpoint(
        "GET",
        "/api/rooms/{room}/messages",
        get_history,
        "A room's history",
        _ROOMS,
        HistoryPage,
        query=HistoryQuery,
        errors=(403, 404),
        ops=("history",),
        bounds=_history_bounds,
    ),
    Endpoint(
        "DELETE",
        "/api/rooms/{room}/messages",
        purge_history,
        "Purge a room's history",
        _ROOMS,
        Purged,
        errors=(403, 404),
        ops=("purge",),
    ),
    Endpoint(
        "PUT",
        "/api/rooms/{room}/read",
        set_read,
        "Set my read marker",
        _ROOMS,
        ReadMarker,
        body=ReadPosition,
        errors=(403, 404),
        ops=("read",),
    ),
    Endpoint(
        "POST",
        "/api/dms",
        open_dm,
        "Open a direct conversation",
        _ROOMS,
        RoomInfo,
        body=Direct,
        errors=(403, 404),
        ops=("dm",),
    ),
    Endpoint(
        "GET",
        "/api/users",
        list_users,
        "Users",
        _USERS,
        UserPage,
        query=UsersQuery,
        errors=(404,),
        permission="admin.users",
    ),
    Endpoint(
        "POST",
        "/api/users",
        create_user,
        "Create a user",
        _USERS,
        UserView,
        status=201,
        body=NewUser,
        errors=(404, 409),
        permission="admin.users",
    ),
    Endpoint(
        "GET",
        "/api/users/{name}",
        get_user,
        "A user",
        _USERS,
        UserView,
        errors=(404,),
        permission="admin.users",
    ),
    Endpoint(
        "PATCH",
        "/api/users/{name}",
        update_user,
        "Change a user",
        _USERS,
        UserView,
        body=UserChanges,
        errors=(404, 409),
        permission="admin.users",
    ),
    Endpoint(
        "DELETE",
        "/api/users/{name}",
        delete_user,
        "Delete a user",
        _USERS,
        status=204,
        errors=(404,),
        permission="admin.users",
    ),
    Endpoint(
        "PUT",
        "/api/users/{name}/password",
        set_password,
        "Set a user's password",
        _USERS,
        status=204,
        body=NewPassword,
        errors=(404,),
        permission="admin.users",
    ),
    Endpoint(
        "DELETE",
        "/api/users/{name}/permissions",
        reset_user,
        "Reset a user's permissions to their group's",
        _USERS,
        UserView,
        errors=(404,),
        permission="admin.groups",
    ),
    Endpoint(
        "PUT",
        "/api/users/{name}/permissions/{permission}",
        grant_user,
        "Grant a user a permission",
        _USERS,
        UserView,
        errors=(404,),
        permission="admin.groups",
    ),
    Endpoint(
        "DELETE",
        "/api/users/{name}/permissions/{permission}",
        deny_user,
        "Deny a user a permission",
        _USERS,
        UserView,
        errors=(404,),
        permission="admin.groups",
    ),
    Endpoint(
        "POST",
        "/api/users/{name}/tokens",
        issue_token,
        "Issue a token for a user",
        _USERS,
        IssuedToken,
        status=201,
        body=TokenOptions,
        errors=(404,),
        permission="admin.tokens",
    ),
    Endpoint(
        "DELETE",
        "/api/users/{name}/tokens",
        revoke_tokens,
        "Revoke a user's tokens",
        _USERS,
        status=204,
        errors=(404,),
        permission="admin.tokens",
    ),
    Endpoint(
        "GET",
        "/api/groups",
        list_groups,
        "Groups",
        _GROUPS,
        GroupList,
        permission="admin.groups",
    ),
    Endpoint(
        "POST",
        "/api/groups",
        create_group,
        "Create a group",
        _GROUPS,
        GroupView,
        status=201,
        body=NewGroup,
        errors=(404, 409),
        permission="admin.groups",
    ),
    Endpoint(
        "GET",
        "/api/groups/{name}",
        get_group,
        "A group",
        _GROUPS,
        GroupView,
        errors=(404,),
        permission="admin.groups",
    ),
    Endpoint(
        "PATCH",
        "/api/groups/{name}",
        update_group,
        "Change a group",
        _GROUPS,
        GroupView,
        body=GroupChanges,
        errors=(404, 409),
        permission="admin.groups",
    ),
    Endpoint(
        "DELETE",
        "/api/groups/{name}",
        delete_group,
        "Delete a group",
        _GROUPS,
        GroupDeleted,
        errors=(404, 409),
        permission="admin.groups",
    ),
    Endpoint(
        "GET",
        "/api/groups/{name}/members",
        list_group_members,
        "A group's users",
        _GROUPS,
        UserPage,
        query=GroupMembersQuery,
        errors=(404,),
        permission="admin.users",
    ),
    Endpoint(
        "PUT",
        "/api/groups/{name}/members/{user}",
        put_group_member,
        "Move a user to a group",
        _GROUPS,
        UserView,
        errors=(404,),
        permission="admin.users",
    ),
    Endpoint(
        "DELETE",
        "/api/groups/{name}/members/{user}",
        delete_group_member,
        "Move a user back to the default group",
        _GROUPS,
        UserView,
        errors=(404, 409),
        permission="admin.users",
    ),
    Endpoint(
        "PUT",
        "/api/groups/{name}/permissions/{permission}",
        grant_group,
        "Grant a group a permission",
        _GROUPS,
        GroupView,
        errors=(404,),
        permission="admin.groups",
    ),
    Endpoint(
        "DELETE",
        "/api/groups/{name}/permissions/{permission}",
        revoke_group,
        "Revoke a permission from a group",
        _GROUPS,
        GroupView,
        errors=(404,),
        permission="admin.groups",
    ),
    Endpoint(
        "GET",
        "/api/permissions",
        list_permissions,
        "Permission names",
        _GROUPS,
        PermissionList,
        permission="admin.groups",
    ),
    Endpoint(
        "GET",
        "/api/audit",
        audit_log,
        "The audit log",
        _USERS,
        AuditPage,
        query=AuditQuery,
        permission="admin.audit",
    ),
)
