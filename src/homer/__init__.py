"""Homer: an instant-messaging framework for Python."""

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
    "load_config",
    "protect",
    "requires",
]
