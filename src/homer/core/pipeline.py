"""The one request pipeline: how a request becomes an answer, whatever carried it.

::

    map errors -> authenticate -> rate limit -> authorise -> decode parameters -> call

Each step is a small ``(handle) -> handle`` layer, in the manner of Starlette's
middleware, composed once when the application is built (:class:`Pipeline`).
Stream transports reach it through :meth:`Homer.receive
<homer.core.app.Homer.receive>`, HTTP through ``POST /api/ops/{op}`` and every
REST route. A transport parses its own framing into a :class:`Call` and encodes
the answer, or the :class:`~homer.errors.HomerError` the pipeline raises, its
own way; nothing else runs a handler.

A layer that needs no ``await`` returns the next layer's awaitable instead of
awaiting it: the path of a ``send`` over WebSocket costs one coroutine frame
more than the handler itself, not one per layer.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from homer.core.ops import authenticate as user_of_token
from homer.core.session import Peer, Session
from homer.errors import (
    BadParams,
    HomerError,
    InternalError,
    InvalidInput,
    NotAuthorized,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from homer.identity.accounts import User
from homer.identity.permissions import Actor
from homer.protocol.convert import convert
from homer.protocol.envelope import Envelope, RequestId
from homer.protocol.headers import SESSION_HEADER

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = [
    "SESSION_HEADER",
    "SESSION_OPS",
    "Bearer",
    "Call",
    "Context",
    "Handle",
    "Handler",
    "Layer",
    "Pipeline",
    "SessionGone",
    "Target",
    "compose",
    "error_details",
]

log = logging.getLogger("homer.server")

HandlerFunc = Callable[..., Awaitable[Any]]

#: Operations that act on a live connection: over HTTP they need :data:`SESSION_HEADER`.
SESSION_OPS = frozenset({"typing", "presence", "resume", "refresh"})


@dataclass(slots=True)
class Context:
    """What a handler gets besides its parameters."""

    app: Homer
    peer: Peer
    rid: RequestId | None
    session: Session | None = None

    @property
    def user(self) -> User:
        if self.session is None:
            raise Unauthenticated("say hello with a token first")
        return self.session.user

    @property
    def actor(self) -> Actor:
        return self.app.identity.actor(self.user)

    def send(self, envelope: Envelope) -> None:
        """Send an event to this connection alone."""
        self.peer.send(envelope)


class Target(Protocol):
    """What the pipeline runs: an operation's handler, or a REST route."""

    @property
    def name(self) -> str: ...

    @property
    def auth(self) -> bool:
        """Whether the caller must be authenticated."""

    @property
    def requires(self) -> str | None:
        """The permission the caller needs, if any."""

    def decode(self, params: Any) -> Any:
        """The parameters as the target takes them, or :class:`InvalidInput`."""

    def invoke(self, ctx: Context, params: Any) -> Awaitable[Any]: ...


@dataclass(frozen=True, slots=True)
class Handler:
    """An operation's handler, as :meth:`Homer.on <homer.core.app.Homer.on>` registers it."""

    op: str
    func: HandlerFunc
    params: type[msgspec.Struct] | None
    requires: str | None
    auth: bool

    @property
    def name(self) -> str:
        return self.op

    def decode(self, params: Mapping[str, Any] | None) -> msgspec.Struct | None:
        if self.params is None:
            if params:
                names = ", ".join(sorted(params))
                raise BadParams(f"{self.op} takes no parameters (got {names})")
            return None
        try:
            return convert(params or {}, self.params)
        except msgspec.ValidationError as exc:
            raise BadParams(str(exc)) from None

    def invoke(self, ctx: Context, params: msgspec.Struct | None) -> Awaitable[Any]:
        return self.func(ctx) if self.params is None else self.func(ctx, params)


def params_type(func: HandlerFunc) -> type[msgspec.Struct] | None:
    """The ``msgspec.Struct`` a handler's second parameter is annotated with."""
    parameters = list(inspect.signature(func).parameters.values())
    if len(parameters) < 2:
        return None
    annotation = parameters[1].annotation
    if isinstance(annotation, str):  # postponed annotations: resolve just this one
        try:
            annotation = eval(annotation, getattr(func, "__globals__", {}))
        except Exception as exc:
            raise TypeError(
                f"handler {func.__qualname__}: cannot resolve {annotation!r}: {exc}"
            ) from None
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    raise TypeError(
        f"handler {func.__qualname__}: annotate its second parameter with a msgspec.Struct"
    )


@dataclass(frozen=True, slots=True)
class Bearer:
    """Who an HTTP request says it is: its token, and the live session of the same
    user (an SSE stream or a long-poll queue) it acts as, if it names one."""

    token: str | None
    session_id: str | None = None


@dataclass(slots=True)
class Call:
    """One request on its way through the pipeline; layers fill in ``ctx.session``
    and replace ``params`` with their decoded form."""

    target: Target
    ctx: Context
    params: Any
    #: How an HTTP request authenticates; ``None``: it came over a connection that
    #: said ``hello``, whose session is ``ctx.session``.
    bearer: Bearer | None = None
    #: Exceptions the transport answers itself (aiohttp's HTTP errors), let through.
    own_errors: tuple[type[Exception], ...] = ()


