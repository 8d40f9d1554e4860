"""A bounded asyncpg pool with Homer's transactions, errors and migrations.

Every write is a function of one connection run inside one transaction, so a
caller can put many statements (a whole batch of messages) into one commit.
Failures of the server or the network come out as :class:`StoreError`, a
uniqueness or reference clash as :class:`Conflict`, never as asyncpg's own
exceptions.

asyncpg looks for ``~/.pgpass`` and the TLS files under ``~/.postgresql``
each time it opens a connection. The pool opens all of its connections at
start-up and keeps idle ones, so on a running node that happens again only to
replace a connection the server or the network broke.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import msgspec

from homer.errors import Conflict, HomerError, InvalidInput, SchemaTooNew, StoreError
from homer.store.migrations import Migration, load_migrations
from homer.store.rows import Rows

__all__ = [
    "DEFAULT_POOL_SIZE",
    "ROWS",
    "Connection",
    "PostgreSQLDatabase",
    "Row",
    "Where",
    "marks",
    "rowcount",
]

T = TypeVar("T")

#: Connections per node when the URL does not say (``?pool_size=N``). Each node
#: holds this many: keep nodes x pool size below the server's ``max_connections``.
DEFAULT_POOL_SIZE = 10

#: The first key of the advisory locks Homer takes ("Homr"), so that they never
#: meet another application's locks in a shared database.
LOCK_SPACE = 0x486F6D72
_MIGRATION_LOCK = 0

#: A transaction that lost a deadlock or a serialization check is tried again.
_ATTEMPTS = 3
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
#: The network, the server going away, or a connection it broke (asyncpg's state
#: machine then reports an internal error on the next use).
_UNREACHABLE = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError)

Row = Sequence[Any]


class Connection(Protocol):
    """The part of ``asyncpg.Connection`` the store uses."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def executemany(self, command: str, args: Sequence[Sequence[object]]) -> None: ...

    async def fetch(self, query: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: object) -> Row | None: ...

    async def fetchval(self, query: str, *args: object) -> Any: ...


def _json_out(value: object) -> bytes:
    """Parameters mostly arrive encoded already: the store encodes each message body
    itself first, so that one that is not JSON fails alone instead of the batch."""
    return value if isinstance(value, bytes) else msgspec.json.encode(value)


async def _prepare(conn: Any) -> None:
    """JSON columns hold the bytes msgspec wrote and come back decoded by msgspec."""
    await conn.set_type_codec(
        "json",
        schema="pg_catalog",
        encoder=_json_out,
        decoder=msgspec.json.decode,
        format="binary",
    )


