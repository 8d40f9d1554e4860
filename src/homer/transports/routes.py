"""Declaring an HTTP route once: how it is served and how the OpenAPI document
describes it.

Every route of the HTTP port is a :class:`Route` in one table
(:func:`homer.transports.site.http_routes`). :func:`add_routes` registers the
table with aiohttp, and :mod:`homer.transports.openapi` builds
``/api/openapi.json`` from the same table, so the document cannot describe a
route the server does not have, nor a body type it does not parse with.

A route is served one of two ways:

- ``handler``: a REST route. It runs as the caller through the request
  pipeline (:mod:`homer.core.pipeline`): the bearer token, the rate limit, the
  route's ``permission``, then its typed query, then its typed body, then the
  handler, which gets a :class:`RouteCall` and calls services or operations.
- ``serve``: any other route, an aiohttp handler given the request as it is
  (streams, accounts, health). One that declares a ``body`` reads it with
  :func:`route_body`, which parses it with that very type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from aiohttp import web
from msgspec import UNSET

from homer.core.pipeline import Call, Context
from homer.errors import InvalidInput, UnknownOp
from homer.identity.accounts import User
from homer.identity.permissions import Actor
from homer.protocol.convert import convert
from homer.store.records import name_key
from homer.transports.http import (
    APP_KEY,
    BODY_LIMITS_KEY,
    expect_within_limit,
    json_response,
    read_body,
    require_json,
)
from homer.transports.http_ops import RequestPeer, request_bearer

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = ["ROUTES_KEY", "ROUTE_KEY", "Route", "RouteCall", "add_routes", "as_body", "route_body"]

Serve = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class RouteCall:
    """What a REST handler gets: the caller's context, and the query and body typed."""

    ctx: Context
    request: web.Request
    query: Any
    body: Any

    @property
    def app(self) -> Homer:
        return self.ctx.app

    @property
    def user(self) -> User:
        return self.ctx.user

    @property
    def actor(self) -> Actor:
        return self.ctx.actor

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def is_me(self, name: str) -> bool:
        return name_key(name) == name_key(self.user.name)

    async def op(self, op: str, **params: Any) -> Any:
        """Run ``op`` for the caller, as ``POST /api/ops/{op}`` would (unset parameters
        left out); the request was authenticated and counted once, at the route."""
        handler = self.app.handlers.get(op)
        if handler is None:
            raise UnknownOp(f"unknown op {op!r}")
        given = {key: value for key, value in params.items() if value is not UNSET}
        return await self.app.call(handler, self.ctx, given)


