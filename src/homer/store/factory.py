"""Pick the Store adapter a configuration names.

The PostgreSQL adapter is imported only when a configuration asks for it: it
needs asyncpg, an optional dependency (the ``postgresql`` extra).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from homer.config import HomerConfig
from homer.errors import InvalidInput
from homer.extras import optional_dependency
from homer.store.ports import Store
from homer.store.sqlite import SQLiteStore
from homer.store.sqlite.transfer import SQLiteTables
from homer.store.transfer import Tables

__all__ = [
    "SQLITE_FILE",
    "is_postgresql",
    "open_store",
    "open_tables",
    "same_store",
    "sqlite_file",
    "sqlite_path",
    "unknown_store",
]

#: The embedded default's file name inside the data directory.
SQLITE_FILE = "homer.db"


def sqlite_path(config: HomerConfig) -> Path | None:
    """The SQLite database file ``config.store`` names; ``None`` for another store."""
    return sqlite_file(config.store, data_dir=config.data_path)


def sqlite_file(url: str, *, data_dir: Path) -> Path | None:
    """The SQLite database file a store URL names; ``None`` for another store."""
    if url != "sqlite" and not url.startswith("sqlite://"):
        return None
    location = url.removeprefix("sqlite://").removeprefix("sqlite")
    return Path(location) if location else data_dir / SQLITE_FILE


def open_tables(url: str, *, data_dir: Path, writable: bool) -> Tables:
    """The store ``url`` names as the source (``writable=False``) or the target of a
    copy (not opened yet); a target is created and migrated when it opens."""
    path = sqlite_file(url, data_dir=data_dir)
    if path is not None:
        return SQLiteTables(path, writable=writable)
    if is_postgresql(url):
        with optional_dependency("the PostgreSQL store", extra="postgresql"):
            from homer.store.postgresql.transfer import PostgreSQLTables
        return PostgreSQLTables(url, writable=writable)
    raise unknown_store(url)


def same_store(first: str, second: str, *, data_dir: Path) -> bool:
    """Whether two store URLs name the same database (or the same schema of one)."""
    a, b = sqlite_file(first, data_dir=data_dir), sqlite_file(second, data_dir=data_dir)
    if a is not None and b is not None:
        return a.resolve() == b.resolve()
    if is_postgresql(first) and is_postgresql(second):
        return _database_of(first) == _database_of(second)
    return False


def _database_of(url: str) -> tuple[str, int, str, str]:
    parts = urlsplit(url)
    schema = dict(parse_qsl(parts.query)).get("search_path", "")
    return (parts.hostname or "localhost", parts.port or 5432, parts.path, schema)


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def unknown_store(url: str) -> InvalidInput:
    # Only the scheme is repeated: the rest of a URL may hold a password.
    scheme = url.partition(":")[0][:20]
    return InvalidInput(
        f"unknown store {scheme!r}: use 'sqlite', 'sqlite:///path/to/file.db'"
        " or 'postgresql://user@host:port/database'"
    )


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
