"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/openapi.json``.

It is built from what the server runs, not written beside it: the one table
of routes that also registers them (:class:`~homer.transports.routes.Route`,
kept at :data:`~homer.transports.routes.ROUTES_KEY`), every operation's
parameter type under ``/api/ops/{op}``, the application's own routes, and the
msgspec types that parse requests and shape answers, turned into JSON Schema
by :func:`msgspec.json.schema_components`. Bounds that come from the
configuration (the history page size) are the configured ones.

The document is built on the first request and again only when the
operations or the application's routes change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import msgspec
from aiohttp import web
from msgspec import UNSET, UnsetType

import homer
from homer.core.fields import MessageSeq, Name, ReactionKey, RoomId
from homer.core.pipeline import SESSION_OPS
from homer.errors import ErrorCode
from homer.identity.schema import MISSING
from homer.protocol.headers import SESSION_HEADER
from homer.transports.http import APP_KEY
from homer.transports.rest_types import OP_REPLIES
from homer.transports.routes import ROUTES_KEY, Route

if TYPE_CHECKING:
    from homer.core.app import Homer

__all__ = [
    "DOCUMENT_PATH",
    "OPENAPI_CACHE_KEY",
    "Cached",
    "build_document",
    "openapi_document",
]

#: Where the document is served (pinned: clients and tools rely on it).
DOCUMENT_PATH = "/api/openapi.json"

T = TypeVar("T")


# -- what the routes of homer.transports.site take and answer -------------------------


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    """A refusal: a stable ``code`` to switch on and a ``message`` for people;
    ``fields`` names each invalid field with its reason, ``retry_after`` says how
    many seconds to wait after ``rate_limited``."""

    code: ErrorCode
    message: str
    fields: dict[str, str] | UnsetType = UNSET
    retry_after: float | UnsetType = UNSET


class Reply(msgspec.Struct, Generic[T], forbid_unknown_fields=True):
    """The reply envelope of an operation."""

    op: Literal["reply"]
    body: T


class ErrorEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    """The error envelope of an operation."""

    op: Literal["error"]
    body: ErrorBody


class PingReply(msgspec.Struct, forbid_unknown_fields=True):
    server_time: float


_JSON = "application/json"
_MSGPACK = "application/msgpack"
_TEXT: dict[str, Any] = {"type": "string"}

_TAGS = {
    "auth": "Accounts and tokens",
    "account": "The caller's own account",
    "rooms": "Rooms, members, history and read markers",
    "messages": "Editing, redacting and reacting to messages; threads and search",
    "files": "Files shared in messages: upload and download",
    "users": "Administration of users (admin permissions)",
    "groups": "Administration of groups and permissions (admin permissions)",
    "ops": "Any operation over HTTP",
    "streams": "Live traffic: WebSocket, Server-Sent Events, long-poll",
    "server": "Health, metrics, the web client, this document",
    "application": "The application's own routes",
}

_STATUS = {
    101: "Switching Protocols",
    200: "OK",
    201: "Created",
    204: "No Content",
    206: "Partial Content: the byte range asked for",
    304: "Not Modified: the copy named in If-None-Match is current",
    400: "invalid: malformed or unacceptable input",
    401: "unauthenticated, invalid_token or token_revoked: no valid token",
    403: "forbidden: not allowed (a permission, a membership)",
    404: "not_found (or unknown_op): no such thing",
    406: "the Accept header names no codec the server speaks",
    409: "conflict: the current state forbids it (a name taken, a limit reached)",
    413: "too_large: a body, text or data over the configured limit",
    415: "unsupported_media_type: a body that is not JSON (for /api/ops: in no codec "
    "the server speaks)",
    416: "Range Not Satisfiable: the range selects no byte of the file",
    429: "rate_limited: wait `retry_after` seconds",
    503: "unavailable: the store did not answer; nothing was done",
}


def _schema_of(kind: Any) -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(kind)
    return schema


