"""The REST routes of changing messages, threads, earlier versions and search.
Each runs the operation that does the same over WebSocket (docs/protocol.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from homer.errors import InvalidInput
from homer.transports.rest_types import (
    ChangeAck,
    EditedMessage,
    RedactQuery,
    SearchQuery,
    SearchResults,
    ThreadPage,
    ThreadQuery,
    Versions,
)
from homer.transports.routes import Route, RouteCall

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["MESSAGE_ROUTES"]

_MESSAGE = "/api/rooms/{room}/messages/{seq}"


def _seq(call: RouteCall) -> int:
    raw = call.path("seq")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > 2**63 - 1:
        raise InvalidInput("seq must be the sequence number of a message")
    return int(raw)


async def edit_message(call: RouteCall) -> Any:
    """Replace a message's text and data (its sender, or a moderator of the room).
    Members hear an ``edit`` event; history shows the message as it is now."""
    edited: EditedMessage = call.body
    return await call.op(
        "edit", room=call.path("room"), seq=_seq(call), **msgspec.structs.asdict(edited)
    )


async def redact_message(call: RouteCall) -> Any:
    """Delete a message's content for everyone (its sender, or a moderator); it
    keeps its place in the room. Its files are deleted."""
    query: RedactQuery = call.query
    return await call.op(
        "redact", room=call.path("room"), seq=_seq(call), reason=query.reason, cid=query.cid
    )


async def put_reaction(call: RouteCall) -> Any:
    """React to a message with ``key`` (an emoji or a ``:shortcode:``); one reaction
    per user and key."""
    return await call.op("react", room=call.path("room"), seq=_seq(call), key=call.path("key"))


async def delete_reaction(call: RouteCall) -> Any:
    """Take one's reaction back."""
    return await call.op("unreact", room=call.path("room"), seq=_seq(call), key=call.path("key"))


async def get_versions(call: RouteCall) -> Any:
    """A message and the content each of its edits replaced (the room's owner, or
    ``room.moderate``; kept only when ``messages.keep_edits`` is on)."""
    return await call.op("history_of", room=call.path("room"), seq=_seq(call))


async def get_thread(call: RouteCall) -> Any:
    """A thread's root and a page of its replies, oldest first. Members only."""
    query: ThreadQuery = call.query
    return await call.op(
        "history",
        room=call.path("room"),
        thread=_seq(call),
        after=query.after,
        limit=query.limit,
    )


async def search(call: RouteCall) -> Any:
    """Full-text search over the rooms the caller is a member of, best match first."""
    query: SearchQuery = call.query
    params = msgspec.structs.asdict(query)
    return await call.op("search", query=params.pop("q"), **params)


def _thread_bounds(app: Homer) -> dict[str, dict[str, Any]]:
    return {"limit": {"maximum": app.config.limits.history_limit}}


def _search_bounds(app: Homer) -> dict[str, dict[str, Any]]:
    return {"limit": {"maximum": app.config.messages.search_limit}}


#: Every route of rich messaging.
MESSAGE_ROUTES: tuple[Route, ...] = (
    Route(
        method="PATCH",
        path=_MESSAGE,
        handler=edit_message,
        summary="Edit a message",
        tag="messages",
        answer=ChangeAck,
        body=EditedMessage,
        errors=(400, 403, 404, 413),
        ops=("edit",),
    ),
    Route(
        method="DELETE",
        path=_MESSAGE,
        handler=redact_message,
        summary="Redact a message",
        tag="messages",
        answer=ChangeAck,
        query=RedactQuery,
        errors=(400, 403, 404),
        ops=("redact",),
    ),
    Route(
        method="PUT",
        path=_MESSAGE + "/reactions/{key}",
        handler=put_reaction,
        summary="React to a message",
        tag="messages",
        answer=ChangeAck,
        errors=(400, 403, 404, 409),
        ops=("react",),
    ),
    Route(
        method="DELETE",
        path=_MESSAGE + "/reactions/{key}",
        handler=delete_reaction,
        summary="Take a reaction back",
        tag="messages",
        answer=ChangeAck,
        errors=(400, 403, 404),
        ops=("unreact",),
    ),
    Route(
        method="GET",
        path=_MESSAGE + "/versions",
        handler=get_versions,
        summary="A message's earlier versions",
        tag="messages",
        answer=Versions,
        errors=(400, 403, 404),
        ops=("history_of",),
    ),
    Route(
        method="GET",
        path="/api/rooms/{room}/threads/{seq}",
        handler=get_thread,
        summary="A thread",
        tag="messages",
        answer=ThreadPage,
        query=ThreadQuery,
        errors=(400, 403, 404),
        ops=("history",),
        bounds=_thread_bounds,
    ),
    Route(
        method="GET",
        path="/api/search",
        handler=search,
        summary="Search messages",
        tag="messages",
        answer=SearchResults,
        query=SearchQuery,
        errors=(400, 403, 404),
        ops=("search",),
        bounds=_search_bounds,
    ),
)
