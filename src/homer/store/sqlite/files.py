"""Shared files on SQLite: :class:`~homer.store.ports.FileStore`, a mixin of
:class:`~homer.store.sqlite.store.SQLiteStore`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from homer.errors import NotFound
from homer.store.file_rows import FILE_COLUMNS, file_record, file_row
from homer.store.records import FileRecord
from homer.store.rules import no_room
from homer.store.sqlite.database import SQLiteDatabase

__all__ = ["SQLiteFiles"]

_INSERT = f"INSERT INTO files({FILE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
#: The uploader, or a current member of a room the file was posted in.
_READABLE = (
    f"SELECT {FILE_COLUMNS} FROM files f WHERE f.id = ? AND (f.uploader_id = ? OR EXISTS ("
    "SELECT 1 FROM file_rooms p JOIN room_members m ON m.room_id = p.room_id"
    " WHERE p.file_id = f.id AND m.user_id = ?))"
)


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SQLiteFiles:
    """:class:`~homer.store.ports.FileStore` on one SQLite database."""

    db: SQLiteDatabase

    async def insert_file(self, file: FileRecord) -> None:
        await self.db.write(lambda conn: conn.execute(_INSERT, file_row(file)))

    async def file(self, file_id: str) -> FileRecord | None:
        row = await self.db.fetch_one(f"SELECT {FILE_COLUMNS} FROM files WHERE id = ?", (file_id,))
        return None if row is None else file_record(row)

    async def files(self, file_ids: Sequence[str]) -> list[FileRecord]:
        if not file_ids:
            return []
        ids = list(dict.fromkeys(file_ids))
        rows = await self.db.fetch_all(
            f"SELECT {FILE_COLUMNS} FROM files WHERE id IN ({_marks(len(ids))})", ids
        )
        return [file_record(row) for row in rows]

    async def attach_files(self, room_id: str, file_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(file_ids))

        def run(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM rooms WHERE id = ?", (room_id,)).fetchone() is None:
                raise no_room(room_id)
            if ids:
                found = conn.execute(
                    f"SELECT COUNT(*) FROM files WHERE id IN ({_marks(len(ids))})", ids
                ).fetchone()[0]
                if found != len(ids):
                    raise NotFound("no such file")
            conn.executemany(
                "INSERT INTO file_rooms(file_id, room_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(file_id, room_id) for file_id in ids],
            )

        await self.db.write(run)

    async def readable_file(self, file_id: str, user_id: str) -> FileRecord | None:
        row = await self.db.fetch_one(_READABLE, (file_id, user_id, user_id))
        return None if row is None else file_record(row)

    async def delete_files(self, file_ids: Sequence[str]) -> list[FileRecord]:
        ids = list(dict.fromkeys(file_ids))
        if not ids:
            return []

        def run(conn: sqlite3.Connection) -> list[FileRecord]:
            rows = conn.execute(
                f"DELETE FROM files WHERE id IN ({_marks(len(ids))}) RETURNING {FILE_COLUMNS}", ids
            ).fetchall()
            return [file_record(row) for row in rows]

        return await self.db.write(run)