#: Operations the document leaves out: over HTTP, every request carries its token.
_NOT_OVER_HTTP = frozenset({"hello"})
#: Path parameters: a description, a schema, an example.
_PATH_PARAMETERS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "room": ("A room id.", _schema_of(RoomId), "lobby"),
    "user": ("A user name (compared case-insensitively).", _schema_of(Name), "alice"),
    "queue": ("A long-poll queue id.", {"type": "string", "minLength": 1}, None),
    "file": ("A file id, as the upload answered it.", {"type": "string", "minLength": 1}, None),
    "seq": ("The sequence number of a message.", _schema_of(MessageSeq), 1),
    "key": ("A reaction: a `:shortcode:` or an emoji.", _schema_of(ReactionKey), ":thumbsup:"),
}
#: Example values of request fields, by name (the room, user and group of the examples).
_EXAMPLES: dict[str, Any] = {
    "room": "lobby",
    "user": "alice",
    "cid": "c-0001",
    "text": "hello",
    "seq": 1,
    "status": "away",
}
_NAMES = {
    "/api/users/": ("A user name (compared case-insensitively).", "alice"),
    "/api/groups/": ("A group name (compared case-insensitively).", "staff"),
}
#: Where a JSON request body is refused for its media type, a JSON error body.
_UNSUPPORTED = 415
_PARAMETER = re.compile(r"\{([^}]+)\}")
_OP_NAME = re.compile(r"^[A-Za-z0-9._~-]+$")
_SESSION_HEADER = {
    "name": SESSION_HEADER,
    "in": "header",
    "required": False,
    "description": "Run as this open SSE stream or long-poll queue of the caller "
    "(a `join` then subscribes it); empty: none.",
    "schema": {"type": "string"},
}
_LIVE_SESSION_HEADER = {
    **_SESSION_HEADER,
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "The open SSE stream or long-poll queue of the caller this operation "
    "acts on (its `session`).",
}


