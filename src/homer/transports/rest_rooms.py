"""The REST routes of rooms: the caller's rooms, the directory, members, bans,
history, read markers, direct conversations and sending. Each runs the
operation that does the same over WebSocket (:class:`RouteCall.op
<homer.transports.routes.RouteCall.op>`), or a rooms service, never the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET

from homer.core.ops import Create, Direct
from homer.transports.rest_types import (
    Ack,
    DirectoryPage,
    DirectoryQuery,
    HistoryPage,
    HistoryQuery,
    MemberPage,
    MembershipChange,
    MembersQuery,
    PostedMessage,
    Purged,
    ReadMarker,
    ReadPosition,
    RoomChanges,
    RoomInfo,
    RoomList,
)
from homer.transports.routes import Route, RouteCall

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["ROOM_ROUTES"]


async def list_rooms(call: RouteCall) -> Any:
    """The caller's rooms, with read markers and unread counts."""
    return await call.op("rooms")


async def create_room(call: RouteCall) -> Any:
    """Create a room; the caller owns it. Without ``room``, the server picks an id."""
    created: Create = call.body
    return await call.op("create", **msgspec.structs.asdict(created))


async def directory(call: RouteCall) -> Any:
    """Public and announce rooms, by id, a page at a time."""
    query: DirectoryQuery = call.query
    return await call.op("directory", after=query.after, limit=query.limit)


async def get_room(call: RouteCall) -> Any:
    """A room: with the caller's membership and unread count when they are in it;
    a public or announce room to anyone; a private room or a DM to its members only."""
    return await call.app.rooms.describe(call.user, call.path("room"))


async def update_room(call: RouteCall) -> Any:
    """Change a room's topic, metadata or both (its owner, or ``room.moderate``).
    An empty body changes nothing and answers as ``GET`` does."""
    changes: RoomChanges = call.body
    if changes.topic is UNSET and changes.meta is UNSET:
        return await get_room(call)
    return await call.op("topic", room=call.path("room"), topic=changes.topic, meta=changes.meta)


async def list_members(call: RouteCall) -> Any:
    """The room's members (the caller must be one), a page at a time."""
    query: MembersQuery = call.query
    return await call.op("members", room=call.path("room"), after=query.after, limit=query.limit)


async def put_member(call: RouteCall) -> Any:
    """Oneself: join the room (a public or announce room, or one invited to), and
    the answer is the room. Someone else: invite them (a member of the room may),
    and the answer names them."""
    room, user = call.path("room"), call.path("user")
    if call.is_me(user):
        return await call.op("join", room=room)
    return await call.op("invite", room=room, user=user)


async def delete_member(call: RouteCall) -> Any:
    """Oneself: leave the room. Someone else: kick them (the room's owner, or
    ``room.moderate``); they may join again."""
    room, user = call.path("room"), call.path("user")
    if call.is_me(user):
        await call.op("leave", room=room)
        return MembershipChange(room=room, user=call.user.name)
    return await call.op("kick", room=room, user=user)


async def put_ban(call: RouteCall) -> Any:
    """Ban a user from the room, removing them if they are in it (the room's
    owner, or ``room.moderate``)."""
    return await call.op("ban", room=call.path("room"), user=call.path("user"))


async def delete_ban(call: RouteCall) -> Any:
    """Lift a ban (the room's owner, or ``room.moderate``)."""
    return await call.op("unban", room=call.path("room"), user=call.path("user"))


async def get_history(call: RouteCall) -> Any:
    """A page of the room's history, by sequence number (``after`` or ``before``;
    neither: the latest) or by time (``since`` and/or ``until``). Members only."""
    query: HistoryQuery = call.query
    return await call.op("history", room=call.path("room"), **msgspec.structs.asdict(query))


async def purge_history(call: RouteCall) -> Any:
    """Delete the room's history and start a new epoch (the room's owner, or
    ``room.moderate``); members hear a ``purged`` event."""
    return await call.op("purge", room=call.path("room"))


async def set_read(call: RouteCall) -> Any:
    """Move the caller's read marker; every session of theirs hears the new
    unread count."""
    position: ReadPosition = call.body
    return await call.op("read", room=call.path("room"), seq=position.seq)


async def open_dm(call: RouteCall) -> Any:
    """The direct conversation between the caller and ``user``, created on first use."""
    direct: Direct = call.body
    return await call.op("dm", user=direct.user)


