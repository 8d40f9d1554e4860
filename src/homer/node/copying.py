"""``homer copy``: every table of one store into another, then both compared;
and, when asked, the files' bytes from one file storage into another.

The tables are :func:`homer.store.transfer.copy_tables` (batches, resumable).
The bytes come after them, file by file in id order: each blob is read from
the source storage and written to the target storage, which gives it a new
key, and the target's ``files`` row is pointed at it in the same transaction
that records the file as done. A copy stopped in between leaves at most one
blob the target storage holds for nothing; the rerun goes on with that file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from homer.blob.factory import blob_from_url
from homer.blob.filesystem import FileBlob
from homer.blob.ports import Blob
from homer.errors import InvalidInput, NotFound
from homer.store.export import TABLES, Table, Tally
from homer.store.factory import open_tables, same_store
from homer.store.transfer import BLOBS, DEFAULT_BATCH, Progress, Reporter, Tables, copy_tables

__all__ = ["copy_blobs", "copy_store"]

#: How the files' bytes show in the progress report.
BLOB_PROGRESS = Table(BLOBS, ("id",), ())
_FILES = 100
_FILES_TABLE = next(t for t in TABLES if t.name == "files")


async def copy_store(
    source_url: str,
    target_url: str,
    *,
    data_dir: Path,
    batch: int = DEFAULT_BATCH,
    report: Reporter | None = None,
    say: Callable[[str], None] | None = None,
    blobs: tuple[str, str] | None = None,
) -> tuple[Tally, Tally]:
    """Copy ``source_url``'s store into ``target_url``'s (empty, or a copy of it
    under way), and the files' bytes from ``blobs[0]`` to ``blobs[1]`` (file
    storage URLs) when given; the tallies of both stores afterwards."""
    if same_store(source_url, target_url, data_dir=data_dir):
        raise InvalidInput("--from and --to name the same store: copy into another one")
    storages = None
    if blobs is not None:
        storages = (
            blob_from_url(blobs[0], data_dir=data_dir),
            blob_from_url(blobs[1], data_dir=data_dir),
        )
        if _same_storage(*storages) or blobs[0] == blobs[1]:
            raise InvalidInput(
                "--blob-from and --blob-to name the same file storage: copy into another one"
            )
    source = open_tables(source_url, data_dir=data_dir, writable=False)
    target = open_tables(target_url, data_dir=data_dir, writable=True)
    await source.open()
    try:
        await target.open()
        try:
            await copy_tables(source, target, batch=batch, report=report)
            if storages is not None:
                missing = await copy_blobs(target, *storages, report=report)
                if missing and say is not None:
                    say(f"{missing} files' bytes were missing from the source storage")
            if say is not None:
                say("counting and summing both sides...")
            left, right = await asyncio.gather(source.tally(), target.tally())
            return left, right
        finally:
            await target.close()
    finally:
        await source.close()


def _same_storage(first: Blob, second: Blob) -> bool:
    if isinstance(first, FileBlob) and isinstance(second, FileBlob):
        return first.root.resolve() == second.root.resolve()
    return False


async def copy_blobs(
    target: Tables, source: Blob, destination: Blob, *, report: Reporter | None = None
) -> int:
    """Copy the bytes of each file the target store lists from ``source`` to
    ``destination``, re-pointing its row; resumable. How many were missing."""
    found = await target.progress()
    state = found[1].get(BLOBS, Progress()) if found is not None else Progress()
    total = await target.count(_FILES_TABLE)
    missing = 0
    await source.open()
    try:
        await destination.open()
        try:
            if report is not None:
                report(BLOB_PROGRESS, state.copied, total)
            while rows := await target.file_keys(state.last[0] if state.last else None, _FILES):
                for file_id, blob_key, thumbnail_key in rows:
                    new_blob = await _copy_one(source, destination, blob_key)
                    new_thumbnail = (
                        await _copy_one(source, destination, thumbnail_key)
                        if thumbnail_key
                        else None
                    )
                    missing += (new_blob is None) + (bool(thumbnail_key) and new_thumbnail is None)
                    state = Progress(copied=state.copied + 1, last=[file_id])
                    await target.rekey_file(
                        file_id, new_blob or blob_key, new_thumbnail or thumbnail_key, state
                    )
                    if report is not None:
                        report(BLOB_PROGRESS, state.copied, total)
        finally:
            await destination.close()
    finally:
        await source.close()
    return missing


async def _copy_one(source: Blob, destination: Blob, key: str) -> str | None:
    """The key ``destination`` gave the bytes ``source`` holds under ``key``;
    ``None`` when ``source`` has no such blob."""
    try:
        info = await source.stat(key)
        async with source.read(key) as chunks:
            stored = await destination.put(
                chunks, content_type=info.content_type, limit=max(info.size, 1)
            )
    except NotFound:
        return None
    return stored.key
