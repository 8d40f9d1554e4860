"""Shared files over a real server whose file storage is an S3 bucket (moto's
server, as for the adapter's own tests): the same routes, the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from homer.config import HomerConfig
from homer.testing.server import replace_config, running_homer
from tests.blob.conftest import s3_url
from tests.server.test_files import LIMIT, files_of, png, small_files
from tests.services import scratch_database


async def test_files_on_s3(tmp_path: Path, s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    def on_s3(config: HomerConfig) -> HomerConfig:
        return msgspec.structs.replace(small_files(config), blob=s3_url(s3_endpoint, bucket))

    async with running_homer(tmp_path, configure=on_s3) as server, files_of(server) as files:
        token = await server.token("alice")
        picture = png(300, 150)
        status, info = await files.multipart(
            token, picture, name="s3.png", content_type="image/png"
        )
        assert status == 201, info
        status, body, _ = await files.get(token, f"/api/files/{info['id']}")
        assert (status, body) == (200, picture)
        status, body, _ = await files.get(token, f"/api/files/{info['id']}", {"Range": "bytes=-16"})
        assert (status, body) == (206, picture[-16:])
        assert (await files.get(token, f"/api/files/{info['id']}/thumbnail"))[0] == 200
        status, _ = await files.upload(
            token, b"x" * (LIMIT + 1), headers={"Content-Type": "application/octet-stream"}
        )
        assert status == 413

        async def endless() -> AsyncIterator[bytes]:
            for _ in range(1000):
                yield b"z" * 16_384

        status, _ = await files.upload(
            token, endless(), headers={"Content-Type": "application/octet-stream"}
        )
        assert status == 413
        assert len(await _objects(s3_client, bucket)) == 2  # the picture and its thumbnail
        await server.app.files.forget([info["id"]])
        assert (await files.get(token, f"/api/files/{info['id']}"))[0] == 404
        assert await _objects(s3_client, bucket) == []
        uploads = await s3_client.list_multipart_uploads(Bucket=bucket)
        assert uploads.get("Uploads", []) == []


async def _objects(client: Any, bucket: str) -> list[str]:
    listed = await client.list_objects_v2(Bucket=bucket)
    return [entry["Key"] for entry in listed.get("Contents", [])]


async def test_two_nodes_sharing_a_store_and_a_bucket_serve_each_others_files(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    """What one node stored, the other serves, to the same readers: the store
    decides who may read, the bucket holds the bytes."""
    async with scratch_database() as database:

        def shared(config: HomerConfig) -> HomerConfig:
            secret = {"secret_file": str(tmp_path / "token-secret.key")}  # one key for both
            return msgspec.structs.replace(
                replace_config(small_files(config), tokens=secret),
                store=database,
                blob=s3_url(s3_endpoint, bucket),
            )

        async with (
            running_homer(tmp_path / "one", configure=shared) as one,
            running_homer(tmp_path / "two", configure=shared) as two,
            files_of(one) as on_one,
            files_of(two) as on_two,
        ):
            alice, bob = await one.user("alice"), await one.user("bob")
            await one.user("carol")
            tokens = {name: await one.token(name) for name in ("alice", "bob", "carol")}
            await one.app.rooms.create(
                alice, room_id="lobby", kind="public", name=None, topic="", meta=None
            )
            await one.app.rooms.join(bob, "lobby")
            picture = png(120, 60)
            status, info = await on_one.multipart(
                tokens["alice"], picture, name="p.png", content_type="image/png"
            )
            assert status == 201
            path = f"/api/files/{info['id']}"
            assert (await on_two.get(tokens["bob"], path))[0] == 404  # not posted yet
            await one.app.files.attach(alice, [info["id"]], "lobby")
            status, body, _ = await on_two.get(tokens["bob"], path, {"Range": "bytes=0-7"})
            assert (status, body) == (206, picture[:8])
            assert (await on_two.get(tokens["carol"], path))[0] == 404
            assert await two.app.files.describe(bob, info["id"]) == info
            await two.app.files.forget([info["id"]])
            assert (await on_one.get(tokens["alice"], path))[0] == 404
