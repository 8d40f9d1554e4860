"""The filesystem adapter: the conformance suite, then what only files do
(permissions, temp files, the atomic rename, leftovers of a crash)."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homer.blob import filesystem
from homer.blob.filesystem import STALE_AFTER, FileBlob
from homer.blob.ports import Blob, new_key
from homer.errors import BlobError, NotFound
from homer.testing.blob_conformance import BlobConformance, Failing, read_all, stream


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


class TestFileBlob(BlobConformance):
    @pytest.fixture
    async def blob(self, tmp_path: Path) -> AsyncIterator[FileBlob]:
        adapter = FileBlob(tmp_path / "files")
        await adapter.open()
        yield adapter
        await adapter.close()

    async def contents(self, blob: Blob) -> set[str]:
        assert isinstance(blob, FileBlob)
        return await asyncio.to_thread(files_under, blob.root)


@pytest.fixture
async def blob(tmp_path: Path) -> AsyncIterator[FileBlob]:
    adapter = FileBlob(tmp_path / "files")
    await adapter.open()
    yield adapter
    await adapter.close()


async def test_files_and_directories_are_for_the_owner_only(blob: FileBlob) -> None:
    info = await blob.put(stream(b"secret"), content_type="a/b", limit=10)
    path = blob.path_of(info.key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (blob.root, blob.root / "tmp", path.parent, path.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


async def test_blobs_are_sharded_by_key(blob: FileBlob) -> None:
    info = await blob.put(stream(b"x"), content_type="a/b", limit=1)
    assert files_under(blob.root) == {f"{info.key[:2]}/{info.key[2:4]}/{info.key}"}


async def test_a_write_in_progress_is_a_temp_file_only(blob: FileBlob) -> None:
    """Until the rename, the blob's place holds nothing: no reader sees half of it."""
    halfway = asyncio.Event()
    go_on = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * 200_000
        halfway.set()
        await go_on.wait()
        yield b"b"

    task = asyncio.create_task(blob.put(slow(), content_type="a/b", limit=300_000))
    await halfway.wait()
    (temp,) = files_under(blob.root)
    assert temp.startswith("tmp/")
    assert temp.endswith(".part")
    go_on.set()
    info = await task
    assert files_under(blob.root) == {str(blob.path_of(info.key).relative_to(blob.root))}
    assert await read_all(blob, info.key) == b"a" * 200_000 + b"b"


async def test_a_failed_write_leaves_no_temp_file(blob: FileBlob) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * 200_000
        raise Failing("gone")

    with pytest.raises(Failing):
        await blob.put(broken(), content_type="a/b", limit=10**6)
    assert files_under(blob.root) == set()


async def test_the_rename_is_the_only_publication(
    blob: FileBlob, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails at the very last step (the rename) leaves neither the
    blob nor its temp file."""

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(BlobError, match="No space left"):
        await blob.put(stream(b"x" * 1000), content_type="a/b", limit=10**6)
    assert files_under(blob.root) == set()


async def test_open_removes_what_a_crash_left_only_once_it_is_old(tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "tmp").mkdir(parents=True)
    old, recent = root / "tmp" / f"{new_key()}.part", root / "tmp" / f"{new_key()}.part"
    old.write_bytes(b"half")
    recent.write_bytes(b"half")
    then = time.time() - STALE_AFTER - 60
    os.utime(old, (then, then))
    await FileBlob(root).open()
    assert not old.exists()
    assert recent.exists()  # perhaps another write in progress


async def test_a_damaged_file_is_a_blob_error_not_a_crash(blob: FileBlob) -> None:
    info = await blob.put(stream(b"fine"), content_type="a/b", limit=10)
    blob.path_of(info.key).write_bytes(b"\x00\x00\x00\x05garbage")
    with pytest.raises(BlobError, match="damaged"):
        await blob.stat(info.key)
    blob.path_of(info.key).write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(BlobError, match="damaged"):
        await read_all(blob, info.key)


async def test_without_fsync_blobs_are_the_same(tmp_path: Path) -> None:
    adapter = FileBlob(tmp_path, fsync=False)
    await adapter.open()
    info = await adapter.put(stream(b"quick"), content_type="a/b", limit=10)
    assert await read_all(adapter, info.key) == b"quick"


async def test_a_key_never_reaches_outside_the_root(blob: FileBlob, tmp_path: Path) -> None:
    (tmp_path / "outside").write_bytes(b"\x00\x00\x00\x02{}")
    with pytest.raises(NotFound):
        await blob.stat("../outside")


async def test_opening_creates_nothing_until_the_first_file(tmp_path: Path) -> None:
    adapter = FileBlob(tmp_path / "data" / "files")
    await adapter.open()
    assert not (tmp_path / "data").exists()
    await adapter.put(stream(b"x"), content_type="a/b", limit=1)
    assert (tmp_path / "data" / "files" / "tmp").is_dir()
    await adapter.close()


async def test_a_write_cancelled_while_its_thread_publishes_leaves_nothing(
    blob: FileBlob, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling cannot stop a thread: the clean-up waits for it, then removes
    even a blob it had already renamed into place (its key is never returned)."""
    publishing = threading.Event()
    release = threading.Event()
    sync_directory = filesystem._fsync_directory

    def slow_sync(path: Path) -> None:
        publishing.set()
        release.wait(timeout=30)
        sync_directory(path)

    monkeypatch.setattr(filesystem, "_fsync_directory", slow_sync)
    task = asyncio.create_task(blob.put(stream(b"x" * 1000), content_type="a/b", limit=10**6))
    await asyncio.to_thread(publishing.wait, 30)
    task.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(blob.root) == set()
