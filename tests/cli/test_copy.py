"""``homer copy`` from SQLite to PostgreSQL as real processes: a million
messages, killed half-way and resumed, then compared and served."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from homer.blob.filesystem import FileBlob
from tests.cli.data_kit import history, homer_command, homer_env, resumed, serving
from tests.server.test_process import free_port, make_user
from tests.services import scratch_database

ROOMS = 100
PER_ROOM = 10_000


def fill(database: Path, user_id: str) -> None:
    """``ROOMS`` rooms of ``PER_ROOM`` messages each, written straight into the
    (migrated) SQLite file by SQL: sending a million messages through a server
    would take minutes. The rows are what the server writes for a text message:
    its row (the body as the bytes of its JSON), its search row, the room's last
    seq and message count, a member."""
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        rooms = [(f"room-{n:03d}",) for n in range(ROOMS)]
        conn.executemany(
            "INSERT INTO rooms(id, kind, name, topic, meta, created_by, created_at, epoch,"
            " last_seq, dm_key, msgs) VALUES (?1, 'public', ?1, '', X'7B7D', ?2, 1.7e9, 1, ?3,"
            " NULL, ?3)",
            [(room, user_id, PER_ROOM) for (room,) in rooms],
        )
        conn.executemany(
            "INSERT INTO room_members VALUES (?, ?, 'owner', 1.7e9, 0, 0, 0)",
            [(room, user_id) for (room,) in rooms],
        )
        numbers = (
            "WITH RECURSIVE n(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM n WHERE seq < ?)"
        )
        conn.execute(
            f"{numbers} INSERT INTO messages"
            "(room_id, seq, id, sender_id, client_id, kind, ts, body)"
            " SELECT r.id, n.seq, r.id || '-' || printf('%05d', n.seq), ?, 'c' || n.seq, 'msg',"
            " 1.7e9 + n.seq / 1000.0,"
            " CAST('{\"text\":\"message ' || n.seq || ' of ' || r.id || '\"}' AS BLOB)"
            " FROM rooms r, n ORDER BY r.id, n.seq",
            (PER_ROOM, user_id),
        )
        conn.execute(
            "INSERT INTO search_docs(room_id, seq, sender_id, ts, text)"
            " SELECT room_id, seq, sender_id, ts, 'message ' || seq || ' of ' || room_id"
            " FROM messages ORDER BY room_id, seq"
        )
        conn.execute("COMMIT")


async def copied_so_far(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('copy_progress') IS NOT NULL")
        if not exists:
            return 0
        value = await conn.fetchval("SELECT value FROM copy_progress WHERE name = 'messages'")
        return 0 if value is None else int(json.loads(value)["copied"])
    finally:
        await conn.close()


async def what_a_server_answers(data: Path, *store: str, token: str) -> list[object]:
    port = free_port()
    async with serving(data, port, *store):
        return [
            await history(port, token, "room-007", after=0, limit=100),
            await history(port, token, "room-007", after=PER_ROOM - 100, limit=100),
            await history(port, token, "room-099", after=5000, limit=50),
            await resumed(port, token, "room-042", 1, PER_ROOM - 40),
        ]


@pytest.mark.timeout(240)
async def test_a_million_messages_copy_resumes_after_a_kill_and_match(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = make_user(data, "dan")
    with contextlib.closing(sqlite3.connect(data / "homer.db")) as conn:
        (user_id,) = conn.execute("SELECT id FROM users").fetchone()
    await asyncio.to_thread(fill, data / "homer.db", user_id)

    async with scratch_database() as target:
        copy = ("copy", "--from", "sqlite", "--to", target, "--data-dir", str(data))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "homer", *copy),
            env=homer_env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(120):
            while await copied_so_far(target) < ROOMS * PER_ROOM // 2:
                assert process.returncode is None, "the copy ended before it was stopped"
                await asyncio.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        halfway = await copied_so_far(target)
        assert ROOMS * PER_ROOM // 2 <= halfway < ROOMS * PER_ROOM

        code, out, err = await homer_command(*copy)
        assert code == 0, err
        assert out.splitlines()[-1] == "the copy matches its source"
        assert f"rooms checked: {ROOMS}, sums equal: {ROOMS}, differing: 0" in out
        assert "messages" in out
        assert [line.split() for line in out.splitlines() if line.startswith("messages ")] == [
            ["messages", str(ROOMS * PER_ROOM), str(ROOMS * PER_ROOM)]
        ]
        assert "groups: 2 rows, copied before" in err, "the rerun went on, it did not start over"
        assert "messages: " in err

        original = await what_a_server_answers(data, token=token)
        copied = await what_a_server_answers(data, "--store", target, token=token)
        assert copied == original
        assert len(original[0]) == 100  # type: ignore[arg-type]

        conn = await asyncpg.connect(target)
        try:
            (highest,) = await conn.fetchrow("SELECT max(id) FROM audit")
            fresh = await conn.fetchval(
                "INSERT INTO audit(at, actor, action, target, detail)"
                " VALUES (0, 'system', 'test', 'x', '{}') RETURNING id"
            )
        finally:
            await conn.close()
        assert fresh > highest, "the identity counter is past the copied ids"


async def test_copy_refuses_a_target_holding_another_deployments_data(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    make_user(first, "eve")
    make_user(second, "fay")
    async with scratch_database() as target:
        code, _, err = await homer_command(
            "copy", "--from", "sqlite", "--to", target, "--data-dir", str(first)
        )
        assert code == 0, err
        code, out, err = await homer_command(
            "copy", "--from", "sqlite", "--to", target, "--data-dir", str(first)
        )
        assert code == 0, "the same source again: checked again, nothing copied twice"
        assert "the copy matches its source" in out

        conn = await asyncpg.connect(target)
        try:
            await conn.execute("DELETE FROM users")
        finally:
            await conn.close()
        code, out, err = await homer_command(
            "copy", "--from", "sqlite", "--to", target, "--data-dir", str(first)
        )
        assert code == 1, "a target that no longer matches its source"
        assert [line.split() for line in out.splitlines() if line.startswith("users ")] == [
            ["users", "1", "0", "DIFFERS"]
        ]
        assert err.splitlines()[-2:] == [
            "homer: differs: users: 1 rows in the source, 0 in the target",
            "homer: error: the copy differs from its source",
        ]

        code, _, err = await homer_command(
            "copy", "--from", "sqlite", "--to", target, "--data-dir", str(second)
        )
        assert code == 1
        assert err == (
            "homer: error: the target store holds a copy of another deployment:"
            " copy into an empty one\n"
        )
    async with scratch_database() as used:
        code, _, err = await homer_command("migrate", "--store", used)
        conn = await asyncpg.connect(used)
        try:
            await conn.execute("INSERT INTO revoked_tokens(jti, expires_at) VALUES ('j', NULL)")
        finally:
            await conn.close()
        code, _, err = await homer_command(
            "copy", "--from", "sqlite", "--to", used, "--data-dir", str(first)
        )
        assert code == 1
        assert err == (
            "homer: error: the target store holds data already: copy into an empty one"
            " (or go on with a copy from this same source)\n"
        )


async def stored_blob(root: Path, data: bytes, content_type: str) -> str:
    blob = FileBlob(root)
    await blob.open()

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    info = await blob.put(chunks(), content_type=content_type, limit=len(data))
    return info.key


async def blob_bytes(root: Path, key: str) -> tuple[bytes, str]:
    blob = FileBlob(root)
    async with blob.read(key) as chunks:
        data = b"".join([chunk async for chunk in chunks])
    return data, (await blob.stat(key)).content_type


async def test_copy_moves_the_files_bytes_into_another_storage(tmp_path: Path) -> None:
    data, moved = tmp_path / "data", tmp_path / "moved"
    make_user(data, "gus")
    picture = await stored_blob(data / "files", b"\x89PNG not really" * 100, "image/png")
    thumbnail = await stored_blob(data / "files", b"small", "image/webp")
    with contextlib.closing(sqlite3.connect(data / "homer.db")) as conn:
        (user_id,) = conn.execute("SELECT id FROM users").fetchone()
        conn.executemany(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, 1.7e9, ?, ?, ?, ?)",
            [
                (
                    "f1",
                    user_id,
                    "a.png",
                    "image/png",
                    1500,
                    picture,
                    10,
                    10,
                    thumbnail,
                    "image/webp",
                ),
                ("f2", user_id, "gone.txt", "text/plain", 3, "0" * 32, None, None, None, None),
            ],
        )
        conn.commit()
    async with scratch_database() as target:
        copy = ("copy", "--from", "sqlite", "--to", target, "--data-dir", str(data))
        code, out, err = await homer_command(*copy, "--blob-to", f"file://{moved}")
        assert code == 0, err
        assert "the copy matches its source" in out
        assert "1 files' bytes were missing from the source storage" in err
        conn = await asyncpg.connect(target)
        try:
            rows = {
                r[0]: (r[1], r[2])
                for r in await conn.fetch("SELECT id, blob_key, thumbnail_key FROM files")
            }
        finally:
            await conn.close()
        new_picture, new_thumbnail = rows["f1"]
        assert new_picture != picture
        assert await blob_bytes(moved, new_picture) == (b"\x89PNG not really" * 100, "image/png")
        assert await blob_bytes(moved, new_thumbnail) == (b"small", "image/webp")
        assert rows["f2"] == ("0" * 32, None), "a file without its bytes keeps its key"

        code, _, err = await homer_command(*copy, "--blob-to", f"file://{moved}")
        assert code == 0, err
        assert len([p for p in moved.rglob("*") if p.is_file()]) == 2, "nothing copied twice"
