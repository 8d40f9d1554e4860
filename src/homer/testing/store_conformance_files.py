"""The store conformance kit, shared files (part of
:class:`~homer.testing.store_conformance.StoreConformance`).

A file is readable by its uploader, and by whoever is a member of a room it was
posted in, for as long as they are; a stranger cannot tell a file they may not
read from one that does not exist. Deleting a file returns what it held, so its
blobs can go too.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from homer.errors import Conflict, NotFound
from homer.store.ports import Store
from homer.store.records import FileRecord
from homer.testing.store_kit import KitBase, fields_of, make_member

__all__ = ["FileConformance", "make_file"]


def make_file(uploader_id: str = "u-ann", **overrides: Any) -> FileRecord:
    fields: dict[str, Any] = {
        "id": f"f-{uuid.uuid4().hex}",
        "uploader_id": uploader_id,
        "name": "café menu.pdf",
        "content_type": "application/pdf",
        "size": 12_345,
        "blob_key": uuid.uuid4().hex,
        "created_at": 40.5,
    }
    fields.update(overrides)
    return FileRecord(**fields)


class FileConformance(KitBase):
    """What every Store adapter must do with shared files."""

    async def test_file_round_trip_with_and_without_image_fields(self, store: Store) -> None:
        plain = make_file()
        image = make_file(
            content_type="image/png",
            width=4000,
            height=3000,
            thumbnail_key=uuid.uuid4().hex,
            thumbnail_type="image/png",
            size=2**33,  # past 32 bits
        )
        for file in (plain, image):
            await store.insert_file(file)
            assert await store.file(file.id) == file
            assert fields_of(await store.file(file.id)) == fields_of(file)
        assert await store.file("f-missing") is None
        found = await store.files([image.id, "f-missing", plain.id, image.id])
        assert sorted(found, key=lambda f: f.id) == sorted([plain, image], key=lambda f: f.id)
        assert await store.files([]) == []

    async def test_a_taken_file_id_is_a_conflict(self, store: Store) -> None:
        file = make_file()
        await store.insert_file(file)
        with pytest.raises(Conflict):
            await store.insert_file(make_file(id=file.id, name="other"))
        assert await store.file(file.id) == file

    async def test_the_uploader_reads_a_file_before_it_is_posted(self, store: Store) -> None:
        file = make_file("u-ann")
        await store.insert_file(file)
        assert await store.readable_file(file.id, "u-ann") == file
        assert await store.readable_file(file.id, "u-bob") is None
        assert await store.readable_file("f-missing", "u-ann") is None

    async def test_members_of_a_room_it_was_posted_in_read_it_while_they_are(
        self, store: Store
    ) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        other = await self._room(store, "u-cy")
        file = make_file("u-ann")
        await store.insert_file(file)
        await store.attach_files(room.id, [file.id])
        await store.attach_files(room.id, [file.id])  # again: no error
        assert await store.readable_file(file.id, "u-bob") == file
        assert await store.readable_file(file.id, "u-cy") is None  # in another room
        await store.attach_files(other.id, [file.id])
        assert await store.readable_file(file.id, "u-cy") == file
        assert await store.remove_member(room.id, "u-bob")
        assert await store.readable_file(file.id, "u-bob") is None  # left
        assert await store.readable_file(file.id, "u-ann") == file  # the uploader always
        await store.add_member(make_member(room.id, "u-dan"))
        assert await store.readable_file(file.id, "u-dan") == file  # a later member too

    async def test_a_deleted_room_forgets_what_was_posted_in_it(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        file = make_file("u-ann")
        await store.insert_file(file)
        await store.attach_files(room.id, [file.id])
        assert await store.delete_room(room.id)
        assert await store.readable_file(file.id, "u-bob") is None
        assert await store.file(file.id) == file  # the file itself stays

    async def test_attaching_to_a_missing_room_or_a_missing_file_attaches_nothing(
        self, store: Store
    ) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        file = make_file("u-ann")
        await store.insert_file(file)
        with pytest.raises(NotFound):
            await store.attach_files("no-such-room", [file.id])
        with pytest.raises(NotFound):
            await store.attach_files(room.id, [file.id, "f-missing"])
        assert await store.readable_file(file.id, "u-bob") is None
        await store.attach_files(room.id, [])

    async def test_delete_files_returns_what_there_was_and_forgets_them(self, store: Store) -> None:
        room = await self._room(store, "u-ann", "u-bob")
        one, two = make_file("u-ann"), make_file("u-ann", thumbnail_key="ab" * 16)
        for file in (one, two):
            await store.insert_file(file)
        await store.attach_files(room.id, [one.id, two.id])
        deleted = await store.delete_files([one.id, two.id, "f-missing"])
        assert sorted(deleted, key=lambda f: f.id) == sorted([one, two], key=lambda f: f.id)
        assert two.blob_keys == (two.blob_key, "ab" * 16)
        for file in (one, two):
            assert await store.file(file.id) is None
            assert await store.readable_file(file.id, "u-ann") is None
        assert await store.delete_files([one.id]) == []  # again: nothing, no error
        assert await store.delete_files([]) == []
        # The room's membership is untouched, and a new file can be posted there.
        again = make_file("u-bob")
        await store.insert_file(again)
        await store.attach_files(room.id, [again.id])
        assert await store.readable_file(again.id, "u-ann") == again

    async def test_concurrent_deletes_return_each_file_once(self, store: Store) -> None:
        files = [make_file() for _ in range(6)]
        for file in files:
            await store.insert_file(file)
        ids = [file.id for file in files]
        results = await asyncio.gather(*(store.delete_files(ids) for _ in range(4)))
        returned = [file.id for result in results for file in result]
        assert sorted(returned) == sorted(ids)
