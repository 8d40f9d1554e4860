"""Pick the Store adapter a configuration names.

The PostgreSQL adapter is imported only when a configuration asks for it: it
needs asyncpg, an optional dependency (the ``postgresql`` extra).
"""

from __future__ import annotations

from pathlib import Path

from homer.config import HomerConfig
from homer.errors import InvalidInput
from homer.extras import optional_dependency
from homer.store.ports import Store
from homer.store.sqlite import SQLiteStore

__all__ = ["SQLITE_FILE", "open_store", "sqlite_path"]

#: The embedded default's file name inside the data directory.
SQLITE_FILE = "homer.db"


def sqlite_path(config: HomerConfig) -> Path | None:
    """The SQLite database file ``config.store`` names; ``None`` for another store."""
    url = config.store
    if url != "sqlite" and not url.startswith("sqlite://"):
        return None
    location = url.removeprefix("sqlite://").removeprefix("sqlite")
    return Path(location) if location else config.data_path / SQLITE_FILE


def open_store(config: HomerConfig) -> Store:
    """The adapter for ``config.store`` (not opened yet):

    - ``sqlite``: ``homer.db`` in the data directory (the embedded default);
    - ``sqlite:///absolute/path.db`` or ``sqlite://relative/path.db``;
    - ``postgresql://user@host:5432/db`` (or ``postgres://``), for several nodes
      on one database; ``?pool_size=N`` sets the connections each node keeps.
    """
    url = config.store
    path = sqlite_path(config)
    if path is not None:
        return SQLiteStore(path, synchronous=config.sqlite_synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        with optional_dependency("the PostgreSQL store", extra="postgresql"):
            from homer.store.postgresql import PostgreSQLStore
        return PostgreSQLStore(url)
    raise InvalidInput(
        f"unknown store {url!r}: use 'sqlite', 'sqlite:///path/to/file.db'"
        " or 'postgresql://user@host:port/database'"
    )
