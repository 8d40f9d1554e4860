"""``POST /api/ops/{op}``: any operation over plain HTTP, built-in or the application's.

The body holds the op's parameters in the codec its ``Content-Type`` names
(a body in any other type, a form say, is 415); the answer is the reply or error envelope a
WebSocket client would get, in the codec the ``Accept`` header prefers, with
an HTTP status that matches the error code. The token goes in
``Authorization: Bearer``.

Operations that act on a live connection (``typing``, ``presence``,
``resume``, ``refresh``) act on a Server-Sent Events stream or a long-poll
queue of the same user, named by its session id in the ``Homer-Session``
header; their events (a resume's replay, say) arrive on that stream. Other
operations run for the token's user alone. ``hello`` has no meaning here:
every request carries its token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from homer.core.pipeline import (
    SESSION_HEADER,
    SESSION_OPS,
    Bearer,
    Call,
    Context,
    error_details,
)
from homer.core.session import BasePeer
from homer.errors import (
    HomerError,
    InternalError,
    InvalidInput,
    RateLimited,
    UnknownOp,
    UnsupportedMediaType,
)
from homer.messaging.hub import Outgoing
from homer.protocol.codecs import Codec, DecodeError, media_type
from homer.protocol.envelope import Envelope, error_envelope, reply_envelope
from homer.protocol.lifecycle import NEVER
from homer.transports.http import STATUS, bearer_token, read_body

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["SESSION_HEADER", "SESSION_OPS", "RequestPeer", "op_call"]


class RequestPeer(BasePeer):
    """The peer of one HTTP request: it holds no connection, so events meant for
    the connection alone have nowhere to go and are dropped. Nothing sweeps it:
    the request's own timeouts bound it."""

    __slots__ = ()

    def __init__(self, address: str, now: float) -> None:
        super().__init__(address, now=now, timeouts=NEVER)

    def push(self, out: Outgoing) -> None:
        pass

    def push_many(self, outs: list[Outgoing]) -> None:
        pass

    def send(self, envelope: Envelope) -> None:
        pass

    def ping(self) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        pass


def request_bearer(request: web.Request, *, live: bool = True) -> Bearer:
    """The request's token and, when ``live``, the session it names in
    :data:`SESSION_HEADER`."""
    token = bearer_token(request.headers.get("Authorization", ""))
    return Bearer(token, request.headers.get(SESSION_HEADER) if live else None)


def op_call(app: Homer, request: web.Request, op: str, params: Any) -> Call:
    """``op`` for the request's bearer, ready for the pipeline; :class:`UnknownOp`
    when there is no such operation."""
    handler = app.handlers.get(op)
    if handler is None:
        raise UnknownOp(f"unknown op {op!r}")
    if op == "hello":
        raise InvalidInput("over HTTP every request carries its token: there is no hello")
    peer = RequestPeer(request.remote or "unknown", app.clock())
    return Call(handler, Context(app, peer, None), params, request_bearer(request))


def negotiate(app: Homer, request: web.Request) -> Codec:
    """The codec of the answer, or 406."""
    accept = request.headers.get("Accept")
    answer = app.codecs.for_accept(accept)
    if answer is None:
        offered = ", ".join(media_type(codec) for codec in app.codecs)
        raise web.HTTPNotAcceptable(text=f"Accept {accept!r} names none of: {offered}")
    return answer


def body_codec(app: Homer, request: web.Request) -> Codec | None:
    """The codec of the request body (``None``: there is none), or
    :class:`UnsupportedMediaType` when its ``Content-Type`` names none: a form or
    plain text is never read as parameters."""
    if not request.body_exists:
        return None
    header = request.headers.get("Content-Type")
    codec = app.codecs.for_content_type(header) if header else None
    if codec is None:
        offered = ", ".join(media_type(known) for known in app.codecs)
        named = repr(header) if header else "none"
        raise UnsupportedMediaType(f"Content-Type {named} is none of: {offered}")
    return codec


def encoded(codec: Codec, envelope: Envelope, status: int) -> web.Response:
    return web.Response(
        body=codec.encode(envelope), status=status, headers={"Content-Type": media_type(codec)}
    )


async def post_op(request: web.Request, app: Homer) -> web.Response:
    """``POST /api/ops/{op}``."""
    app.metrics.requests.inc()
    answer = negotiate(app, request)
    try:
        codec = body_codec(app, request)
        raw = await read_body(request) if codec is not None else b""
        try:
            params = codec.decode(raw) if codec is not None and raw.strip() else {}
        except DecodeError as exc:
            raise InvalidInput(str(exc)) from None
        if not isinstance(params, dict):
            raise InvalidInput("the body must be a map of the op's parameters")
        result = await app.pipeline.run(op_call(app, request, request.match_info["op"], params))
    except InternalError:
        raise  # answered as any HTTP route's failure is, by the errors middleware
    except HomerError as exc:
        app.metrics.errors.labels(code=str(exc.code)).inc()
        error = error_envelope(None, str(exc.code), exc.message, **error_details(exc))
        response = encoded(answer, error, STATUS.get(exc.code, 500))
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    return encoded(answer, reply_envelope(None, result), 200)
