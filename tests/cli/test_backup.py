"""``homer backup`` and ``homer restore`` as real processes, beside a real server."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homer.blob.filesystem import FileBlob
from homer.client import HomerClient
from tests.cli.data_kit import history, homer_command, resumed, rooms_of, serving
from tests.server.test_process import free_port, make_user
from tests.services import scratch_database

ROOMS = [f"room-{n}" for n in range(5)]
CLIENTS = 50
SENDS = 2000
#: Seconds between two sends of one client: 2,000 sends then take some 5 s.
PACE = 0.12


def listing(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.mark.timeout(120)
async def test_a_backup_taken_during_sends_restores_a_consistent_store(tmp_path: Path) -> None:
    data, saved, restored = tmp_path / "data", tmp_path / "backup", tmp_path / "restored"
    token = make_user(data, "ann")
    port = free_port()
    acked: dict[str, tuple[str, int, float]] = {}
    url = f"http://127.0.0.1:{port}"
    async with serving(data, port):
        owner = HomerClient(url, token=token, reconnect=False)
        await owner.connect()
        for room in ROOMS:
            await owner.create(room)
        await owner.close()
        clients = [HomerClient(url, token=token, reconnect=False) for _ in range(CLIENTS)]
        await asyncio.gather(*(c.connect() for c in clients))

        async def sender(client: HomerClient, number: int) -> None:
            for i in range(SENDS // CLIENTS):
                cid = f"c{number}-{i}"
                room = ROOMS[(number + i) % len(ROOMS)]
                ack = await client.send(room, f"message {cid}", cid=cid)
                acked[cid] = (room, ack["seq"], time.monotonic())
                await asyncio.sleep(PACE)  # sending lasts longer than the backup

        senders = [asyncio.create_task(sender(c, n)) for n, c in enumerate(clients)]
        async with asyncio.timeout(60):
            while len(acked) < SENDS // 4:  # noqa: ASYNC110 - filled by the senders
                await asyncio.sleep(0.005)
        started = time.monotonic()
        code, out, err = await homer_command("backup", str(saved), "--data-dir", str(data))
        assert code == 0, err
        assert len(acked) < SENDS, "the backup ran while messages were sent"
        await asyncio.gather(*senders)
        await asyncio.gather(*(c.close() for c in clients))
        assert out.startswith("backed up the sqlite store (schema "), out

        code, out, err = await homer_command("restore", str(saved), "--data-dir", str(restored))
        assert code == 0, err
        assert "counts and sums match the backup's manifest" in out

        database = restored / "homer.db"
        with contextlib.closing(sqlite3.connect(database)) as conn:
            stored = {
                cid: (room, seq)
                for room, seq, cid in conn.execute("SELECT room_id, seq, client_id FROM messages")
            }
            for room, (_, last_seq) in rooms_of(database).items():
                seqs = [
                    s
                    for (s,) in conn.execute(
                        "SELECT seq FROM messages WHERE room_id = ? ORDER BY seq", (room,)
                    )
                ]
                assert seqs == list(range(1, last_seq + 1)), f"{room}: seqs are dense"
        before = {cid: where for cid, (*where, at) in acked.items() if at < started}
        assert before, "some messages were acked before the backup began"
        for cid, (room, seq) in before.items():
            assert stored.get(cid) == (room, seq), f"{cid}, acked before the backup, is in it"
        assert len(stored) < SENDS + len(ROOMS) * 2, "the backup holds a snapshot, not the end"

        restored_rooms = rooms_of(database)
        other = free_port()
        async with serving(restored, other):
            for room, (epoch, last_seq) in restored_rooms.items():
                here = await history(other, token, room, after=0, limit=last_seq)
                there = await history(port, token, room, after=0, limit=last_seq)
                assert here == there
                assert len(here) == last_seq
                start = max(last_seq - 30, 0)
                mine = await resumed(other, token, room, epoch, start)
                theirs = await resumed(port, token, room, epoch, start)
                assert mine[1:] == theirs[1 : len(mine)], "the same messages, resumed"
                assert mine[0]["last_seq"] == last_seq
                assert len(mine) == last_seq - start + 1


async def test_restore_refuses_a_target_holding_data_and_a_damaged_backup(tmp_path: Path) -> None:
    data, saved = tmp_path / "data", tmp_path / "backup"
    make_user(data, "bea")
    code, _, err = await homer_command("backup", str(saved), "--data-dir", str(data))
    assert code == 0, err

    code, _, err = await homer_command("backup", str(saved), "--data-dir", str(data))
    assert code == 1
    assert err == f"homer: error: {saved} exists and is not empty: back up into a new directory\n"

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    code, _, err = await homer_command("restore", str(saved), "--data-dir", str(busy))
    assert code == 1
    assert err == (
        f"homer: error: the data directory {busy} is not empty: restore into an empty one\n"
    )
    assert listing(busy) == {"notes.txt": b"keep me"}, "nothing changed"

    database = saved / "homer.db"
    damaged = bytearray(database.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    database.write_bytes(bytes(damaged))
    empty = tmp_path / "empty"
    code, _, err = await homer_command("restore", str(saved), "--data-dir", str(empty))
    assert code == 1
    assert err == (
        f"homer: error: the backup at {saved} is damaged: homer.db does not match its checksum\n"
    )
    assert not empty.exists(), "nothing written"


async def test_a_postgresql_store_backs_up_and_restores_into_either_store(tmp_path: Path) -> None:
    data, saved = tmp_path / "data", tmp_path / "backup"
    token = make_user(data, "cyd")
    port = free_port()
    async with scratch_database() as source, scratch_database() as target:
        code, _, err = await homer_command(
            "copy", "--from", "sqlite", "--to", source, "--data-dir", str(data)
        )
        assert code == 0, err
        async with serving(data, port, "--store", source):
            client = HomerClient(f"http://127.0.0.1:{port}", token=token)
            await client.connect()
            await client.create("pg")
            for n in range(30):
                await client.send("pg", f"on postgresql {n}")
            await client.close()
            code, out, err = await homer_command(
                "backup", str(saved), "--data-dir", str(data), "--store", source
            )
            assert code == 0, err
            assert out.startswith("backed up the postgresql store"), out
            assert sorted(p.name for p in saved.iterdir()) == [
                "homer.db",
                "manifest.json",
                "token-secret.key",
            ], "one self-contained database file"
            original = await history(port, token, "pg", after=0, limit=100)

        into_sqlite = tmp_path / "into-sqlite"
        code, _, err = await homer_command("restore", str(saved), "--data-dir", str(into_sqlite))
        assert code == 0, err
        into_postgresql = tmp_path / "into-postgresql"
        code, _, err = await homer_command(
            "restore", str(saved), "--data-dir", str(into_postgresql), "--store", target
        )
        assert code == 0, err
        code, _, err = await homer_command(
            "restore", str(saved), "--data-dir", str(tmp_path / "third"), "--store", target
        )
        assert code == 1
        assert err.endswith("holds data: restore into an empty one\n"), err

        async with serving(into_sqlite, port):
            assert await history(port, token, "pg", after=0, limit=100) == original
        async with serving(into_postgresql, port, "--store", target):
            assert await history(port, token, "pg", after=0, limit=100) == original


async def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = tmp_path / "nowhere"
    cases = {
        ("copy", "--from", "mongodb://db/x", "--to", "sqlite:///x.db"): (
            "homer: error: unknown store 'mongodb': use 'sqlite', 'sqlite:///path/to/file.db'"
            " or 'postgresql://user@host:port/database'"
        ),
        ("copy", "--from", "sqlite", "--to", f"sqlite://{data}/homer.db"): (
            "homer: error: --from and --to name the same store: copy into another one"
        ),
        ("restore", str(missing)): f"homer: error: there is no backup at {missing}",
        ("backup", str(missing), "--store", "mongodb://db/x"): (
            "homer: error: unknown store 'mongodb': use 'sqlite',"
            " 'sqlite:///path/to/file.db' or 'postgresql://user@host:port/database'"
        ),
    }
    for args, line in cases.items():
        code, _, err = await homer_command(*args, "--data-dir", str(data))
        assert (code, err) == (1, line + "\n"), args
    assert not missing.exists()


async def test_a_backup_carries_the_stored_files_and_the_token_key(tmp_path: Path) -> None:
    data, saved, restored = tmp_path / "data", tmp_path / "backup", tmp_path / "restored"
    token = make_user(data, "hal")
    blob = FileBlob(data / "files")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"the bytes of a shared file"

    key = (await blob.put(chunks(), content_type="text/plain", limit=100)).key
    code, _, err = await homer_command("backup", str(saved), "--data-dir", str(data))
    assert code == 0, err
    stored = blob.path_of(key).relative_to(data)
    assert (saved / stored).read_bytes() == blob.path_of(key).read_bytes()
    stray = saved / "files" / "zz" / "not-in-the-manifest"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")

    code, _, err = await homer_command("restore", str(saved), "--data-dir", str(restored))
    assert code == 0, err
    assert listing(restored) == {
        "homer.db": (saved / "homer.db").read_bytes(),
        "token-secret.key": (data / "token-secret.key").read_bytes(),
        str(stored): blob.path_of(key).read_bytes(),
    }
    code, _, err = await homer_command("token", "check", token, "--data-dir", str(restored))
    assert code == 0, "a token issued before the backup is valid after the restore"
