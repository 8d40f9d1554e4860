"""Pick the Store adapter a configuration names."""

from __future__ import annotations

from pathlib import Path

from homer.config import HomerConfig
from homer.errors import InvalidInput
from homer.extras import optional_dependency
from homer.store.ports import Store

__all__ = ["SQLITE_FILE", "open_store"]

#: The embedded default's file name inside the data directory.
SQLITE_FILE = "homer.db"


def open_store(config: HomerConfig) -> Store:
    """The adapter for ``config.store`` (not opened yet):

    - ``sqlite``: ``homer.db`` in the data directory (the embedded default);
    - ``sqlite:///absolute/path.db`` or ``sqlite://relative/path.db``;
    - ``postgresql://user@host:5432/db`` (or ``postgres://``), for several nodes
      on one database; ``?pool_size=N`` sets the connections each node keeps.
    """
    url = config.store
    if url == "sqlite" or url.startswith("sqlite://"):
        from homer.store.sqlite import SQLiteStore

        location = url.removeprefix("sqlite://").removeprefix("sqlite")
        path = Path(location) if location else config.data_path / SQLITE_FILE
        return SQLiteStore(path, synchronous=config.sqlite_synchronous)
    if url.startswith(("postgresql://", "postgres://")):
        with optional_dependency("the PostgreSQL store", extra="postgresql"):
            from homer.store.postgresql import PostgreSQLStore
        return PostgreSQLStore(url)
    raise InvalidInput(
        f"unknown store {url!r}: use 'sqlite', 'sqlite:///path/to/file.db'"
        " or 'postgresql://user@host:port/database'"
    )
