"""Homer: an instant-messaging framework for Python."""

import importlib
from typing import TYPE_CHECKING, Any

from homer.clock import Clock, ManualClock
from homer.config import HomerConfig, load_config
from homer.errors import (
    Conflict,
    ErrorCode,
    HomerError,
    InvalidInput,
    InvalidToken,
    NotAuthorized,
    NotFound,
    RateLimited,
    StoreError,
    TokenRevoked,
    Unauthenticated,
    ValidationFailed,
)
from homer.identity import (
    SYSTEM,
    Actor,
    Argon2Params,
    Attribute,
    Identity,
    PermissionSet,
    Principal,
    TokenManager,
    User,
    UserSchema,
    protect,
    requires,
)

if TYPE_CHECKING:
    from homer.node.asgi import asgi_app

__version__ = "0.1.0.dev0"

__all__ = [
    "SYSTEM",
    "Actor",
    "Argon2Params",
    "Attribute",
    "Clock",
    "Conflict",
    "ErrorCode",
    "HomerConfig",
    "HomerError",
    "Identity",
    "InvalidInput",
    "InvalidToken",
    "ManualClock",
    "NotAuthorized",
    "NotFound",
    "PermissionSet",
    "Principal",
    "RateLimited",
    "StoreError",
    "TokenManager",
    "TokenRevoked",
    "Unauthenticated",
    "User",
    "UserSchema",
    "ValidationFailed",
    "__version__",
    "asgi_app",
    "load_config",
    "protect",
    "requires",
]


def __getattr__(name: str) -> Any:
    """``asgi_app`` is loaded on first use: it needs the whole server and the ``asgi``
    extra (h11), which ``import homer`` alone (the client SDK, the config) must not."""
    if name == "asgi_app":
        return importlib.import_module("homer.node.asgi").asgi_app
    raise AttributeError(f"module 'homer' has no attribute {name!r}")