RouteHandler = Callable[[RouteCall], Awaitable[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """One HTTP route. The description is ``description``, or the docstring of its
    ``handler`` or ``serve``."""

    method: str
    path: str
    summary: str
    tag: str
    #: A REST route's handler: run as the caller through the request pipeline.
    handler: RouteHandler | None = None
    #: Any other route's aiohttp handler.
    serve: Serve | None = None
    description: str = ""
    #: ``bearer``: a token is required; ``optional``: it may come in the header.
    auth: Literal["bearer", "optional", "none"] = "bearer"
    #: A REST route's answer: the body's type (a tuple: one of these; ``None``: none).
    answer: Any = None
    #: A REST route's status when it succeeds.
    status: int = 200
    #: Another route's answers, or a REST route's besides ``answer``: status -> media
    #: type -> the body's type (a dict: a JSON Schema as it is).
    answers: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    query: type[msgspec.Struct] | None = None
    #: Headers a route that is not a REST route reads, as OpenAPI parameters.
    headers: tuple[Mapping[str, Any], ...] = ()
    body: type[msgspec.Struct] | None = None
    #: A REST route that reads its request body itself, as a stream (an upload): the
    #: media types it takes -> the body's schema. The pipeline leaves the body unread.
    upload: Mapping[str, Any] | None = None
    #: Whether a body must be sent; ``None``: when one of its fields is required.
    body_required: bool | None = None
    #: Statuses of refusals (with an error body in JSON) besides those every REST
    #: route can give.
    errors: tuple[int, ...] = ()
    #: Refusals in plain text (from aiohttp itself).
    text_errors: tuple[int, ...] = ()
    #: The permission the caller needs, checked before the request is read further.
    permission: str | None = None
    #: The operations a REST route runs.
    ops: tuple[str, ...] = ()
    #: Bounds that come from the configuration: query parameter -> schema keywords.
    bounds: Callable[[Homer], dict[str, dict[str, Any]]] | None = None
    #: The largest body the route takes, in bytes (``None``: ``limits.max_frame``).
    max_body: Callable[[Homer], int] | None = None
    #: Whether ``app`` serves the route at all (``None``: always).
    when: Callable[[Homer], bool] | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.serve is None):
            raise TypeError(f"{self.method} {self.path}: give a handler or serve, not both")

    @property
    def name(self) -> str:
        func = self.handler or self.serve
        return getattr(func, "__name__", "route")

    @property
    def doc(self) -> str:
        func = self.handler or self.serve
        return self.description or (getattr(func, "__doc__", None) or "")

    @property
    def needs_body(self) -> bool:
        if self.body_required is not None:
            return self.body_required
        # No body reads as {}: one is needed when a field is.
        return self.body is not None and any(f.required for f in msgspec.structs.fields(self.body))


@dataclass(frozen=True, slots=True)
class _Asked:
    request: web.Request
    query: Any


@dataclass(frozen=True, slots=True)
class _RestTarget:
    """A REST route as the pipeline sees it: every one needs a token."""

    route: Route
    auth: bool = True

    @property
    def name(self) -> str:
        return self.route.name

    @property
    def requires(self) -> str | None:
        return self.route.permission

    def decode(self, request: web.Request) -> _Asked:
        return _Asked(request, _query(request, self.route.query))

    async def invoke(self, ctx: Context, asked: _Asked) -> Any:
        handler = self.route.handler
        assert handler is not None
        # The body is read only once the caller is known and allowed (an upload's by
        # the handler, as it streams).
        body = None
        if self.route.upload is None:
            require_json(asked.request)
            body = _decode(await read_body(asked.request), self.route.body)
        return await handler(RouteCall(ctx, asked.request, asked.query, body))


#: What reading a body raises when it is too large or too slow, or the client left:
#: answered by aiohttp and the errors middleware, not a failure of the route.
_HTTP_ERRORS: tuple[type[Exception], ...] = (web.HTTPException, ConnectionResetError)


def _rest(route: Route) -> Serve:
    target = _RestTarget(route)
    # Only a route that runs operations may act as a live session (Homer-Session).
    live = bool(route.ops)

    async def serve(request: web.Request) -> web.StreamResponse:
        app = request.app[APP_KEY]
        app.metrics.requests.inc()
        peer = RequestPeer(request.remote or "unknown", app.clock())
        call = Call(
            target,
            Context(app, peer, None),
            request,
            request_bearer(request, live=live),
            own_errors=_HTTP_ERRORS,
        )
        answer = await app.pipeline.run(call)
        if answer is None:
            return web.Response(status=204)
        if isinstance(answer, web.StreamResponse):  # a download, written by the handler
            return answer
        return json_response(answer, route.status)

    serve.__name__ = serve.__qualname__ = route.name
    return serve


#: The route a request came by, for :func:`route_body`.
ROUTE_KEY: web.RequestKey[Route] = web.RequestKey("route", Route)


def _plain(route: Route) -> Serve:
    assert route.serve is not None
    inner = route.serve

    async def serve(request: web.Request) -> web.StreamResponse:
        request[ROUTE_KEY] = route
        return await inner(request)

    serve.__name__ = serve.__qualname__ = route.name
    return serve


async def route_body(request: web.Request) -> Any:
    """The request's JSON body, parsed with the ``body`` type of its route; ``None``
    for no body where the route needs none."""
    route = request[ROUTE_KEY]
    assert route.body is not None
    require_json(request)
    raw = await read_body(request) if request.can_read_body else b""
    if not raw.strip() and not route.needs_body:
        return None
    return _decode(raw, route.body, must_be_object=True)


#: The routes an HTTP application serves, as :func:`add_routes` registered them.
ROUTES_KEY: web.AppKey[tuple[Route, ...]] = web.AppKey("routes", tuple)


def add_routes(http: web.Application, routes: tuple[Route, ...]) -> None:
    """Register with ``http`` those of ``routes`` its application serves, and keep
    them at :data:`ROUTES_KEY` (for the OpenAPI document)."""
    app = http[APP_KEY]
    served = tuple(route for route in routes if route.when is None or route.when(app))
    limits: dict[Any, int] = {}
    for route in served:
        serve = _rest(route) if route.handler is not None else _plain(route)
        if route.max_body is not None:
            limits[serve] = route.max_body(app)
        if route.method == "GET":  # HEAD too, as aiohttp's add_get does (health checks)
            http.router.add_get(route.path, serve, expect_handler=expect_within_limit)
        else:
            http.router.add_route(
                route.method, route.path, serve, expect_handler=expect_within_limit
            )
    http[ROUTES_KEY] = served
    http[BODY_LIMITS_KEY] = limits


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


def _decode(raw: bytes, kind: type[msgspec.Struct] | None, *, must_be_object: bool = False) -> Any:
    if kind is None:
        if raw.strip():
            raise InvalidInput("this route takes no body")
        return None
    if must_be_object:
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise InvalidInput(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput("the body must be a JSON object")
        return as_body(data, kind)
    try:
        return msgspec.json.decode(raw if raw.strip() else b"{}", type=kind)
    except msgspec.ValidationError:
        # Maybe a whole number written as 5.0: read again as data, then converted.
        return as_body(msgspec.json.decode(raw if raw.strip() else b"{}"), kind)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None


def as_body(data: Mapping[str, Any], kind: type[msgspec.Struct]) -> Any:
    """A JSON object already decoded, as ``kind``; :class:`InvalidInput` when it does not fit."""
    try:
        return convert(data, kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
