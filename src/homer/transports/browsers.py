"""What a browser may ask of this server, whichever listener it reached.

Two attacks come through a browser rather than a client of Homer's own:

- **DNS rebinding**: a hostile page's name is made to resolve to this server
  (a laptop's ``127.0.0.1``, an office address), so the page is same-origin
  with it. Its requests carry the hostile name in ``Host``: only names this
  server was told it has are answered (:meth:`BrowserPolicy.host_allowed`).
- **Cross-site requests**: any page may make a browser post a form or a
  ``fetch`` to another origin. A request that changes something and carries
  an ``Origin`` that is neither this server's nor one configured in
  ``server.origins`` is refused before it runs (:meth:`BrowserPolicy.origin_allowed`);
  the same test guards the WebSocket handshake. Reading an answer across
  origins (CORS) is granted to the configured origins only.

Requests without ``Host`` or ``Origin`` come from programs, not browsers (a
browser always sends ``Host``, and ``Origin`` on every request that is not a
plain ``GET`` or ``HEAD``), so these checks do not apply to them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from homer.config import ServerConfig

__all__ = ["SAFE_METHODS", "BrowserPolicy"]

#: Methods that change nothing: a cross-origin one may run (its answer is not readable
#: by the page unless CORS allows it).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: What a preflight grants a configured origin.
_ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
_ALLOW_HEADERS = "Authorization, Content-Type, Last-Event-ID, X-Homer-Session"
_MAX_AGE = "600"


@dataclass(frozen=True, slots=True)
class BrowserPolicy:
    """The names this server answers to and the other origins it trusts."""

    #: Host names answered to, lower case (``*``: any); IP addresses always are.
    hosts: frozenset[str]
    #: Origins besides this server's own allowed to use it (``*``: any).
    origins: frozenset[str]
    #: This server's own origin as its users see it (``server.public_url``), if set.
    public_origin: str | None

    @classmethod
    def of(cls, server: ServerConfig) -> BrowserPolicy:
        """The policy of a server's settings (made once per settings object)."""
        cached = _POLICIES.get(id(server))
        if cached is not None and cached[0] is server:
            return cached[1]
        names = {"localhost", *(name.lower().rstrip(".") for name in server.hosts)}
        if _ip(server.host) is None and server.host:
            names.add(server.host.lower().rstrip("."))
        public_origin = None
        if server.public_url:
            url = urlsplit(server.public_url)
            if url.hostname:
                names.add(url.hostname.rstrip("."))
            public_origin = f"{url.scheme}://{url.netloc}".lower()
        policy = cls(frozenset(names), frozenset(server.origins), public_origin)
        _POLICIES[id(server)] = (server, policy)
        return policy

    def host_allowed(self, host: str | None) -> bool:
        """No ``Host`` (not a browser), an IP address (never rebound: a page at an
        address has that address as its origin), ``localhost`` and its subdomains
        (browsers resolve them to loopback themselves), or a configured name."""
        if host is None or "*" in self.hosts:
            return True
        name = _host_name(host)
        if name is None:
            return False
        if _ip(name) is not None or name in self.hosts:
            return True
        return name.endswith(".localhost")

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """No ``Origin`` (not a browser), a page this server served (the ``Origin``'s
        host and port are the ``Host`` it reached, or its public URL's), a
        configured origin, or any with ``*``."""
        if origin is None or "*" in self.origins or origin in self.origins:
            return True
        if self.public_origin is not None and origin.lower() == self.public_origin:
            return True
        return host is not None and urlsplit(origin).netloc == host

    def cors_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` for a configured origin (the origin
        itself, or ``*``); none for any other: its page cannot read the answer."""
        if origin is None:
            return None
        if origin in self.origins:
            return origin
        return "*" if "*" in self.origins else None

    def preflight(self, origin: str) -> dict[str, str] | None:
        """The headers granting a configured origin's preflight, or ``None``."""
        allowed = self.cors_origin(origin)
        if allowed is None:
            return None
        return {
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": _ALLOW_METHODS,
            "Access-Control-Allow-Headers": _ALLOW_HEADERS,
            "Access-Control-Max-Age": _MAX_AGE,
            "Vary": "Origin",
        }


_POLICIES: dict[int, tuple[ServerConfig, BrowserPolicy]] = {}


def _host_name(host: str) -> str | None:
    """The name in a ``Host`` header, without port or final dot; ``None`` if malformed."""
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        return host[1:end] if end > 0 else None
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
