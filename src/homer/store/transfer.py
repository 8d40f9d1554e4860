"""Copy every table of one store into another, in batches, resumably.

A source reads a table in primary-key order from a given key on (keyset
pagination); a target writes each batch in one transaction together with
how far the copy has come, in a ``copy_progress`` table of its own. A copy
stopped anywhere (Ctrl-C, a kill, a lost connection) therefore left whole
batches and the key after which to go on: run again, it goes on from there
and copies no row twice.

A target is accepted when it is empty, or when its ``copy_progress`` names
the same source (a fingerprint of the source's groups: their ids and times
of creation, which no two deployments share). Anything else is refused
before a row is written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from homer.errors import Conflict
from homer.store.export import TABLES, Table, Tally

__all__ = [
    "BLOBS",
    "DEFAULT_BATCH",
    "PROGRESS_TABLE",
    "Progress",
    "Reporter",
    "TableSource",
    "TableTarget",
    "Tables",
    "copy_tables",
    "parents_first",
]

#: Rows per batch (and per target transaction).
DEFAULT_BATCH = 5000
PROGRESS_TABLE = "copy_progress"
#: The progress entry of the files' bytes, copied after the tables (see
#: :func:`homer.node.copying.copy_blobs`).
BLOBS = "files' bytes"

Row = Sequence[Any]


class Progress(msgspec.Struct, frozen=True):
    """How far one table's copy has come."""

    copied: int = 0
    last: list[Any] | None = None
    done: bool = False


class TableSource(Protocol):
    async def fingerprint(self) -> str: ...

    async def count(self, table: Table) -> int: ...

    async def read(self, table: Table, after: Sequence[Any] | None, limit: int) -> list[Row]:
        """Up to ``limit`` rows of ``table`` (columns in ``table.names`` order) whose key
        is past ``after``, in key order; every row when ``table.parent`` is set."""
        ...

    async def tally(self) -> Tally: ...


class TableTarget(Protocol):
    async def progress(self) -> tuple[str, dict[str, Progress]] | None:
        """The source fingerprint and each table's progress of a copy under way or
        done; ``None`` when no copy into this store ever started."""
        ...

    async def is_empty(self) -> bool: ...

    async def begin(self, fingerprint: str) -> None:
        """Create the progress table, naming the source."""
        ...

    async def write(self, table: Table, rows: Sequence[Row], progress: Progress) -> None:
        """``rows`` and ``progress`` in one transaction."""
        ...

    async def finish(self) -> None:
        """After the last table: identity counters past the copied ids."""
        ...

    async def file_keys(self, after: str | None, limit: int) -> list[Row]:
        """Up to ``limit`` files past the id ``after``, by id: (id, blob_key,
        thumbnail_key)."""
        ...

    async def rekey_file(
        self, file_id: str, blob_key: str, thumbnail_key: str | None, progress: Progress
    ) -> None:
        """Point a file at its blobs' new keys, and record ``progress`` under
        :data:`BLOBS`, in one transaction."""
        ...

    async def tally(self) -> Tally: ...


class Tables(TableSource, TableTarget, Protocol):
    """A store seen as tables, by either adapter."""

    @property
    def where(self) -> str:
        """The store, for people (no password)."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def schema_version(self) -> int: ...

    async def forget_progress(self) -> None:
        """Drop the progress table: the copy is over and checked."""
        ...


#: Called after each batch: the table, rows copied of it so far, and its total.
Reporter = Callable[[Table, int, int], None]


async def copy_tables(
    source: TableSource,
    target: TableTarget,
    *,
    batch: int = DEFAULT_BATCH,
    report: Reporter | None = None,
) -> None:
    """Copy every table of :data:`TABLES`, or what is left of them."""
    fingerprint = await source.fingerprint()
    found = await target.progress()
    if found is None:
        if not await target.is_empty():
            raise Conflict(
                "the target store holds data already: copy into an empty one"
                " (or go on with a copy from this same source)"
            )
        await target.begin(fingerprint)
        done: dict[str, Progress] = {}
    else:
        started_from, done = found
        if started_from != fingerprint:
            raise Conflict(
                "the target store holds a copy of another deployment: copy into an empty one"
            )
    for table in TABLES:
        state = done.get(table.name, Progress())
        total = await source.count(table)
        if report is not None:
            report(table, state.copied, total)
        if state.done:
            continue
        if table.parent is not None:
            rows = parents_first(table, await source.read(table, None, 0))
            await target.write(table, rows, Progress(copied=len(rows), done=True))
            if report is not None:
                report(table, len(rows), total)
            continue
        await _copy_batches(source, target, table, state, batch, total, report)
    await target.finish()


async def _copy_batches(
    source: TableSource,
    target: TableTarget,
    table: Table,
    state: Progress,
    batch: int,
    total: int,
    report: Reporter | None,
) -> None:
    """One table in batches; the next batch is read while the last one is written."""
    key = [table.names.index(k) for k in table.key]
    reading = asyncio.ensure_future(source.read(table, state.last, batch))
    try:
        while True:
            rows = await reading
            if not rows:
                await target.write(table, rows, Progress(state.copied, state.last, done=True))
                return
            last = [rows[-1][k] for k in key]
            reading = asyncio.ensure_future(source.read(table, last, batch))
            state = Progress(copied=state.copied + len(rows), last=last)
            await target.write(table, rows, state)
            if report is not None:
                report(table, state.copied, total)
    finally:
        if not reading.done():
            reading.cancel()
            with contextlib.suppress(BaseException):
                await reading


def parents_first(table: Table, rows: Sequence[Row]) -> list[Row]:
    """``rows`` ordered so that each comes after the row its ``table.parent`` names."""
    assert table.parent is not None
    key, parent = table.names.index(table.key[0]), table.names.index(table.parent)
    pending = sorted(rows, key=lambda row: row[key])
    placed: set[Any] = set()
    ordered: list[Row] = []
    while pending:
        ready = [r for r in pending if r[parent] is None or r[parent] in placed]
        if not ready:  # a cycle or a missing parent: the target's constraints will say
            ordered += pending
            break
        ordered += ready
        placed.update(r[key] for r in ready)
        pending = [r for r in pending if r[key] not in placed]
    return ordered
