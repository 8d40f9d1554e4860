"""The web client's files (``homer.web``), served as they are: the page at ``/`` and
its module, styles and icon under ``/static/``, with the headers of a page that
holds a token.

The page runs no inline script or style, so its Content-Security-Policy allows
only files from this origin (:data:`PAGE_POLICY`); it may not be framed, sends no
referrer, and its files are revalidated by ``ETag`` so a new release is picked up
at once. The files are read once at start-up, off the event loop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

__all__ = ["PAGE_HEADERS", "PAGE_POLICY", "WebClient", "load_web_client", "serve_file"]

#: The page's Content-Security-Policy: its own files, its own origin's API and
#: WebSocket (``'self'`` covers ``ws:`` and ``wss:`` to it), images from itself or
#: made in the page (previews of files being uploaded), nothing else.
PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: Every answer of the web client's routes carries these (and, as every answer of
#: the HTTP port, ``nosniff``).
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE = "index.html"


@dataclass(frozen=True, slots=True)
class WebFile:
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class WebClient:
    """The web client's files by name (``index.html`` is the page)."""

    files: dict[str, WebFile]

    @classmethod
    def of(cls, files: dict[str, bytes]) -> WebClient:
        return cls(
            {
                name: WebFile(
                    body,
                    _TYPES[name[name.rfind(".") :]],
                    f'"{hashlib.sha256(body).hexdigest()[:16]}"',
                )
                for name, body in files.items()
            }
        )

    @classmethod
    def none(cls) -> WebClient:
        """No web client (``server.web_client`` is false)."""
        return cls({})


def _type(name: str) -> str:
    return _TYPES[name[name.rfind(".") :]]


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:16]}"'


def load_web_client() -> WebClient:
    """Read the web client's files from the ``homer.web`` package."""
    package = resources.files("homer.web")
    return WebClient.of(
        {
            entry.name: entry.read_bytes()
            for entry in package.iterdir()
            if entry.is_file() and entry.name[entry.name.rfind(".") :] in _TYPES
        }
    )


def serve_file(request: web.Request, client: WebClient, name: str) -> web.Response:
    """One of the files, 304 when the client holds this version already."""
    found = client.files.get(name)
    if found is None:
        raise web.HTTPNotFound()
    headers = {**PAGE_HEADERS, "ETag": found.etag}
    if request.headers.get("If-None-Match") == found.etag:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = found.content_type
    return web.Response(body=found.body, headers=headers)