class _Schema:
    """Where the schema of a type goes, once every type is known."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


@dataclass
class _Builder:
    app: Homer
    #: Whether each operation's parameters are described by their type (or as any object).
    typed_ops: bool = True
    kinds: list[Any] = field(default_factory=list)

    def schema(self, kind: Any) -> Any:
        if isinstance(kind, dict):
            return kind
        if isinstance(kind, tuple):
            return {"oneOf": [self.schema(one) for one in kind]}
        if kind not in self.kinds:
            self.kinds.append(kind)
        return _Schema(self.kinds.index(kind))

    def content(self, media: Mapping[str, Any]) -> dict[str, Any]:
        return {name: {"schema": self.schema(kind)} for name, kind in media.items()}

    def body(self, kind: Any) -> dict[str, Any]:
        """A JSON request body, with an example when its fields have usual names."""
        media: dict[str, Any] = {"schema": self.schema(kind)}
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            fields = msgspec.structs.fields(kind)
            example = {f.encode_name: _EXAMPLES[f.name] for f in fields if f.name in _EXAMPLES}
            required = {f.name for f in fields if f.required}
            if example and required <= example.keys():
                media["example"] = example
        return {_JSON: media}

    def answer(self, status: int, media: Mapping[str, Any]) -> dict[str, Any]:
        described: dict[str, Any] = {"description": _STATUS.get(status, str(status))}
        if media:
            described["content"] = self.content(media)
        return described

    def uploads(self, upload: Mapping[str, Any]) -> dict[str, Any]:
        """An upload's media types: ``*/*`` stands for each type ``files.types`` takes."""
        media = dict(upload)
        anything = media.pop("*/*", None)
        if anything is None:
            return media
        for kind in self.app.config.files.types:
            media.setdefault(kind, anything)
        return media

    def errors(self, statuses: Iterable[int], envelope: bool = False) -> dict[str, Any]:
        media = {_JSON: ErrorEnvelope, _MSGPACK: ErrorEnvelope} if envelope else {_JSON: ErrorBody}
        return {str(status): self.answer(status, media) for status in sorted(set(statuses))}

    def parameters(
        self, path: str, query: type[msgspec.Struct] | None, bounds: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name in _PARAMETER.findall(path):
            description, schema, example = _PATH_PARAMETERS.get(
                name, ("", {"type": "string", "minLength": 1}, None)
            )
            if name == "permission":
                names = sorted(self.app.identity.authorizer.permissions.names)
                description, example = "A permission name.", "room.moderate"
                schema = {"type": "string", "enum": names}
            elif name == "op":
                # Those with a path of their own are described there; hello has none.
                described_ops = sorted(
                    {op for op in self.app.handlers if _OP_NAME.fullmatch(op)} | _NOT_OVER_HTTP
                )
                description = (
                    "An operation's name: one not listed at a path of its own (`hello` is "
                    "none: over HTTP every request carries its token)."
                )
                schema = {"type": "string", "minLength": 1, "not": {"enum": described_ops}}
            elif name == "name":
                prefix = next((p for p in _NAMES if path.startswith(p)), "/api/users/")
                description, example = _NAMES[prefix]
            parameter = {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": dict(schema),
            }
            if example is not None:
                parameter["example"] = example
            found.append(parameter)
        if query is not None:
            (ref,), components = msgspec.json.schema_components([query])
            described = components[ref["$ref"].rsplit("/", 1)[-1]]
            required = set(described.get("required", ()))
            rule = _QUERY_RULES.get(query.__name__)
            if rule is not None:  # one object, exploded: a schema over every parameter
                properties = {
                    name: {**schema, **bounds.get(name, {})}
                    for name, schema in described["properties"].items()
                }
                schema = {
                    "type": "object",
                    "properties": properties,
                    "additionalProperties": False,
                    **({"required": sorted(required)} if required else {}),
                    **rule,
                }
                found.append(
                    {
                        "name": "query",
                        "in": "query",
                        "required": bool(required),
                        "style": "form",
                        "explode": True,
                        "description": _QUERY_ABOUT[query.__name__],
                        "schema": schema,
                    }
                )
                return found
            for name, schema in described["properties"].items():
                schema = {**schema, **bounds.get(name, {})}
                parameter = {"name": name, "in": "query", "required": name in required}
                if "description" in schema:
                    parameter["description"] = schema.pop("description")
                found.append({**parameter, "schema": schema})
        return found

    def endpoint(self, endpoint: Route) -> dict[str, Any]:
        """A REST route (:mod:`homer.transports.rest`)."""
        description = _doc(endpoint.doc)
        if endpoint.permission:
            description += f"\n\nNeeds the permission `{endpoint.permission}`."
        if endpoint.ops:
            names = " or ".join(f"`{op}`" for op in endpoint.ops)
            description += f"\n\nRuns the {names} operation."
        bounds = endpoint.bounds(self.app) if endpoint.bounds is not None else {}
        parameters = self.parameters(endpoint.path, endpoint.query, bounds)
        if endpoint.ops:
            parameters.append(_SESSION_HEADER)
        described: dict[str, Any] = {
            "operationId": endpoint.name,
            "summary": endpoint.summary,
            "description": description,
            "tags": [endpoint.tag],
            "security": [{"bearer": []}],
            "parameters": parameters,
        }
        if endpoint.body is not None:
            described["requestBody"] = {
                "required": endpoint.needs_body,
                "content": self.body(endpoint.body),
            }
        if endpoint.upload is not None:
            described["requestBody"] = {
                "required": True,
                "content": self.content(self.uploads(endpoint.upload)),
            }
        answer = {} if endpoint.answer is None else {_JSON: endpoint.answer}
        refusals = {400, 401, 413, _UNSUPPORTED, 429, 503, *endpoint.errors}
        if endpoint.ops:
            refusals.add(404)  # a Homer-Session that is gone
        if endpoint.permission:
            refusals.add(403)
        described["responses"] = {
            str(endpoint.status): self.answer(endpoint.status, answer),
            **{
                str(status): self.answer(status, media)
                for status, media in endpoint.answers.items()
            },
            **self.errors(tuple(refusals)),
        }
        if endpoint.permission:
            described["x-permission"] = endpoint.permission
        return described

    def route(self, route: Route) -> dict[str, Any]:
        """Any other route: a stream, an account route, the server's own."""
        described: dict[str, Any] = {
            "operationId": _operation_id(route.method, route.path),
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": [*self.parameters(route.path, route.query, {}), *route.headers],
        }
        if route.description:
            described["description"] = route.description
        described["security"] = {
            "bearer": [{"bearer": []}],
            "optional": [{"bearer": []}, {}],
            "none": [],
        }[route.auth]
        if route.body is not None:
            described["requestBody"] = {
                "required": route.needs_body,
                "content": self.body(route.body),
            }
        responses = {
            str(status): self.answer(status, media) for status, media in route.answers.items()
        }
        errors = {*route.errors, 503} if route.errors else set()
        if route.body is not None:
            errors.add(_UNSUPPORTED)
        responses.update(self.errors(tuple(errors)))
        for status in route.text_errors:
            responses[str(status)] = self.answer(status, {"text/plain": _TEXT})
        described["responses"] = responses
        return described

    def operation(self, op: str | None) -> dict[str, Any]:
        """``POST /api/ops/{op}``, for one operation or for any."""
        params: Any = {"type": "object"}
        reply: Any = Reply[Any]
        auth, requires, needs_body = True, None, False
        if op is not None:
            handler = self.app.handlers[op]
            auth, requires = handler.auth, handler.requires
            if handler.params is None:
                params = {"type": "object", "maxProperties": 0, "additionalProperties": False}
            elif self.typed_ops and _describable(handler.params):
                params = handler.params
                # No body reads as {}: one is needed when a field is.
                needs_body = any(f.required for f in msgspec.structs.fields(handler.params))
            if handler.func.__module__ == "homer.core.ops":  # Homer's own, not replaced
                if op in OP_REPLIES:
                    reply = Reply[OP_REPLIES[op]]  # type: ignore[valid-type]
                elif op == "ping":
                    reply = Reply[PingReply]
        described: dict[str, Any] = {
            "operationId": f"op_{op}" if op is not None else "post_op",
            "summary": f"The {op} operation" if op is not None else "Run any operation",
            "tags": ["ops"],
            "security": [{"bearer": []}] if auth else [],
            "parameters": [] if op is not None else self.parameters("/api/ops/{op}", None, {}),
            "requestBody": {"required": needs_body, "content": self.body(params)},
        }
        description = (
            "docs/protocol.md describes each operation."
            if op is None
            else f"The `{op}` operation over HTTP (docs/protocol.md)."
        )
        if requires:
            description += f" Needs the permission `{requires}`."
            described["x-permission"] = requires
        described["description"] = description
        described["parameters"].append(
            _LIVE_SESSION_HEADER if op in SESSION_OPS else _SESSION_HEADER
        )
        refusals = {400, 404, _UNSUPPORTED, 429, 503}
        if auth:
            refusals.update((401, 403, 409))
        responses = {
            "200": self.answer(200, {_JSON: reply, _MSGPACK: reply}),
            **self.errors(tuple(refusals), envelope=True),
            # Too large to read (an error body), or too large a text (an error envelope).
            "413": self.answer(413, {_JSON: (ErrorEnvelope, ErrorBody), _MSGPACK: ErrorEnvelope}),
            "406": self.answer(406, {"text/plain": _TEXT}),
        }
        described["responses"] = dict(sorted(responses.items()))
        return described

    def resolve(self, document: Any) -> Any:
        """Put each type's schema where it was asked for; the components beside."""
        refs, components = msgspec.json.schema_components(
            self.kinds, ref_template="#/components/schemas/{name}"
        )
        renames = {
            name: name.lstrip("_")
            for name in components
            if name.startswith("_") and name.lstrip("_") not in components
        }

        def walk(node: Any) -> Any:
            if isinstance(node, _Schema):
                return walk(refs[node.index])
            if isinstance(node, dict):
                out = {key: walk(value) for key, value in node.items()}
                ref = out.get("$ref")
                if isinstance(ref, str):
                    prefix, _, name = ref.rpartition("/")
                    out["$ref"] = f"{prefix}/{renames.get(name, name)}"
                return out
            if isinstance(node, list):
                return [walk(item) for item in node]
            return node

        resolved = walk(document)
        resolved["components"]["schemas"] = {
            renames.get(name, name): walk(schema) for name, schema in sorted(components.items())
        }
        return resolved


def _doc(text: str | None) -> str:
    """A docstring as one paragraph of Markdown (reST's double backquotes made single)."""
    return " ".join((text or "").replace("``", "`").split())


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"
    return f"{method.lower()}_{words}"


def build_document(http: web.Application) -> dict[str, Any]:
    """The OpenAPI document of ``http`` (see :func:`homer.transports.http.build_http_app`)."""
    try:
        return _build(http, typed_ops=True)
    except (TypeError, ValueError, KeyError):
        # Two types of the application's operations share a module and a name: every
        # operation's parameters are then described as "an object".
        return _build(http, typed_ops=False)


def _describable(kind: Any) -> bool:
    """Whether JSON Schema can describe ``kind`` (an application's type may hold any)."""
    try:
        msgspec.json.schema_components([kind])
    except (TypeError, ValueError):
        return False
    return True


def _build(http: web.Application, *, typed_ops: bool) -> dict[str, Any]:
    app = http[APP_KEY]
    builder = _Builder(app, typed_ops)
    paths: dict[str, dict[str, Any]] = {}
    for route in http[ROUTES_KEY]:
        if route.handler is not None:
            operation = builder.endpoint(route)
        elif route.path == "/api/ops/{op}":
            operation = builder.operation(None)
        else:
            operation = builder.route(route)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    for op in sorted(app.handlers):
        if _OP_NAME.fullmatch(op) and op not in _NOT_OVER_HTTP:
            paths.setdefault(f"/api/ops/{op}", {})["post"] = builder.operation(op)
    for method, path in sorted(app.routes):
        served = paths.setdefault(path, {})
        if method.lower() not in served:
            served[method.lower()] = {
                "summary": f"The application's {method} {path}",
                "tags": ["application"],
                "responses": {"default": {"description": "whatever the application answers"}},
            }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Homer",
            "version": homer.__version__,
            "description": "The HTTP API of a Homer node. Errors carry a stable `code` "
            "(docs/protocol.md, Errors); tokens go in `Authorization: Bearer`.",
        },
        "servers": [
            {
                "url": "/",
                "description": "The server that serves this document (under the mount point "
                "of the application it is mounted in, if any).",
            }
        ],
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from /api/login (a JWT or an encrypted token, "
                    "as the server is configured).",
                }
            },
        },
    }
    resolved: dict[str, Any] = builder.resolve(document)
    _configured(app, resolved["components"]["schemas"])
    return resolved


