"""The long-poll routes: register a queue (``POST /api/queues``), poll it
(``GET /api/queues/{queue}/events``) and close it (``DELETE``); the queues
themselves are :mod:`homer.transports.longpoll`."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from homer.core.app import Homer
from homer.core.ops import after_welcome, check_connections, open_session
from homer.core.session import CloseCode
from homer.errors import InvalidInput
from homer.protocol.codecs import Codec, media_type
from homer.transports.http import APP_KEY, NewQueue, bearer_user, json_body
from homer.transports.longpoll import (
    POLL_CODECS,
    EventQueue,
    PollFormat,
    Queues,
    poll_timeout,
    registration,
)
from homer.transports.stream_cursor import decode_cursor, plan_start

__all__ = ["QUEUES_KEY", "create_queue", "delete_queue", "poll_queue"]

QUEUES_KEY: web.AppKey[Queues] = web.AppKey("queues", Queues)


async def create_queue(request: web.Request) -> web.Response:
    """``POST /api/queues``: a long-poll queue of the user's rooms (or some of them),
    resuming from a cursor when given (:mod:`homer.transports.longpoll`)."""
    app = request.app[APP_KEY]
    queues = request.app[QUEUES_KEY]
    user, claims = await bearer_user(request, limited=False)
    try:
        asked = msgspec.convert(await json_body(request) if request.can_read_body else {}, NewQueue)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
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
