"""Who a user is, what they may do, and the tokens that prove it."""

from homer.identity.accounts import AccountService, User
from homer.identity.audit import AuditTrail
from homer.identity.groups import Group, GroupService
from homer.identity.passwords import Argon2Params, Passwords
from homer.identity.permissions import (
    BUILTIN_PERMISSIONS,
    SYSTEM,
    Actor,
    Authorizer,
    Guarded,
    PermissionSet,
    Principal,
    protect,
    requires,
)
from homer.identity.schema import (
    Attribute,
    UserSchema,
    all_of,
    between,
    choice,
    email,
    length,
    of_type,
    pattern,
)
from homer.identity.service import Identity
from homer.identity.sessions import ServerSessions
from homer.identity.tokens import (
    CodecTokens,
    EncryptedTokens,
    JWTKey,
    SignedTokens,
    TokenFormat,
    TokenManager,
)

__all__ = [
    "BUILTIN_PERMISSIONS",
    "SYSTEM",
    "AccountService",
    "Actor",
    "Argon2Params",
    "Attribute",
    "AuditTrail",
    "Authorizer",
    "CodecTokens",
    "EncryptedTokens",
    "Group",
    "GroupService",
    "Guarded",
    "Identity",
    "JWTKey",
    "Passwords",
    "PermissionSet",
    "Principal",
    "ServerSessions",
    "SignedTokens",
    "TokenFormat",
    "TokenManager",
    "User",
    "UserSchema",
    "all_of",
    "between",
    "choice",
    "email",
    "length",
    "of_type",
    "pattern",
    "protect",
    "requires",
]
