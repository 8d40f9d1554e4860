"""Every error Homer raises on purpose, under one root, each with a stable code.

The code is what crosses the wire and what clients switch on; the message is
for people and logs. Codes never change meaning once released.

    HomerError                      (code varies; never raised itself)
    ├── InvalidInput                invalid       the caller sent something malformed
    │   ├── ValidationFailed        invalid       named fields failed their validators
    │   ├── BadParams               invalid       parameters that do not fit the operation
    │   └── BadRange                invalid       a byte range outside a stored file
    ├── NotFound                    not_found     no such user, group, token, ...
    │   └── UnknownOp               unknown_op    no handler for this operation
    ├── Conflict                    conflict      a name is taken, a rule forbids it now
    ├── Forbidden                   forbidden     not allowed here (not a member, banned, ...)
    │   └── NotAuthorized           forbidden     the acting user lacks a permission
    ├── Unauthenticated             unauthenticated
    │   └── InvalidToken            invalid_token forged, garbled, wrong key, wrong purpose
    │       └── TokenRevoked        token_revoked revoked one by one or with all of a user's
    ├── MethodNotAllowed            method_not_allowed  the path takes other methods (``allowed``)
    ├── UnsupportedMediaType        unsupported_media_type  a body in a type the route never reads
    ├── RateLimited                 rate_limited  try again after ``retry_after`` seconds
    ├── TooLarge                    too_large     a frame or message over the configured limit
    │   └── BlobTooLarge            too_large     a stored file over its size limit
    ├── StoreError                  unavailable   the store failed; the operation did not happen
    │   └── SchemaTooNew            unavailable   the database was written by a newer Homer
    ├── BrokerError                 unavailable   the broker is unreachable; live delivery waits
    ├── BlobError                   unavailable   file storage failed; nothing was stored or removed
    └── InternalError               internal      a failure of Homer's own, logged where it happened

An expired token is not an error: ``TokenManager.check`` returns ``None`` so
that the caller can ask for a refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "BadParams",
    "BadRange",
    "BlobError",
    "BlobTooLarge",
    "BrokerError",
    "Conflict",
    "ErrorCode",
    "Forbidden",
    "HomerError",
    "InternalError",
    "InvalidInput",
    "InvalidToken",
    "MethodNotAllowed",
    "NotAuthorized",
    "NotFound",
    "RateLimited",
    "SchemaTooNew",
    "StoreError",
    "TokenRevoked",
    "TooLarge",
    "Unauthenticated",
    "UnknownOp",
    "UnsupportedMediaType",
    "ValidationFailed",
]


class ErrorCode(StrEnum):
    """Stable wire codes. Add new ones; never rename or reuse one."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    INVALID_TOKEN = "invalid_token"
    TOKEN_REVOKED = "token_revoked"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNKNOWN_OP = "unknown_op"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"


class HomerError(Exception):
    """Root of every error Homer raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(HomerError):
    """The caller sent a value Homer cannot accept; nothing was changed."""

    code = ErrorCode.INVALID


class ValidationFailed(InvalidInput):
    """One or more named fields failed validation; ``fields`` maps each to its reason."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(sorted(fields.items()))
        # Each field named once, with its reason: "password: must be 8 to 1024 characters".
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in self.fields.items()))


class BadParams(InvalidInput):
    """The parameters do not fit the operation's ``msgspec.Struct``."""


class BadRange(InvalidInput):
    """A byte range that selects nothing of a stored file (HTTP answers 416)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        #: The file's size, for the ``Content-Range: bytes */size`` of the answer.
        self.size = size


class NotFound(HomerError):
    code = ErrorCode.NOT_FOUND


class UnknownOp(NotFound):
    """No handler is registered for the operation a request names."""

    code = ErrorCode.UNKNOWN_OP


class MethodNotAllowed(HomerError):
    """An HTTP path that exists, asked with a method it does not take."""

    code = ErrorCode.METHOD_NOT_ALLOWED

    def __init__(self, method: str, path: str, allowed: list[str]) -> None:
        super().__init__(f"{path} takes {', '.join(allowed)}, not {method}")
        self.allowed = allowed


class UnsupportedMediaType(HomerError):
    """A request body whose ``Content-Type`` the route does not read (a JSON route sent
    a form, say): nothing of it was read."""

    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class Conflict(HomerError):
    """The request is well formed but the current state forbids it (a name is taken)."""

    code = ErrorCode.CONFLICT


class Forbidden(HomerError):
    """The caller may not do this here: not a member, banned, someone else's DM."""

    code = ErrorCode.FORBIDDEN


class NotAuthorized(Forbidden):
    """The acting user lacks ``permission``."""

    def __init__(self, permission: str, actor: str = "") -> None:
        who = f"{actor} " if actor else ""
        super().__init__(f"{who}lacks permission {permission!r}")
        self.permission = permission


class Unauthenticated(HomerError):
    code = ErrorCode.UNAUTHENTICATED


class InvalidToken(Unauthenticated):
    """Forged, garbled, signed with an unknown key, or issued for another purpose."""

    code = ErrorCode.INVALID_TOKEN


class TokenRevoked(InvalidToken):
    code = ErrorCode.TOKEN_REVOKED


class RateLimited(HomerError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(HomerError):
    code = ErrorCode.TOO_LARGE


class BlobTooLarge(TooLarge):
    """A file grew past the ``limit`` its writer set; nothing of it was kept."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class BlobError(HomerError):
    """File storage failed (a disk, an S3 service); the operation did not happen."""

    code = ErrorCode.UNAVAILABLE


class BrokerError(HomerError):
    """The broker cannot carry live events now; stored messages are safe."""

    code = ErrorCode.UNAVAILABLE


class StoreError(HomerError):
    """The store could not complete an operation; it was not applied."""

    code = ErrorCode.UNAVAILABLE


class SchemaTooNew(StoreError):
    """The database holds migrations this version of Homer does not know."""


class InternalError(HomerError):
    """Something failed that should not have: the client learns only that (the
    cause goes to the log where it was caught)."""

    code = ErrorCode.INTERNAL
