"""``homer copy``: every table of one store into another, then both compared.

The copy itself is :func:`homer.store.transfer.copy_tables` (batches, resumable);
here the two stores are opened from their URLs, and once the copy is over
each side's tally (rows per table, a sum per room) is taken for the caller to
compare and show.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from homer.errors import InvalidInput
from homer.store.export import Tally
from homer.store.factory import open_tables, same_store
from homer.store.transfer import DEFAULT_BATCH, Reporter, copy_tables

__all__ = ["copy_store"]


async def copy_store(
    source_url: str,
    target_url: str,
    *,
    data_dir: Path,
    batch: int = DEFAULT_BATCH,
    report: Reporter | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[Tally, Tally]:
    """Copy ``source_url``'s store into ``target_url``'s (empty, or a copy of it
    under way); the tallies of both afterwards."""
    if same_store(source_url, target_url, data_dir=data_dir):
        raise InvalidInput("--from and --to name the same store: copy into another one")
    source = open_tables(source_url, data_dir=data_dir, writable=False)
    target = open_tables(target_url, data_dir=data_dir, writable=True)
    await source.open()
    try:
        await target.open()
        try:
            await copy_tables(source, target, batch=batch, report=report)
            if say is not None:
                say("counting and summing both sides...")
            return await source.tally(), await target.tally()
        finally:
            await target.close()
    finally:
        await source.close()