def _configured(app: Homer, schemas: dict[str, Any]) -> None:
    """Bounds that come from the configuration, into the schemas of the bodies they
    bound: text lengths, page sizes, permission names, the user schema's attributes."""
    limits = app.config.limits
    text = {"maxLength": limits.max_text}
    names = sorted(app.identity.authorizer.permissions.names)
    permissions = {"items": {"type": "string", "enum": names}}
    bounds: dict[str, dict[str, dict[str, Any]]] = {
        "Send": {"text": text},
        "Edit": {"text": text},
        "Broadcast": {"text": text},
        "PostedMessage": {"text": text},
        "EditedMessage": {"text": text},
        "History": {"limit": {"maximum": limits.history_limit}},
        "Search": {"limit": {"maximum": app.config.messages.search_limit}},
        "NewGroup": {"permissions": permissions},
        "GroupChanges": {"permissions": permissions},
        "NewUser": {"attributes": _attributes(app, changes=False)},
        "UserChanges": {"attributes": _attributes(app, changes=True)},
        "AttributeChanges": {"attributes": _attributes(app, changes=True)},
    }
    for name, fields in bounds.items():
        properties = schemas.get(name, {}).get("properties", {})
        for field_name, extra in fields.items():
            if field_name in properties:
                properties[field_name] = _merged(properties[field_name], extra)
    for name, rule in _RULES.items():
        if name in schemas:
            schemas[name].update(rule)
    registration = schemas.get("Registration")
    if registration is not None:  # the attributes sit beside the name and password
        attributes = _attributes(app, changes=False)
        registration["properties"].update(attributes["properties"])
        registration["required"] = [*registration["required"], *attributes.get("required", ())]
        registration["additionalProperties"] = False


