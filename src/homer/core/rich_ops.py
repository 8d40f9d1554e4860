"""The operations of rich messaging: edits, redactions, reactions, threads, earlier
versions and search, registered with ``app.on`` like every other operation.

docs/protocol.md ("Changing messages", "Threads", "Search") specifies each one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import Meta

from homer.core.fields import Cid, MessageSeq, Name, ReactionKey, Reason, RoomId, described
from homer.store.search import SEARCHABLE

if TYPE_CHECKING:
    from homer.core.app import Context, Homer

__all__ = ["register"]


class Edit(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    seq: MessageSeq
    text: str = ""
    data: Any = None
    cid: Cid | None = None


class Redact(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    seq: MessageSeq
    reason: Reason | None = None
    cid: Cid | None = None


class React(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    seq: MessageSeq
    key: ReactionKey
    cid: Cid | None = None


class Versions(msgspec.Struct, forbid_unknown_fields=True):
    room: RoomId
    seq: MessageSeq


class Search(msgspec.Struct, forbid_unknown_fields=True):
    query: Annotated[str, described(pattern=SEARCHABLE)]
    room: RoomId | None = None
    sender: Name | None = None
    since: float | None = None
    until: float | None = None
    limit: Annotated[int, Meta(ge=1)] = 20


def register(app: Homer) -> None:
    """Register the rich-messaging operations on ``app``."""

    @app.on("edit")
    async def edit(ctx: Context, params: Edit) -> dict[str, Any]:
        return await app.changes.edit(
            ctx.user, params.room, params.seq, params.text, params.data, cid=params.cid
        )

    @app.on("redact")
    async def redact(ctx: Context, params: Redact) -> dict[str, Any]:
        return await app.changes.redact(
            ctx.user, params.room, params.seq, params.reason, cid=params.cid
        )

    @app.on("react")
    async def react(ctx: Context, params: React) -> dict[str, Any]:
        return await app.changes.react(
            ctx.user, params.room, params.seq, params.key, on=True, cid=params.cid
        )

    @app.on("unreact")
    async def unreact(ctx: Context, params: React) -> dict[str, Any]:
        return await app.changes.react(
            ctx.user, params.room, params.seq, params.key, on=False, cid=params.cid
        )

    @app.on("history_of")
    async def history_of(ctx: Context, params: Versions) -> dict[str, Any]:
        return await app.changes.history_of(ctx.user, params.room, params.seq)

    @app.on("search")
    async def search(ctx: Context, params: Search) -> dict[str, Any]:
        return await app.changes.search(
            ctx.user,
            params.query,
            room_id=params.room,
            sender=params.sender,
            since=params.since,
            until=params.until,
            limit=params.limit,
        )
