"""A session: one authenticated connection's state, whatever its transport.

Transports implement :class:`Peer`; everything above them (the router, the
built-in operations, the services) talks to a peer and its session only.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

from homer.core.limits import TokenBucket
from homer.identity.accounts import User
from homer.messaging.hub import Outgoing
from homer.protocol.envelope import Envelope

__all__ = ["CloseCode", "Peer", "Session"]

_NO_ROOMS: frozenset[str] = frozenset()


class CloseCode:
    """Why a connection was closed (WebSocket close codes; other transports say the same)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    POLICY = 1008
    TOO_LARGE = 1009
    INTERNAL = 1011
    #: The token expired or was revoked: get a new one and reconnect.
    UNAUTHENTICATED = 4001
    #: The connection fell too far behind: reconnect and resume from the last seq.
    TOO_SLOW = 4008
    #: Too many connections for this user.
    TOO_MANY = 4029


class Peer(Protocol):
    """A connection as the server sees it."""

    session: Session | None
    #: The client's address, for logs and limits.
    address: str
    #: Seconds since the epoch of the last bytes received (heartbeats).
    last_seen: float
    #: When the connection was opened (it must say hello within the handshake timeout).
    opened_at: float
    #: When the server last pinged it (it is closed if nothing comes back in time).
    pinged_at: float

    def push(self, out: Outgoing) -> None:
        """A fanned-out event; queued without blocking."""

    def push_many(self, outs: list[Outgoing]) -> None:
        """Several fanned-out events, written at once."""

    def send(self, envelope: Envelope) -> None:
        """An event for this connection alone (a reply, an error)."""

    def ping(self) -> None:
        """Ask the client for a sign of life."""

    def close(self, code: int, reason: str) -> None:
        """Say why, then close."""


class Session:
    __slots__ = (
        "away",
        "bucket",
        "expires_at",
        "id",
        "issued_at",
        "jti",
        "peer",
        "rooms",
        "typing",
        "user",
    )

    def __init__(self, peer: Peer, user: User, claims: dict[str, Any]) -> None:
        self.id = secrets.token_urlsafe(9)
        self.peer = peer
        self.user = user
        self.bucket: TokenBucket | None = None
        #: Whether this session said it is away (presence).
        self.away = False
        #: Only what revocation and expiry need of the token (an idle session is small).
        self.jti: str | None = None
        self.issued_at: float | None = None
        self.expires_at: float | None = None
        self.adopt(claims)
        #: Rooms this session is subscribed to: the user's memberships. Starts as a
        #: shared empty set; :meth:`add_room` makes it the session's own.
        self.rooms: set[str] | frozenset[str] = _NO_ROOMS
        #: Room -> when this session last signalled typing there (throttling).
        self.typing: dict[str, float] | None = None

    def add_room(self, room: str) -> None:
        rooms = self.rooms
        if isinstance(rooms, frozenset):
            rooms = self.rooms = set(rooms)
        rooms.add(room)

    def drop_room(self, room: str) -> None:
        if room in self.rooms:
            rooms = self.rooms
            assert isinstance(rooms, set)
            rooms.discard(room)

    def take(self, now: float, rate: float, burst: float) -> float:
        """Rate limit: 0 if this request may go, else seconds to wait. The bucket is
        made on first use: a session that only listens never needs one."""
        bucket = self.bucket
        if bucket is None:
            bucket = self.bucket = TokenBucket(rate, burst, now)
        return bucket.take(now)

    def adopt(self, claims: dict[str, Any]) -> None:
        """Take the token behind ``claims`` as this session's (hello, refresh)."""
        jti, iat, exp = claims.get("jti"), claims.get("iat"), claims.get("exp")
        self.jti = jti if isinstance(jti, str) else None
        self.issued_at = float(iat) if isinstance(iat, int | float) else None
        self.expires_at = float(exp) if isinstance(exp, int | float) else None