#: What a message needs: text, data or files (:meth:`MessageService.send
#: <homer.messaging.messages.MessageService.send>`).
_SOME_CONTENT = {
    "anyOf": [
        {"required": ["text"], "properties": {"text": {"minLength": 1}}},
        {"required": ["data"], "properties": {"data": {"not": {"type": "null"}}}},
        {"required": ["files"], "properties": {"files": {"minItems": 1}}},
    ]
}


def _given(*names: str) -> dict[str, Any]:
    """One of ``names`` is given, and not ``null``."""
    given = [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in names
    ]
    return given[0] if len(given) == 1 else {"anyOf": given}


#: How history pages (the ``history`` operation): a thread forward only, by sequence
#: or by time, after or before.
_ONE_WAY = {
    "allOf": [
        {"not": {"allOf": [_given("thread"), _given("before", "since", "until")]}},
        {"not": {"allOf": [_given("after"), _given("before")]}},
        {"not": {"allOf": [_given("after", "before"), _given("since", "until")]}},
    ]
}
#: Rules between the query parameters of a route, by the name of its query type
#: (the parameters are then one object, exploded).
_QUERY_RULES: dict[str, dict[str, Any]] = {"HistoryQuery": _ONE_WAY}
_QUERY_ABOUT = {
    "HistoryQuery": "By sequence (`after` or `before`, not both) or by time (`since` "
    "and/or `until`), not both."
}
#: Rules between the fields of a body, by the name of its schema.
_RULES: dict[str, dict[str, Any]] = {
    "Send": _SOME_CONTENT,
    "PostedMessage": _SOME_CONTENT,
    "History": _ONE_WAY,
}


