"""Shared files over a real server: upload (multipart and raw), download (whole,
ranges, thumbnails), the limits and checks, and who may read a file.

Every JSON answer is checked against the OpenAPI document the server serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from PIL import Image

from homer.client.errors import ClientError
from homer.config import HomerConfig
from homer.errors import Forbidden, InvalidInput, NotFound
from homer.identity.permissions import SYSTEM
from homer.testing.server import TestServer, replace_config, running_homer
from tests.server.test_rest import conforms

KIB = 1024


def png(width: int = 800, height: int = 600, colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "JPEG")
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few dozen bytes whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1))  # one row; the rest never comes
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def stored_blobs(data_dir: Path) -> list[Path]:
    """Every blob (and temp file) the file storage holds in ``data_dir``."""
    root = data_dir / "files"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@dataclass
class Files:
    """HTTP requests about files, each JSON answer checked against the document."""

    server: TestServer
    http: aiohttp.ClientSession
    document: dict[str, Any]

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    async def upload(
        self,
        token: str,
        data: Any,
        *,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = {"Authorization": f"Bearer {token}", **(headers or {})}
        async with self.http.post(
            self.url("/api/files"), data=data, headers=sent, params=query
        ) as response:
            answer = msgspec.json.decode(await response.read())
        conforms(self.document, "POST", "/api/files", response.status, answer)
        return response.status, answer

    async def multipart(
        self, token: str, body: bytes, *, name: str, content_type: str
    ) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("file", body, filename=name, content_type=content_type)
        return await self.upload(token, form)

    async def get(
        self, token: str | None, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, Any]:
        sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        async with self.http.get(self.url(path), headers=sent) as response:
            body = await response.read()
            if response.content_type == "application/json" and response.status >= 400:
                conforms(self.document, "GET", path, response.status, msgspec.json.decode(body))
            return response.status, body, response.headers


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[Files]:
    async with running_homer(tmp_path, configure=small_files) as server, files_of(server) as api:
        yield api


@contextlib.asynccontextmanager
async def files_of(server: TestServer) -> AsyncIterator[Files]:
    """Requests about files to ``server``, checked against its document."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/openapi.json") as response:
            document = await response.json()
        yield Files(server, http, document)


#: The size limit of the tests' node.
LIMIT = 256 * KIB


def small_files(config: HomerConfig) -> HomerConfig:
    return replace_config(config, files={"max_size": LIMIT, "thumbnail": 100})


# -- upload and download ---------------------------------------------------------------------


async def test_a_multipart_image_is_measured_thumbnailed_and_served_whole(files: Files) -> None:
    token = await files.server.token("alice")
    picture = png(800, 600)
    status, info = await files.multipart(token, picture, name="sea.png", content_type="image/png")
    assert status == 201, info
    assert info == {
        "id": info["id"],
        "name": "sea.png",
        "content_type": "image/png",
        "size": len(picture),
        "width": 800,
        "height": 600,
        "thumbnail": True,
    }
    status, body, headers = await files.get(token, f"/api/files/{info['id']}")
    assert status == 200
    assert body == picture
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Length"] == str(len(picture))
    assert (
        headers["Content-Disposition"] == "inline; filename=\"sea.png\"; filename*=UTF-8''sea.png"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "private"
    assert headers["Accept-Ranges"] == "bytes"
    etag = headers["ETag"]
    assert etag.startswith('"')
    status, body, _ = await files.get(token, f"/api/files/{info['id']}", {"If-None-Match": etag})
    assert (status, body) == (304, b"")

    status, thumb, headers = await files.get(token, f"/api/files/{info['id']}/thumbnail")
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(thumb)) as small:
        assert (small.format, small.size) == ("PNG", (100, 75))

    assert await files.server.app.files.describe(await files.server.user("alice"), info["id"]) == (
        info
    )


async def test_a_jpeg_gets_a_jpeg_thumbnail(files: Files) -> None:
    token = await files.server.token("alice")
    status, info = await files.multipart(
        token, jpeg(400, 200), name="a.jpg", content_type="image/jpeg"
    )
    assert status == 201, info
    assert (info["width"], info["height"]) == (400, 200)
    status, thumb, headers = await files.get(token, f"/api/files/{info['id']}/thumbnail")
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    with Image.open(io.BytesIO(thumb)) as small:
        assert (small.format, small.size) == ("JPEG", (100, 50))