async def post_message(call: RouteCall) -> Any:
    """The `send` operation: 201 once the message is stored; a resend with the same
    ``cid`` gets the first ack (``duplicate: true``)."""
    message: PostedMessage = call.body
    return await call.op("send", room=call.path("room"), **msgspec.structs.asdict(message))


def _history_bounds(app: Homer) -> dict[str, dict[str, Any]]:
    return {"limit": {"maximum": app.config.limits.history_limit}}


#: Every route of rooms.
ROOM_ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/api/rooms",
        handler=list_rooms,
        summary="My rooms",
        tag="rooms",
        answer=RoomList,
        ops=("rooms",),
    ),
    Route(
        method="POST",
        path="/api/rooms",
        handler=create_room,
        summary="Create a room",
        tag="rooms",
        answer=RoomInfo,
        status=201,
        body=Create,
        errors=(403, 409),
        ops=("create",),
    ),
    Route(
        method="GET",
        path="/api/directory",
        handler=directory,
        summary="Public rooms",
        tag="rooms",
        answer=DirectoryPage,
        query=DirectoryQuery,
        ops=("directory",),
    ),
    Route(
        method="GET",
        path="/api/rooms/{room}",
        handler=get_room,
        summary="A room",
        tag="rooms",
        answer=RoomInfo,
        errors=(403, 404),
    ),
    Route(
        method="PATCH",
        path="/api/rooms/{room}",
        handler=update_room,
        summary="Change a room's topic or metadata",
        tag="rooms",
        answer=RoomInfo,
        body=RoomChanges,
        errors=(403, 404),
        ops=("topic",),
    ),
    Route(
        method="GET",
        path="/api/rooms/{room}/members",
        handler=list_members,
        summary="A room's members",
        tag="rooms",
        answer=MemberPage,
        query=MembersQuery,
        errors=(403, 404),
        ops=("members",),
    ),
    Route(
        method="PUT",
        path="/api/rooms/{room}/members/{user}",
        handler=put_member,
        summary="Join a room, or invite someone",
        tag="rooms",
        answer=(RoomInfo, MembershipChange),
        errors=(403, 404, 409),
        ops=("join", "invite"),
    ),
    Route(
        method="DELETE",
        path="/api/rooms/{room}/members/{user}",
        handler=delete_member,
        summary="Leave a room, or kick someone",
        tag="rooms",
        answer=MembershipChange,
        errors=(403, 404),
        ops=("leave", "kick"),
    ),
    Route(
        method="PUT",
        path="/api/rooms/{room}/bans/{user}",
        handler=put_ban,
        summary="Ban someone from a room",
        tag="rooms",
        answer=MembershipChange,
        errors=(403, 404),
        ops=("ban",),
    ),
    Route(
        method="DELETE",
        path="/api/rooms/{room}/bans/{user}",
        handler=delete_ban,
        summary="Lift a ban",
        tag="rooms",
        answer=MembershipChange,
        errors=(403, 404),
        ops=("unban",),
    ),
    Route(
        method="GET",
        path="/api/rooms/{room}/messages",
        handler=get_history,
        summary="A room's history",
        tag="rooms",
        answer=HistoryPage,
        query=HistoryQuery,
        errors=(403, 404),
        ops=("history",),
        bounds=_history_bounds,
    ),
    Route(
        method="DELETE",
        path="/api/rooms/{room}/messages",
        handler=purge_history,
        summary="Purge a room's history",
        tag="rooms",
        answer=Purged,
        errors=(403, 404),
        ops=("purge",),
    ),
    Route(
        method="PUT",
        path="/api/rooms/{room}/read",
        handler=set_read,
        summary="Set my read marker",
        tag="rooms",
        answer=ReadMarker,
        body=ReadPosition,
        errors=(403, 404),
        ops=("read",),
    ),
    Route(
        method="POST",
        path="/api/dms",
        handler=open_dm,
        summary="Open a direct conversation",
        tag="rooms",
        answer=RoomInfo,
        body=Direct,
        errors=(403, 404),
        ops=("dm",),
    ),
    Route(
        method="POST",
        path="/api/rooms/{room}/messages",
        handler=post_message,
        summary="Send a message",
        tag="rooms",
        answer=Ack,
        status=201,
        body=PostedMessage,
        errors=(403, 404),
        ops=("send",),
    ),
)
