"""``homer migrate``: bring a store's schema up to this version of Homer."""

from __future__ import annotations

import asyncio

import click

from homer.cli.identity import common_options, fail
from homer.config import HomerConfig, with_backends
from homer.errors import HomerError
from homer.store.factory import open_store
from homer.store.migrations import load_migrations

__all__ = ["migrate"]


@click.command()
@click.option(
    "--store",
    default=None,
    metavar="URL",
    help="sqlite (default), sqlite:///path.db or postgresql://user@host:port/db.",
)
@common_options
def migrate(config: HomerConfig, store: str | None) -> None:
    """Apply the schema migrations the store lacks, then print its version.

    Every node also migrates at start-up; running this first, once, lets a
    deployment of several nodes start them without racing to do it (the
    migrations are safe to race anyway: each runs under a lock).
    """
    config = with_backends(config, store=store)

    async def run() -> tuple[int, int]:
        target = open_store(config)
        await target.open()
        try:
            known = load_migrations(target.MIGRATIONS)
            return await target.schema_version(), known[-1].version if known else 0
        finally:
            await target.close()

    try:
        version, known = asyncio.run(run())
    except HomerError as exc:
        fail(exc.message)
    click.echo(f"schema version {version} (this Homer knows up to {known})")
