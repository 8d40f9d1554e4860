"""Shared files on PostgreSQL: :class:`~homer.store.ports.FileStore`, a mixin of
:class:`~homer.store.postgresql.store.PostgreSQLStore`."""

from __future__ import annotations

from collections.abc import Sequence

from homer.errors import NotFound
from homer.store.file_rows import FILE_COLUMNS, file_record, file_row
from homer.store.postgresql.database import Connection, PostgreSQLDatabase, marks
from homer.store.records import FileRecord
from homer.store.rules import no_room

__all__ = ["PostgreSQLFiles"]

_INSERT = f"INSERT INTO files({FILE_COLUMNS}) VALUES ({marks(11)})"
#: The uploader, or a current member of a room the file was posted in.
_READABLE = (
    f"SELECT {FILE_COLUMNS} FROM files f WHERE f.id = $1 AND (f.uploader_id = $2 OR EXISTS ("
    "SELECT 1 FROM file_rooms p JOIN room_members m ON m.room_id = p.room_id"
    " WHERE p.file_id = f.id AND m.user_id = $2))"
)
#: The room is kept from being deleted, and the files too, until the commit.
_ROOM = "SELECT 1 FROM rooms WHERE id = $1 FOR KEY SHARE"
_FOUND = "SELECT count(*) FROM (SELECT 1 FROM files WHERE id = ANY($1::text[]) FOR KEY SHARE) f"
_ATTACH = (
    "INSERT INTO file_rooms(file_id, room_id) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING"
)


class PostgreSQLFiles:
    """:class:`~homer.store.ports.FileStore` on one PostgreSQL database."""

    db: PostgreSQLDatabase

    async def insert_file(self, file: FileRecord) -> None:
        await self.db.execute(_INSERT, *file_row(file))

    async def file(self, file_id: str) -> FileRecord | None:
        row = await self.db.fetchrow(f"SELECT {FILE_COLUMNS} FROM files WHERE id = $1", file_id)
        return None if row is None else file_record(row)

    async def files(self, file_ids: Sequence[str]) -> list[FileRecord]:
        if not file_ids:
            return []
        rows = await self.db.fetch(
            f"SELECT {FILE_COLUMNS} FROM files WHERE id = ANY($1::text[])", list(file_ids)
        )
        return [file_record(row) for row in rows]

    async def attach_files(self, room_id: str, file_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(file_ids))

        async def run(conn: Connection) -> None:
            if await conn.fetchrow(_ROOM, room_id) is None:
                raise no_room(room_id)
            if not ids:
                return
            if await conn.fetchval(_FOUND, ids) != len(ids):
                raise NotFound("no such file")
            await conn.execute(_ATTACH, ids, room_id)

        await self.db.write(run)

    async def readable_file(self, file_id: str, user_id: str) -> FileRecord | None:
        row = await self.db.fetchrow(_READABLE, file_id, user_id)
        return None if row is None else file_record(row)

    async def delete_files(self, file_ids: Sequence[str]) -> list[FileRecord]:
        if not file_ids:
            return []
        rows = await self.db.fetch(
            f"DELETE FROM files WHERE id = ANY($1::text[]) RETURNING {FILE_COLUMNS}",
            list(file_ids),
        )
        return [file_record(row) for row in rows]
