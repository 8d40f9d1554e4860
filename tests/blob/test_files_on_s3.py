"""Shared files over a real server whose file storage is an S3 bucket (moto's
server, as for the adapter's own tests): the same routes, the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from homer.config import HomerConfig
from homer.testing.server import running_homer
from tests.blob.conftest import s3_url
from tests.server.test_files import LIMIT, files_of, png, small_files


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
