"""What the client SDK raises, under Homer's one root::

    HomerError
    ├── ClientError        the server refused: an error answer with its stable code
    └── ConnectionLost     the connection went away before the answer came

A :class:`ClientError` is the server's word (``wire_code`` is what it sent);
:class:`ConnectionLost` means nobody answered, and the client retries where
that is safe (a ``send`` goes again with the same client id).
"""

from __future__ import annotations

from typing import Any

from homer.errors import ErrorCode, HomerError

__all__ = ["ClientError", "ConnectionLost"]


class ClientError(HomerError):
    """The server answered a request with an error frame."""

    def __init__(self, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        try:
            self.code = ErrorCode(code)
        except ValueError:
            self.code = ErrorCode.INTERNAL
        self.wire_code = code
        self.body = body or {}


class ConnectionLost(HomerError):
    """The connection dropped before the answer came (it is retried when it makes sense)."""

    code = ErrorCode.UNAVAILABLE
