"""The embedded default Store adapter (SQLite, WAL)."""

from homer.store.sqlite.database import SQLiteDatabase, Synchronous
from homer.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteDatabase", "SQLiteStore", "Synchronous"]
