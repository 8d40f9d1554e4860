"""``homer migrate`` and the ``--store`` / ``--broker`` / ``--blob`` flags, as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio

from homer.store.migrations import load_migrations
from tests.cli.test_admin_cli import Homer
from tests.services import scratch_database

#: The newest migration this Homer ships (the same number on every adapter).
NEWEST = len(load_migrations("homer.store.sqlite.migrations"))
assert len(load_migrations("homer.store.postgresql.migrations")) == NEWEST


@pytest_asyncio.fixture
async def database() -> AsyncIterator[str]:
    async with scratch_database() as url:
        yield url


def test_migrate_brings_the_embedded_store_up_to_date(tmp_path: Path) -> None:
    homer = Homer(tmp_path / "data")
    first = homer("migrate")
    assert first.stdout.strip().startswith(f"schema version {NEWEST} ")
    assert homer("migrate").stdout == first.stdout, "running it again changes nothing"
    assert (tmp_path / "data" / "homer.db").exists()


async def test_migrate_a_postgresql_store(tmp_path: Path, database: str) -> None:
    homer = Homer(tmp_path / "data")
    result = homer("migrate", "--store", database)
    assert result.stdout.strip() == f"schema version {NEWEST} (this Homer knows up to {NEWEST})"
    conn = await asyncpg.connect(database)
    try:
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert sorted(versions) == list(range(1, NEWEST + 1))
    assert not (tmp_path / "data" / "homer.db").exists(), "nothing written to SQLite"


def test_unknown_store_and_broker_are_refused_with_a_reason(tmp_path: Path) -> None:
    homer = Homer(tmp_path / "data")
    refused = homer("migrate", "--store", "mongodb://x", expect=1)
    assert "unknown store 'mongodb://x'" in refused.stderr
    refused = homer("serve", "--port", "0", "--broker", "kafka://x", expect=1)
    assert "unknown broker 'kafka://x'" in refused.stderr
    refused = homer("serve", "--port", "0", "--blob", "ftp://user:secret@x", expect=1)
    assert "unknown file storage 'ftp'" in refused.stderr
    assert "secret" not in refused.stderr
    assert refused.stderr.strip().startswith("homer: error:")


def test_unreachable_services_stop_serve_with_one_line(tmp_path: Path) -> None:
    homer = Homer(tmp_path / "data")
    refused = homer("serve", "--port", "0", "--broker", "amqp://guest:guest@127.0.0.1:1/", expect=1)
    assert "guest:guest" not in refused.stderr, "no password on the screen"
    assert refused.stderr.strip().startswith("homer: error:")
    refused = homer("migrate", "--store", "postgresql://postgres@127.0.0.1:1/x", expect=1)
    assert refused.stderr.strip().startswith("homer: error:")
    refused = homer(
        "serve", "--port", "0", "--blob", "s3://files?endpoint=http://127.0.0.1:1", expect=1
    )
    assert refused.stderr.strip().startswith("homer: error:"), "the flag reached the S3 adapter"
