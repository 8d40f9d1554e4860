"""The long-poll routes: register a queue (``POST /api/queues``), poll it
(``GET /api/queues/{queue}/events``) and close it (``DELETE``); the queues
themselves are :mod:`homer.transports.longpoll`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from homer.core.app import Homer
from homer.core.fields import RoomId, described
from homer.core.ops import after_welcome, check_connections, open_session
from homer.core.session import CloseCode
from homer.errors import InvalidInput
from homer.protocol.codecs import Codec, media_type
from homer.protocol.cursor import CURSOR_PATTERN, MAX_CURSOR
from homer.transports.http import APP_KEY, bearer_user
from homer.transports.longpoll import (
    POLL_CODECS,
    Batch,
    EventQueue,
    PollFormat,
    Queues,
    poll_timeout,
    registration,
)
from homer.transports.rest_types import RoomInfo, UserRef
from homer.transports.routes import Route, route_body
from homer.transports.stream_cursor import decode_cursor, plan_start

__all__ = ["QUEUES_KEY", "QUEUE_ROUTES", "create_queue", "delete_queue", "poll_queue"]

QUEUES_KEY: web.AppKey[Queues] = web.AppKey("queues", Queues)


class NewQueue(msgspec.Struct, forbid_unknown_fields=True):
    rooms: Annotated[list[RoomId], Meta(min_length=1)] | None = None
    cursor: Annotated[str, described(pattern=CURSOR_PATTERN, maxLength=MAX_CURSOR)] = ""


class QueueRegistration(msgspec.Struct, forbid_unknown_fields=True):
    """A new long-poll queue: poll it at ``/api/queues/{queue}/events``."""

    queue: str
    session: Annotated[
        str,
        Meta(description="The session to name in `Homer-Session` for `typing`, `presence`, ..."),
    ]
    cursor: Annotated[
        str, Meta(description="The position in every room of the queue, to resume from.")
    ]
    last_event_id: int
    expires_in: Annotated[float, Meta(description="Seconds the queue lives without a poll.")]
    max_timeout: Annotated[float, Meta(description="The longest `timeout` a poll may ask for.")]
    user: UserRef
    rooms: list[RoomInfo]
    expires_at: float | None


class PollQuery(msgspec.Struct, forbid_unknown_fields=True):
    """The query of a poll (checked by hand, as the long-poll protocol states)."""

    after: (
        Annotated[
            int,
            Meta(
                description="Acknowledge every event up to this id and get those after it.",
                ge=0,
                le=10**18 - 1,
            ),
        ]
        | UnsetType
    ) = UNSET
    timeout: (
        Annotated[
            float, Meta(description="Seconds to wait for an event (at most `max_timeout`).", ge=0)
        ]
        | UnsetType
    ) = UNSET


async def create_queue(request: web.Request) -> web.Response:
    """``POST /api/queues``: a long-poll queue of the user's rooms (or some of them),
    resuming from a cursor when given (:mod:`homer.transports.longpoll`)."""
    app = request.app[APP_KEY]
    queues = request.app[QUEUES_KEY]
    user, claims = await bearer_user(request, limited=False)
    asked: NewQueue = (await route_body(request) if request.can_read_body else None) or NewQueue()
    if asked.rooms is not None and not asked.rooms:
        raise InvalidInput("rooms names no room: leave it out to follow all your rooms")
    resume = decode_cursor(asked.cursor)
    address = request.remote or "unknown"
    check_connections(app, user, address)
    fmt = app.codecs.wire_format(_poll_codec(app, request).name, PollFormat)
    queue = EventQueue(
        app,
        fmt,
        address,
        follows_joins=asked.rooms is None,
        on_gone=queues.remove,
    )
    app.connected(queue)
    try:
        session, infos = await open_session(app, queue, user, claims, rooms=asked.rooms)
    except BaseException:
        app.disconnected(queue)
        raise
    start = plan_start(session, infos, resume, asked.rooms)
    queue.start(start.positions)
    queues.add(queue)
    app.spawn(after_welcome(app, queue, session, start.fresh, start.resume))
    return _in_queue_codec(queue, registration(queue, session, infos), 201)


def _poll_codec(app: Homer, request: web.Request) -> Codec:
    """The codec a new queue speaks, from the registration's ``Accept``, or 406."""
    codec = app.codecs.for_accept(request.headers.get("Accept"))
    if codec is None or codec.name not in POLL_CODECS:
        offered = ", ".join(media_type(known) for known in app.codecs if known.name in POLL_CODECS)
        raise web.HTTPNotAcceptable(text=f"a queue speaks one of: {offered}")
    return codec


def _in_queue_codec(queue: EventQueue, answer: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=queue.fmt.container(answer),
        status=status,
        headers={"Content-Type": media_type(queue.fmt.codec)},
    )


async def poll_queue(request: web.Request) -> web.Response:
    """``GET /api/queues/{queue}/events``: what follows ``after``, at once or when it
    comes, or nothing after ``timeout`` seconds."""
    app = request.app[APP_KEY]
    user, claims = await bearer_user(request, limited=False)
    queue = request.app[QUEUES_KEY].get(request.match_info["queue"], user.id)
    after = request.query.get("after")
    if after is not None and not (after.isascii() and after.isdigit() and len(after) < 19):
        raise InvalidInput("after must be the id of an event of this queue")
    timeout = poll_timeout(request.query.get("timeout"), app.config.limits.heartbeat)
    if queue.session is not None:
        queue.session.adopt(claims)  # a refreshed token keeps the queue alive
    batch = await queue.poll(int(after) if after is not None else None, timeout)
    return _in_queue_codec(queue, batch)


async def delete_queue(request: web.Request) -> web.Response:
    """``DELETE /api/queues/{queue}``."""
    user, _ = await bearer_user(request, limited=False)
    queues = request.app[QUEUES_KEY]
    queue = queues.get(request.match_info["queue"], user.id)
    queue.close(CloseCode.NORMAL, "closed by the client")
    queues.remove(queue)
    return web.Response(status=204)


#: The long-poll routes.
QUEUE_ROUTES: tuple[Route, ...] = (
    Route(
        method="POST",
        path="/api/queues",
        serve=create_queue,
        summary="Open a long-poll queue",
        description="A queue of the caller's rooms (or some of them), resuming from `cursor` "
        "when given.",
        tag="streams",
        answers={201: {"application/json": QueueRegistration}},
        body=NewQueue,
        body_required=False,
        errors=(400, 401, 403, 404, 409, 413),
    ),
    Route(
        method="GET",
        path="/api/queues/{queue}/events",
        serve=poll_queue,
        summary="Poll a queue",
        description="The events after `after`, at once or when one comes, or none after "
        "`timeout` seconds (`heartbeat: true`). `after` acknowledges every event up to it.",
        tag="streams",
        answers={200: {"application/json": Batch}},
        query=PollQuery,
        errors=(400, 401, 404),
    ),
    Route(
        method="DELETE",
        path="/api/queues/{queue}",
        serve=delete_queue,
        summary="Close a queue",
        description="204, and the queue is gone.",
        tag="streams",
        answers={204: {}},
        errors=(401, 404),
    ),
)
