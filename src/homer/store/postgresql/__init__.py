"""The Store adapter for several nodes sharing one PostgreSQL database (asyncpg)."""

from homer.store.postgresql.database import DEFAULT_POOL_SIZE, PostgreSQLDatabase
from homer.store.postgresql.store import PostgreSQLStore

__all__ = ["DEFAULT_POOL_SIZE", "PostgreSQLDatabase", "PostgreSQLStore"]