def split_url(url: str) -> tuple[str, int | None, str]:
    """The URL asyncpg gets, the ``pool_size`` it named, and where it points without
    user or password (for messages and logs)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    sizes = [value for key, value in query if key == "pool_size"]
    size: int | None = None
    if sizes:
        try:
            size = int(sizes[-1])
        except ValueError:
            size = 0
        if size < 1:
            raise InvalidInput(f"pool_size must be a whole number from 1, not {sizes[-1]!r}")
    rest = urlencode([(key, value) for key, value in query if key != "pool_size"])
    where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return urlunsplit(parts._replace(query=rest)), size, where


#: asyncpg's codecs decode JSON columns and text arrays; JSON goes in encoded.
ROWS = Rows(
    load_json=lambda value: value, dump_json=msgspec.json.encode, load_names=list, dump_names=list
)


def marks(count: int, start: int = 1) -> str:
    """``$1, $2, ...``: ``count`` numbered parameters."""
    return ", ".join(f"${n}" for n in range(start, start + count))


class Where:
    """``WHERE`` clauses with numbered parameters, built up one at a time."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, template: str, value: Any) -> None:
        """``template`` with ``{}`` where the parameter goes."""
        self.clauses.append(template.format(self.param(value)))

    def __str__(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


def rowcount(status: str) -> int:
    """The number of rows a command touched, from its status (``UPDATE 3``)."""
    count = status.rpartition(" ")[2]
    return int(count) if count.isdigit() else 0


class PostgreSQLDatabase:
    """One pool of connections to one database (or one schema: ``?search_path=``)."""

    __slots__ = ("_dsn", "_pool", "command_timeout", "connect_timeout", "pool_size", "where")

    def __init__(
        self,
        url: str,
        *,
        pool_size: int | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float | None = None,
    ) -> None:
        dsn, size, self.where = split_url(url)
        if pool_size is not None and pool_size < 1:
            raise InvalidInput(f"pool_size must be a whole number from 1, not {pool_size}")
        self._dsn = dsn
        self.pool_size = pool_size or size or DEFAULT_POOL_SIZE
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._pool: Any = None

    async def open(self, migrations_package: str) -> None:
        """Open the pool and apply the package's pending migrations."""
        if self._pool is not None:
            return
        # Reading the SQL files from the package is file I/O: not on the loop.
        migrations = await asyncio.to_thread(load_migrations, migrations_package)
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self.pool_size,
                max_size=self.pool_size,
                max_inactive_connection_lifetime=0,  # keep idle connections open
                init=_prepare,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
            )
        except TimeoutError as exc:  # says nothing itself: say who did not answer
            parts = urlsplit(self._dsn)
            host = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
            raise StoreError(
                f"cannot open the PostgreSQL store at {self.where}:"
                f" {host} did not answer within {self.connect_timeout:g} s"
            ) from exc
        except (*_UNREACHABLE, asyncpg.PostgresError, ValueError) as exc:
            raise StoreError(
                f"cannot open the PostgreSQL store at {self.where}: {exc or type(exc).__name__}"
            ) from exc
        self._pool = pool
        try:
            await self._migrate(migrations)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
        except (*_UNREACHABLE, asyncpg.PostgresError):
            pool.terminate()

    async def read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``fn`` on one pooled connection, outside any explicit transaction."""
        return await self._call(fn, transaction=False)

    async def write(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction; roll back if it raises. Run it again, from the
        start, if the server broke a deadlock or a serialization conflict by aborting it."""
        return await self._call(fn, transaction=True)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return await self._call(lambda conn: conn.fetch(sql, *args), transaction=False)

    async def fetchrow(self, sql: str, *args: object) -> Row | None:
        return await self._call(lambda conn: conn.fetchrow(sql, *args), transaction=False)

    async def fetchval(self, sql: str, *args: object) -> Any:
        return await self._call(lambda conn: conn.fetchval(sql, *args), transaction=False)

    async def execute(self, sql: str, *args: object) -> int:
        """Run one statement on its own; return how many rows it touched."""
        status = await self._call(lambda conn: conn.execute(sql, *args), transaction=False)
        return rowcount(status)

    async def _call(self, fn: Callable[[Connection], Awaitable[T]], *, transaction: bool) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"the PostgreSQL store at {self.where} is not open")
        attempt = 1
        while True:
            try:
                async with pool.acquire() as conn:
                    if not transaction:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
            except HomerError:
                raise
            except _RETRYABLE as exc:
                if attempt >= _ATTEMPTS:
                    raise StoreError(f"PostgreSQL store failed: {exc}") from exc
                attempt += 1
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise Conflict(f"conflicts with stored data: {exc.detail or exc}") from exc
            except asyncpg.CharacterNotInRepertoireError as exc:
                # Text with a NUL character: PostgreSQL cannot store it.
                raise InvalidInput(f"cannot be stored: {exc}") from exc
            except asyncpg.PostgresError as exc:
                raise StoreError(f"PostgreSQL store failed: {exc}") from exc
            except _UNREACHABLE as exc:
                raise StoreError(
                    f"the PostgreSQL store at {self.where} is unreachable or lost the"
                    f" connection ({type(exc).__name__}: {exc})"
                ) from exc

    async def _migrate(self, migrations: list[Migration]) -> None:
        known = migrations[-1].version if migrations else 0

        async def check(conn: Connection) -> int:
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            return await self.current_version(conn)

        current = await self.write(check)
        if current > known:
            raise SchemaTooNew(
                f"{self.where} has schema version {current}, this Homer knows up to {known}:"
                " upgrade Homer instead of opening it with an older one"
            )
        for migration in migrations:
            if migration.version <= current:
                continue

            async def apply(conn: Connection, m: Migration = migration) -> None:
                # Under the lock: another node may have migrated meanwhile.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, _MIGRATION_LOCK
                )
                if await self.current_version(conn) >= m.version:
                    return
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations(version, name) VALUES ($1, $2)",
                    m.version,
                    m.name,
                )

            await self.write(apply)

    @staticmethod
    async def current_version(conn: Connection) -> int:
        return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