Handle = Callable[[Call], Awaitable[Any]]
Layer = Callable[[Handle], Handle]


def compose(layers: Iterable[Layer], innermost: Handle) -> Handle:
    """``layers`` around ``innermost``, the first one outermost."""
    handle = innermost
    for layer in reversed(list(layers)):
        handle = layer(handle)
    return handle


# -- the layers ---------------------------------------------------------------------


def map_errors(next_: Handle) -> Handle:
    """Let :class:`HomerError` (and the transport's own errors) through; log anything
    else and answer ``internal``."""

    async def handle(call: Call) -> Any:
        try:
            return await next_(call)
        except HomerError:
            raise
        except Exception as exc:
            if isinstance(exc, call.own_errors):
                raise
            ctx = call.ctx
            log.exception(
                "handler failed",
                extra={"op": call.target.name, "rid": ctx.rid, "conn": id(ctx.peer)},
            )
            raise InternalError("internal error") from None

    return handle


def authenticate(app: Homer) -> Layer:
    """A connection must have said ``hello``; an HTTP request shows its token."""

    def layer(next_: Handle) -> Handle:
        def handle(call: Call) -> Awaitable[Any]:
            if not call.target.auth:
                return next_(call)
            if call.bearer is not None:
                return _with_bearer(app, next_, call, call.bearer)
            if call.ctx.session is None:
                raise Unauthenticated("say hello with a token first")
            return next_(call)

        return handle

    return layer


async def _with_bearer(app: Homer, next_: Handle, call: Call, bearer: Bearer) -> Any:
    if bearer.token is None:
        raise Unauthenticated("send the token as 'Authorization: Bearer ...'")
    user, claims = await user_of_token(app, bearer.token)
    ctx = call.ctx
    if bearer.session_id:
        ctx.session = live_session(app, user, bearer.session_id)
        ctx.peer = ctx.session.peer
    elif call.target.name in SESSION_OPS:
        raise InvalidInput(
            f"{call.target.name} acts on a live stream or queue: name its session in the "
            f"{SESSION_HEADER} header"
        )
    else:
        ctx.session = Session(ctx.peer, user, claims)
    return await next_(call)


def rate_limit(app: Homer) -> Layer:
    """Each authenticated request takes from its user's bucket (shared by all their
    connections) and, over a connection, from that connection's own."""
    limits = app.config.limits

    def layer(next_: Handle) -> Handle:
        def handle(call: Call) -> Awaitable[Any]:
            session = call.ctx.session
            if call.target.auth and session is not None:
                now = app.clock()
                wait = app.user_buckets.take(session.user.id, now)
                if call.bearer is None:
                    wait = max(session.take(now, limits.rate, limits.burst), wait)
                if wait:
                    raise RateLimited("too many requests", round(wait, 3))
            return next_(call)

        return handle

    return layer


def authorise(app: Homer) -> Layer:
    """The permission the target requires, checked before its parameters are read."""

    def layer(next_: Handle) -> Handle:
        def handle(call: Call) -> Awaitable[Any]:
            requires = call.target.requires
            if requires is not None:
                session = call.ctx.session
                if session is None:
                    raise Unauthenticated("say hello with a token first")
                if not app.identity.authorizer.can(session.user, requires):
                    raise NotAuthorized(requires, session.user.name)
            return next_(call)

        return handle

    return layer


def decode_params(next_: Handle) -> Handle:
    def handle(call: Call) -> Awaitable[Any]:
        call.params = call.target.decode(call.params)
        return next_(call)

    return handle


def invoke(call: Call) -> Awaitable[Any]:
    return call.target.invoke(call.ctx, call.params)


class Pipeline:
    """The layers, composed once per application.

    :attr:`run` is the whole pipeline, for a request from outside;
    :attr:`call` is its inner part (authorise, decode, call) for an operation
    run on behalf of a request already authenticated and counted (a REST route
    running an operation, :meth:`Homer.call <homer.core.app.Homer.call>`).
    """

    __slots__ = ("call", "run")

    def __init__(self, app: Homer) -> None:
        self.call: Handle = compose((authorise(app), decode_params), invoke)
        self.run: Handle = compose((map_errors, authenticate(app), rate_limit(app)), self.call)


# -- live sessions over HTTP ----------------------------------------------------------


def live_session(app: Homer, user: User, session_id: str) -> Session:
    """The user's open stream or queue whose session is ``session_id``."""
    for sink in app.hub.users.get(user.id, ()):
        session = getattr(sink, "session", None)
        if isinstance(session, Session) and session.id == session_id:
            return session
    raise SessionGone(session_id)


class SessionGone(NotFound):
    """404 for a ``Homer-Session`` that names no open stream or queue of the caller;
    ``fields.session`` is ``"gone"`` for clients to switch on."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no open stream or queue of yours has session {session_id[:40]!r}: "
            "it closed or expired; open a new one"
        )
        self.fields = {"session": "gone"}


def error_details(exc: HomerError) -> dict[str, Any]:
    """What an error carries besides its code and message (``retry_after``, ``fields``)."""
    extra: dict[str, Any] = {}
    if isinstance(exc, RateLimited):
        extra["retry_after"] = exc.retry_after
    fields = getattr(exc, "fields", None)
    if fields:
        extra["fields"] = fields
    return extra
