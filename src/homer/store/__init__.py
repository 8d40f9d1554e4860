"""The Store port (what Homer keeps durably) and its records."""

from homer.store.ports import AccountStore, AuditLog, GroupStore, SessionStore, Store, TokenStore
from homer.store.records import (
    AuditEntry,
    AuditEvent,
    GroupRecord,
    Page,
    Revocations,
    UserRecord,
    name_key,
)

__all__ = [
    "AccountStore",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "GroupRecord",
    "GroupStore",
    "Page",
    "Revocations",
    "SessionStore",
    "Store",
    "TokenStore",
    "UserRecord",
    "name_key",
]
