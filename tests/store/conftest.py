"""A real PostgreSQL for the store tests: one database per run, one schema per test.

``HOMER_TEST_POSTGRESQL`` names the server and a database to connect to while
creating and dropping the run's own (default below). A server that does not
answer fails the PostgreSQL tests with a message that says so: they are never
skipped.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from homer.store.postgresql import PostgreSQLStore
from tests.services import POSTGRESQL

POSTGRESQL_ENV = "HOMER_TEST_POSTGRESQL"


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to (or replacing those of) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """Run set-up work on a loop of its own, leaving the tests' loops alone."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        loop.close()


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[str]:
    """The URL of a database created for this run, dropped at its end."""
    admin = POSTGRESQL
    name = f"homer_test_{secrets.token_hex(6)}"
    try:
        _run(_admin(admin, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
    else:
        failure = None
    if failure is not None:
        where = urlsplit(admin)
        pytest.fail(
            f"PostgreSQL at {where.hostname}:{where.port or 5432} did not answer or refused to"
            f" create a database ({failure}). Start one, or set {POSTGRESQL_ENV} to"
            " postgresql://user@host:port/database of one that does.",
            pytrace=False,
        )
    try:
        yield with_database(admin, name)
    finally:
        _run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def postgresql_url(postgresql_database: str) -> str:
    """The run's database seen through a new, empty schema: a store of its own."""
    schema = f"t_{secrets.token_hex(6)}"
    await _admin(postgresql_database, f"CREATE SCHEMA {schema}")
    # Left in place: dropping the database at the end of the run takes them all at once.
    return with_query(postgresql_database, search_path=schema)


@pytest.fixture
async def postgresql_store(postgresql_url: str) -> AsyncIterator[PostgreSQLStore]:
    store = PostgreSQLStore(postgresql_url, pool_size=4)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