async def test_a_raw_body_takes_its_name_from_the_query_or_content_disposition(
    files: Files,
) -> None:
    token = await files.server.token("alice")
    text = "grüße\n".encode() * 100
    status, info = await files.upload(
        token, text, headers={"Content-Type": "text/plain; charset=utf-8"}, query={"name": "a.txt"}
    )
    assert status == 201, info
    assert (info["name"], info["content_type"], info["size"]) == ("a.txt", "text/plain", len(text))
    assert info["thumbnail"] is False
    assert "width" not in info

    status, info = await files.upload(
        token,
        b"%PDF-1.4 not really",
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf",
        },
    )
    assert status == 201, info
    assert info["name"] == 'résumé "v2".pdf'
    status, body, headers = await files.get(token, f"/api/files/{info['id']}")
    assert (status, body) == (200, b"%PDF-1.4 not really")
    assert headers["Content-Disposition"] == (
        "attachment; filename=\"r_sum_ _v2_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf"
    )

    status, info = await files.upload(
        token, b"bytes", headers={"Content-Type": "application/octet-stream"}
    )
    assert (status, info["name"]) == (201, "file")


async def test_ranges_first_bytes_suffix_open_ended_and_unsatisfiable(files: Files) -> None:
    token = await files.server.token("alice")
    data = bytes(range(256)) * 300  # 76,800 bytes: more than one chunk
    size = len(data)
    status, info = await files.upload(token, data, headers={"Content-Type": "application/zip"})
    assert status == 201, info
    path = f"/api/files/{info['id']}"

    async def ranged(header: str) -> tuple[int, bytes, Any]:
        return await files.get(token, path, {"Range": header})

    status, body, headers = await ranged("bytes=0-9")
    assert (status, body, headers["Content-Range"]) == (206, data[:10], f"bytes 0-9/{size}")
    status, body, headers = await ranged("bytes=-100")
    assert (status, body) == (206, data[-100:])
    assert headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"
    status, body, headers = await ranged("bytes=70000-")
    assert (status, body, headers["Content-Range"]) == (
        206,
        data[70000:],
        f"bytes 70000-{size - 1}/{size}",
    )
    status, body, headers = await ranged(f"bytes=100-{size + 1000}")  # cut to the end
    assert (status, body) == (206, data[100:])
    status, body, headers = await ranged(f"bytes=-{size * 2}")  # more than there is: all
    assert (status, body) == (206, data)
    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 5}-{size + 9}", "bytes=-0"):
        status, body, headers = await ranged(unsatisfiable)
        assert status == 416, unsatisfiable
        assert headers["Content-Range"] == f"bytes */{size}"
    for ignored in ("bytes=9-2", "items=0-1", "bytes=0-1,5-6", "bytes=x-y", "bytes=-"):
        status, body, headers = await ranged(ignored)
        assert (status, body) == (200, data), ignored
        assert "Content-Range" not in headers
    status, body, _ = await files.get(token, path, {"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (status, body) == (200, data)


async def test_html_and_svg_are_attachments_and_nothing_is_sniffed(tmp_path: Path) -> None:
    def everything(config: HomerConfig) -> HomerConfig:
        return replace_config(config, files={"types": ["*/*"]})

    async with running_homer(tmp_path, configure=everything) as server, files_of(server) as files:
        token = await server.token("alice")
        for content_type, body in (
            ("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"),
            ("text/html", b"<script>alert(1)</script>"),
        ):
            status, info = await files.upload(
                token, body, headers={"Content-Type": content_type}, query={"name": "x"}
            )
            assert status == 201, info
            status, got, headers = await files.get(token, f"/api/files/{info['id']}")
            assert (status, got) == (200, body)
            assert headers["Content-Disposition"].startswith("attachment;")
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in headers["Content-Security-Policy"]


# -- limits and checks -------------------------------------------------------------------------


async def test_a_content_length_over_the_limit_is_refused_before_the_body(files: Files) -> None:
    token = await files.server.token("alice")
    host, port = files.server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            (
                "POST /api/files?name=big.bin HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/octet-stream\r\n"
                f"Content-Length: {10**9}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        # No body is sent: the answer comes from the head alone.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 413 ")
    finally:
        writer.close()
    status, answer = await files.upload(
        token, b"x" * (LIMIT + 1), headers={"Content-Type": "application/octet-stream"}
    )
    assert (status, answer["code"]) == (413, "too_large")
    form = aiohttp.FormData()
    form.add_field("file", b"x" * (LIMIT + 64 * KIB), filename="big.bin")
    status, answer = await files.upload(token, form)
    assert (status, answer["code"]) == (413, "too_large")
    assert stored_blobs(files.server.app.config.data_path) == []
    # Exactly at the limit is fine, raw or in a form.
    status, _ = await files.upload(
        token, b"x" * LIMIT, headers={"Content-Type": "application/octet-stream"}
    )
    assert status == 201
    status, _ = await files.multipart(
        token, b"y" * LIMIT, name="full.bin", content_type="application/octet-stream"
    )
    assert status == 201


async def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(files: Files) -> None:
    token = await files.server.token("alice")
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 100 * LIMIT:
            sent += 16 * KIB
            yield b"z" * (16 * KIB)
            await asyncio.sleep(0)

    status, answer = await files.upload(
        token, endless(), headers={"Content-Type": "application/octet-stream"}
    )
    assert (status, answer["code"]) == (413, "too_large")
    # The refusal came as soon as the limit was passed, not once all was sent; and the
    # body was never buffered whole (a 25 MiB body over aiohttp's client_max_size
    # would have been refused by aiohttp itself, as text).
    assert sent < 100 * LIMIT
    assert stored_blobs(files.server.app.config.data_path) == []


async def test_an_upload_whose_body_stalls_is_cut_off(tmp_path: Path) -> None:
    def quick(config: HomerConfig) -> HomerConfig:
        return replace_config(small_files(config), limits={"handshake_timeout": 0.5})

    async with running_homer(tmp_path, configure=quick) as server:
        token = await server.token("alice")
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                (
                    "POST /api/files?name=slow.bin HTTP/1.1\r\n"
                    f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
                    "Content-Type: application/octet-stream\r\n"
                    "Content-Length: 1000\r\n\r\n"
                ).encode()
                + b"x" * 10
            )
            started = asyncio.get_running_loop().time()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 408"), head[:60]
        assert asyncio.get_running_loop().time() - started < 2
        assert stored_blobs(server.app.config.data_path) == []


async def test_an_upload_without_a_file_is_refused(files: Files) -> None:
    token = await files.server.token("alice")
    async with files.http.post(
        files.url("/api/files"), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        answer = await response.json()
    assert (response.status, answer["code"]) == (400, "invalid")
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("comment", "no file here")
    status, answer = await files.upload(token, form)
    assert (status, answer["code"]) == (400, "invalid")
    assert "no file part" in answer["message"]
    # A field before the file part is skipped.
    form = aiohttp.FormData()
    form.add_field("comment", "a note")
    form.add_field("file", b"data", filename="notes.txt", content_type="text/plain")
    status, info = await files.upload(token, form)
    assert (status, info["name"], info["size"]) == (201, "notes.txt", 4)


async def test_a_malformed_or_cut_multipart_body_is_refused(files: Files) -> None:
    token = await files.server.token("alice")
    part = b"--xx\r\nContent-Disposition: form-data; name=f; filename=a.txt\r\n\r\nabc"
    for content_type, body in (
        ("multipart/form-data", b"no boundary named"),
        ("multipart/form-data; boundary=xx", b"no boundary in the body"),
        ("multipart/form-data; boundary=xx", part),  # cut before its closing boundary
        # After the file, a part whose header is not one: the file is not kept.
        ("multipart/form-data; boundary=xx", part + b"\r\n--xx\r\nX: \x01\r\n\r\nx\r\n--xx--\r\n"),
        # A part's header that is not one (a control character in it).
        ("multipart/form-data; boundary=xx", b"--xx\r\nContent-Disposition: form-\x01\r\n\r\n"),
    ):
        status, answer = await files.upload(token, body, headers={"Content-Type": content_type})
        assert (status, answer["code"]) == (400, "invalid"), body
    status, info = await files.upload(
        token,
        part + b"\r\n--xx--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert (status, info["name"], info["size"]) == (201, "a.txt", 3)


async def test_a_client_leaving_mid_upload_leaves_nothing(files: Files) -> None:
    token = await files.server.token("alice")
    host, port = files.server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            "POST /api/files?name=cut.bin HTTP/1.1\r\n"
            f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n"
        ).encode()
        + b"x" * 100_000
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if not stored_blobs(files.server.app.config.data_path):
            break
    assert stored_blobs(files.server.app.config.data_path) == []
    assert await reader.read() == b""  # no answer: nobody to give it to


async def test_a_head_request_gets_the_headers_without_the_bytes(files: Files) -> None:
    token = await files.server.token("alice")
    _, info = await files.upload(token, b"0123456789", headers={"Content-Type": "text/plain"})
    async with files.http.head(
        files.url(f"/api/files/{info['id']}"), headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == "10"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert await response.read() == b""


async def test_an_image_whose_bytes_are_another_type_is_refused(files: Files) -> None:
    token = await files.server.token("alice")
    for declared, body in (
        ("image/png", jpeg()),
        ("image/jpeg", png(10, 10)),
        ("image/gif", b"GIF89a but not really"),
        ("image/webp", b"plain text"),
        ("image/png", png(200, 200)[:300]),  # truncated
    ):
        status, answer = await files.multipart(token, body, name="x", content_type=declared)
        assert (status, answer["code"]) == (400, "invalid"), declared
        assert "not a readable" in answer["message"]
    assert stored_blobs(files.server.app.config.data_path) == []


async def test_a_decompression_bomb_is_refused_before_it_is_decoded(files: Files) -> None:
    token = await files.server.token("alice")
    # Over the configured cap (50 megapixels), and over Pillow's own far larger one.
    for width, height, said in ((8_000, 8_000, "8000x8000 pixels"), (100_000, 100_000, "")):
        bomb = png_bomb(width, height)
        assert len(bomb) < 1_000
        status, answer = await files.multipart(
            token, bomb, name="bomb.png", content_type="image/png"
        )
        assert (status, answer["code"]) == (413, "too_large")
        assert "over the limit of 50000000 pixels" in answer["message"]
        assert said in answer["message"]
    assert stored_blobs(files.server.app.config.data_path) == []


async def test_a_type_outside_the_allow_list_is_refused(files: Files) -> None:
    token = await files.server.token("alice")
    for content_type in ("image/svg+xml", "text/html", "application/x-msdownload"):
        status, answer = await files.upload(
            token, b"<svg/>", headers={"Content-Type": content_type}
        )
        assert (status, answer["code"]) == (415, "unsupported_media_type"), content_type
        assert "not accepted" in answer["message"]
    # A type/* pattern of the default list.
    status, _ = await files.upload(token, b"ID3", headers={"Content-Type": "audio/mpeg"})
    assert status == 201
    assert (await files.upload(token, b"x", headers={"Content-Type": "nonsense"}))[0] == 400
    assert stored_blobs(files.server.app.config.data_path) != []


async def test_uploads_need_a_token_and_room_post(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, files_of(server) as files:
        await server.app.identity.groups.create(SYSTEM, "mute", [])
        mute = await server.token("mute-user", group="mute")
        status, answer = await files.upload(mute, b"x", headers={"Content-Type": "text/plain"})
        assert (status, answer["code"]) == (403, "forbidden")
        async with files.http.post(files.url("/api/files"), data=b"x") as response:
            assert response.status == 401
        status, _, _ = await files.get(None, "/api/files/anything")
        assert status == 401


# -- who may read a file ---------------------------------------------------------------------


async def test_who_may_read_a_file(files: Files) -> None:
    server, app = files.server, files.server.app
    alice, bob, carol = [await server.user(name) for name in ("alice", "bob", "carol")]
    tokens = {name: await server.token(name) for name in ("alice", "bob", "carol")}
    await app.rooms.create(alice, room_id="lobby", kind="public", name=None, topic="", meta=None)
    await app.rooms.join(bob, "lobby")
    status, info = await files.multipart(
        tokens["alice"], png(40, 30), name="p.png", content_type="image/png"
    )
    assert status == 201
    path = f"/api/files/{info['id']}"

    async def readers() -> dict[str, int]:
        return {name: (await files.get(token, path))[0] for name, token in tokens.items()}

    # Before it is posted: its uploader only; to anyone else it does not exist.
    assert await readers() == {"alice": 200, "bob": 404, "carol": 404}
    status, _, _ = await files.get(tokens["bob"], "/api/files/no-such-file")
    assert status == 404
    # Posted in the lobby: its members.
    assert await app.files.attach(alice, [info["id"]], "lobby") == [info]
    assert await readers() == {"alice": 200, "bob": 200, "carol": 404}
    assert (await files.get(tokens["bob"], f"{path}/thumbnail"))[0] == 200
    assert (await files.get(tokens["carol"], f"{path}/thumbnail"))[0] == 404
    # A member who left no longer may; one who joins may.
    await app.rooms.leave(bob, "lobby")
    await app.rooms.join(carol, "lobby")
    assert await readers() == {"alice": 200, "bob": 404, "carol": 200}
    # Forgotten (a redaction): nobody, and its bytes are gone.
    assert len(stored_blobs(app.config.data_path)) == 2  # the file and its thumbnail
    await app.files.forget([info["id"]])
    await app.files.forget([info["id"]])  # again: nothing to do, no error
    assert await readers() == {"alice": 404, "bob": 404, "carol": 404}
    assert stored_blobs(app.config.data_path) == []


async def test_attach_checks_each_file_and_the_room(files: Files) -> None:
    server, app = files.server, files.server.app
    alice, bob, carol = [await server.user(name) for name in ("alice", "bob", "carol")]
    for room, owner in (("lobby", alice), ("den", bob), ("attic", carol)):
        await app.rooms.create(owner, room_id=room, kind="public", name=None, topic="", meta=None)
    await app.rooms.join(bob, "lobby")
    token = await server.token("alice")
    ids = []
    for n in range(11):
        _, info = await files.upload(
            token, b"%d" % n, headers={"Content-Type": "text/plain"}, query={"name": f"{n}.txt"}
        )
        ids.append(info["id"])
    with pytest.raises(InvalidInput, match="at most 10"):
        await app.files.attach(alice, ids, "lobby")
    with pytest.raises(NotFound):
        await app.files.attach(alice, [ids[0], "f-missing"], "lobby")
    with pytest.raises(Forbidden):
        await app.files.attach(alice, [ids[0]], "den")  # not a member
    # Bob may not post Alice's file before he can read it...
    with pytest.raises(NotFound):
        await app.files.attach(bob, [ids[0]], "lobby")
    described = await app.files.attach(alice, ids[:2] + ids[:1], "lobby")
    assert [d["id"] for d in described] == ids[:2]
    # ...and may forward it once he can: then the den's members may read it too.
    assert await app.files.attach(bob, [ids[0]], "den") == described[:1]
    assert await app.files.attach(alice, [], "den") == []


async def test_the_file_op_over_a_websocket(files: Files) -> None:
    server = files.server
    token = await server.token("alice")
    status, info = await files.upload(
        token, b"hello", headers={"Content-Type": "text/plain"}, query={"name": "hi.txt"}
    )
    assert status == 201
    alice = await server.client("alice")
    bob = await server.client("bob")
    assert await alice.request("file", id=info["id"]) == info
    with pytest.raises(ClientError) as refused:
        await bob.request("file", id=info["id"])
    assert refused.value.wire_code == "not_found"
    # And over plain HTTP, as any operation.
    async with files.http.post(
        files.url("/api/ops/file"),
        json={"id": info["id"]},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 200
        assert (await response.json())["body"] == info


async def test_a_message_shares_files_and_its_redaction_deletes_them(files: Files) -> None:
    """``send`` with ``files`` posts them in the room: the message lists their
    descriptions and the room's members may read them; redacting the message
    deletes them, bytes and thumbnail."""
    server, app = files.server, files.server.app
    tokens = {name: await server.token(name) for name in ("alice", "bob", "eve")}
    alice, bob = await server.client("alice"), await server.client("bob")
    await alice.create("lobby")
    await bob.join("lobby")
    status, picture = await files.multipart(
        tokens["alice"], png(40, 30), name="p.png", content_type="image/png"
    )
    assert status == 201
    path = f"/api/files/{picture['id']}"
    with pytest.raises(ClientError) as foreign:  # not bob's to share
        await bob.send("lobby", "look", files=[picture["id"]])
    assert foreign.value.wire_code == "not_found"
    sent = await alice.send("lobby", "look", files=[picture["id"]])
    (shown,) = [m for m in await bob.history("lobby") if m.seq == sent["seq"]]
    assert shown.body["files"] == [picture]
    assert (await files.get(tokens["bob"], path))[0] == 200
    assert (await files.get(tokens["eve"], path))[0] == 404
    only_files = await alice.send("lobby", "", files=[picture["id"]])  # a file alone will do
    assert only_files["seq"] == sent["seq"] + 1
    await alice.redact("lobby", sent["seq"])
    assert (await files.get(tokens["alice"], path))[0] == 404
    assert stored_blobs(app.config.data_path) == []
    (gone,) = [m for m in await bob.history("lobby") if m.seq == sent["seq"]]
    assert "files" not in gone.body
