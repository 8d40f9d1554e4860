"""Resource-shaped JSON routes: rooms, members, history, read markers, one's own
account, and the administration of users and groups.

Thin over the code the other transports run. Each route runs as the caller
through the request pipeline (:mod:`homer.core.pipeline`): the token, the
rate limit and the route's permission first, then its typed query and body.
What an operation already does runs that operation
(:meth:`~homer.transports.routes.RouteCall.op`), so REST, WebSocket and
``POST /api/ops/{op}`` apply the same checks, hooks and limits and give the
same answers; one's account and the admin routes call the identity services,
whose guards check the caller's permissions. No route reaches the store.

Each route is declared once, with the msgspec types of its query, body and
answer (:mod:`homer.transports.rest_types`): the same types parse the request
and describe it in the OpenAPI document (:mod:`homer.transports.openapi`).
"""

from __future__ import annotations

from homer.transports.rest_groups import GROUP_ROUTES
from homer.transports.rest_messages import MESSAGE_ROUTES
from homer.transports.rest_rooms import ROOM_ROUTES
from homer.transports.rest_users import USER_ROUTES
from homer.transports.routes import Route

__all__ = ["REST_ROUTES"]

#: Every REST route.
REST_ROUTES: tuple[Route, ...] = (*USER_ROUTES, *ROOM_ROUTES, *MESSAGE_ROUTES, *GROUP_ROUTES)