def _merged(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` into ``schema``, or into each of its ``anyOf`` but ``null``."""
    if "anyOf" in schema:
        return {
            **schema,
            "anyOf": [
                one if one.get("type") == "null" else {**one, **extra} for one in schema["anyOf"]
            ],
        }
    return {**schema, **extra}


#: Any character but ``@`` and what Python calls white space (``str.isspace``).
_NOT_SPACE = r"[^@\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
#: The JSON Schema of an attribute declared in the configuration, by its type.
_ATTRIBUTE_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "email": {
        "type": "string",
        "pattern": rf"^{_NOT_SPACE}+@{_NOT_SPACE[:-1]}.]+(\.{_NOT_SPACE[:-1]}.]+)+$",
        "maxLength": 254,
    },
    "any": {},
}


def _attributes(app: Homer, *, changes: bool) -> dict[str, Any]:
    """The attributes of the user schema, as an object: each described by its
    declaration in the configuration (any value when the application declared it in
    code); ``null`` removes an optional one when ``changes``."""
    declared = app.config.identity.attributes
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, attribute in app.identity.accounts.schema.attributes.items():
        spec = declared.get(name)
        schema: dict[str, Any] = {}
        if spec is not None:
            schema = dict(_ATTRIBUTE_TYPES[spec.type])
            if spec.min_length is not None:
                schema["minLength"] = spec.min_length
            if spec.max_length is not None:
                schema["maxLength"] = spec.max_length
            if spec.pattern is not None:
                schema["pattern"] = spec.pattern
            if spec.choices is not None:
                schema["enum"] = list(spec.choices)
        if attribute.description:
            schema["description"] = attribute.description
        if changes and not attribute.required and schema.get("type"):
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[name] = schema
        if (
            attribute.required
            and not changes
            and attribute.default is MISSING
            and (attribute.default_factory is None)
        ):
            required.append(name)
    described: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        described["required"] = required
    return described


@dataclass
class Cached:
    """The document last built, and what it was built from."""

    key: Any = None
    body: bytes = b""


OPENAPI_CACHE_KEY: web.AppKey[Cached] = web.AppKey("openapi", Cached)


def _version(app: Homer) -> Any:
    """What the document depends on that can change while the server runs."""
    handlers = tuple(
        (op, handler.params, handler.auth, handler.requires, handler.func.__module__)
        for op, handler in sorted(app.handlers.items())
    )
    return handlers, tuple(sorted(app.routes))


async def openapi_document(request: web.Request) -> web.Response:
    """``GET /api/openapi.json``."""
    cache = request.app[OPENAPI_CACHE_KEY]
    version = _version(request.app[APP_KEY])
    if cache.key != version:
        cache.body = msgspec.json.encode(build_document(request.app))
        cache.key = version
    return web.Response(body=cache.body, content_type="application/json")
