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
from homer.protocol.lifecycle import CloseCode, Lifecycle, Timeouts

__all__ = ["BasePeer", "CloseCode", "Peer", "Session"]

_NO_ROOMS: frozenset[str] = frozenset()


class Peer(Protocol):
    """A connection as the server sees it."""

    session: Session | None
    #: The client's address, for logs and limits.
    address: str
    #: Its state, heartbeats, handshake timeout and token expiry (the node's sweep
    #: asks it what is due).
    lifecycle: Lifecycle

    def push(self, out: Outgoing) -> None:
        """A fanned-out event; queued without blocking."""

    def push_many(self, outs: list[Outgoing]) -> None:
        """Several fanned-out events, written at once."""

    def send(self, envelope: Envelope) -> None:
        """An event for this connection alone (a reply, an error)."""

    def cork(self) -> None:
        """Hold what is written until the next :meth:`send` (or a turn or two of the
        event loop), to write it together: a no-op where that saves nothing."""

    def ping(self) -> None:
        """Ask the client for a sign of life."""

    def close(self, code: int, reason: str) -> None:
        """Say why, then close."""


class BasePeer:
    """What every transport's peer holds for the server, once: its address, its
    session once it has one, its lifecycle."""

    __slots__ = ("address", "lifecycle", "session")

    def __init__(self, address: str, *, now: float, timeouts: Timeouts) -> None:
        self.address = address
        self.session: Session | None = None
        self.lifecycle = Lifecycle(now, timeouts=timeouts)

    def cork(self) -> None:
        """Nothing to hold: each write is already its own (see :class:`Peer`)."""


class Session:
    """The session of ``peer``: making one opens the peer's lifecycle, with the
    token's expiry."""

    __slots__ = (
        "away",
        "bucket",
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
        #: Only what revocation needs of the token (an idle session is small); its
        #: expiry is the peer's lifecycle's.
        self.jti: str | None = None
        self.issued_at: float | None = None
        expires_at = self._take(claims)
        #: Rooms this session is subscribed to: the user's memberships. Starts as a
        #: shared empty set; :meth:`add_room` makes it the session's own.
        self.rooms: set[str] | frozenset[str] = _NO_ROOMS
        #: Room -> when this session last signalled typing there (throttling).
        self.typing: dict[str, float] | None = None
        peer.lifecycle.opened(expires_at=expires_at)

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

    @property
    def expires_at(self) -> float | None:
        """When the session's token expires (``None``: never)."""
        return self.peer.lifecycle.expires_at

    def adopt(self, claims: dict[str, Any]) -> None:
        """Take the token behind ``claims`` as this session's (a refresh)."""
        self.peer.lifecycle.renewed(expires_at=self._take(claims))

    def _take(self, claims: dict[str, Any]) -> float | None:
        """Keep what revocation needs of the token; its expiry, if it has one."""
        jti, iat, exp = claims.get("jti"), claims.get("iat"), claims.get("exp")
        self.jti = jti if isinstance(jti, str) else None
        self.issued_at = float(iat) if isinstance(iat, int | float) else None
        return float(exp) if isinstance(exp, int | float) else None
