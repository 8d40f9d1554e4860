"""The columns of the ``files`` table and its rows <-> :class:`FileRecord`, shared by
the SQL adapters (the table holds no JSON: both read it the same way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homer.store.records import FileRecord

__all__ = ["FILE_COLUMNS", "file_record", "file_row"]

FILE_COLUMNS = (
    "id, uploader_id, name, content_type, size, blob_key, created_at,"
    " width, height, thumbnail_key, thumbnail_type"
)


def file_record(row: Sequence[Any]) -> FileRecord:
    return FileRecord(
        id=row[0],
        uploader_id=row[1],
        name=row[2],
        content_type=row[3],
        size=row[4],
        blob_key=row[5],
        created_at=row[6],
        width=row[7],
        height=row[8],
        thumbnail_key=row[9],
        thumbnail_type=row[10],
    )


def file_row(file: FileRecord) -> tuple[Any, ...]:
    return (
        file.id,
        file.uploader_id,
        file.name,
        file.content_type,
        file.size,
        file.blob_key,
        file.created_at,
        file.width,
        file.height,
        file.thumbnail_key,
        file.thumbnail_type,
    )
