"""The one envelope every server event travels in, and the shape of requests.

Sans-I/O: nothing here knows a socket. A request is a JSON object (or, with
another codec, a map) with an ``op``, an optional request id ``rid`` and the
operation's parameters beside them. Everything the server sends is an
:class:`Envelope`; unused fields are left out on the wire.

docs/protocol.md is the specification; keep the two in step.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Envelope",
    "Request",
    "RequestId",
    "error_envelope",
    "parse_request",
    "reply_envelope",
    "request_id",
]

RequestId = str | int


class Envelope(msgspec.Struct, omit_defaults=True, frozen=True):
    """op, room, seq, id, client id, sender, ts, body: one type for every event."""

    op: str
    #: The request this answers (replies and errors only).
    rid: RequestId | None = None
    room: str | None = None
    seq: int | None = None
    #: The message's server-assigned id.
    id: str | None = None
    #: The sender's own id for the message (idempotency key).
    cid: str | None = None
    #: The sender's name and user id.
    sender: str | None = None
    uid: str | None = None
    ts: float | None = None
    #: For room messages: ``msg``, or a membership or room change.
    kind: str | None = None
    body: Any = None


class Request(msgspec.Struct, frozen=True):
    """A decoded request: its op, its request id, and its parameters still untyped."""

    op: str
    rid: RequestId | None
    params: dict[str, Any]


class BadRequest(Exception):
    """The frame is not a request at all; ``rid`` is set when one could be read."""

    def __init__(self, message: str, rid: RequestId | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rid = rid


#: The integers of at most 64 characters, sign included (bounds excluded).
_RID_MIN = -(10**63)
_RID_MAX = 10**64


def _valid_rid(rid: object) -> bool:
    return not isinstance(rid, bool) and (
        (isinstance(rid, str) and len(rid) <= 64)
        # An integer by its value: writing a huge one out is slow, or a ValueError.
        or (isinstance(rid, int) and _RID_MIN < rid < _RID_MAX)
    )


def request_id(payload: Any) -> RequestId | None:
    """The ``rid`` of a decoded frame when it has a valid one, else ``None``: for an
    error about a request that cannot be parsed or run, so its client stops waiting."""
    rid = payload.get("rid") if isinstance(payload, dict) else None
    return rid if _valid_rid(rid) else None


def parse_request(payload: Any) -> Request:
    """Turn a decoded frame into a :class:`Request`, or raise :class:`BadRequest`."""
    if not isinstance(payload, dict):
        raise BadRequest("a request is an object with an 'op'")
    rid = payload.pop("rid", None)
    if rid is not None and not _valid_rid(rid):
        raise BadRequest("'rid' must be a string or an integer, at most 64 characters")
    op = payload.pop("op", None)
    if not isinstance(op, str) or not op:
        raise BadRequest("a request needs an 'op' string", rid)
    return Request(op, rid, payload)


def reply_envelope(rid: RequestId | None, result: Any) -> Envelope:
    return Envelope(op="reply", rid=rid, body=result)


def error_envelope(rid: RequestId | None, code: str, message: str, **extra: Any) -> Envelope:
    return Envelope(op="error", rid=rid, body={"code": code, "message": message, **extra})
