"""Where a client connects: a node's URL and the transport that reaches it.

The URL's scheme picks the transport; ``http://`` and ``https://`` mean the
WebSocket unless ``transport=`` says ``"sse"`` or ``"longpoll"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["TRANSPORTS", "ServerAddress", "TransportName", "server_address"]

TransportName = Literal["websocket", "tcp", "sse", "longpoll"]

#: Every transport, by the name ``transport=`` takes.
TRANSPORTS: tuple[TransportName, ...] = ("websocket", "tcp", "sse", "longpoll")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAddress:
    """A node and the transport to reach it with."""

    transport: TransportName
    #: ``http(s)://host:port[/prefix]`` for the transports over HTTP (the WebSocket
    #: included), ``tcp(s)://host:port`` for raw TCP.
    url: str


_SCHEMES: dict[str, tuple[TransportName | None, str]] = {
    "ws": ("websocket", "http"),
    "wss": ("websocket", "https"),
    "http": (None, "http"),
    "https": (None, "https"),
    "tcp": ("tcp", "tcp"),
    "tcps": ("tcp", "tcps"),
}


def server_address(url: str, *, transport: TransportName | None = None) -> ServerAddress:
    """Where ``url`` points and over which transport: its scheme's, or ``transport``.

    ``ws://`` and ``wss://`` are the WebSocket, ``tcp://`` and ``tcps://`` raw TCP
    (TLS with ``tcps``), ``http://`` and ``https://`` the WebSocket unless
    ``transport`` is ``"sse"`` or ``"longpoll"``. A ``/ws`` path is dropped.
    """
    scheme, sep, rest = url.partition("://")
    known = _SCHEMES.get(scheme.lower()) if sep else None
    if known is None:
        raise ValueError(f"{url!r}: give a ws, wss, http, https, tcp or tcps URL")
    implied, base = known
    if transport is not None and transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}: choose one of {', '.join(TRANSPORTS)}")
    rest = rest.rstrip("/")
    if implied == "tcp" or transport == "tcp":
        if implied != "tcp" or transport not in (None, "tcp"):
            raise ValueError(
                f"{url!r}: raw TCP has its own port, give it as tcp://host:port "
                "(or tcps:// for TLS); the other transports take http(s):// or ws(s)://"
            )
        parts = urlsplit(f"{base}://{rest}")
        if not parts.hostname or parts.port is None or parts.path:
            raise ValueError(f"{url!r}: a raw TCP URL is tcp://host:port")
        return ServerAddress(transport="tcp", url=f"{base}://{rest}")
    return ServerAddress(
        transport=transport or "websocket", url=f"{base}://{rest.removesuffix('/ws')}"
    )
