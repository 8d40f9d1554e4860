"""POST /api/ops/{op}: every operation over plain HTTP, in JSON or MessagePack."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from homer.testing.server import TestServer, running_homer


async def op(
    server: TestServer,
    token: str | None,
    name: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any], str]:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else msgspec.json.encode(body) if body is not None else b""
    if data and "Content-Type" not in sent:
        sent["Content-Type"] = "application/json"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/ops/{name}", data=data, headers=sent) as response,
    ):
        payload = await response.read()
        kind = response.headers.get("Content-Type", "")
        if kind.startswith("application/msgpack"):
            return response.status, msgspec.msgpack.decode(payload), kind
        if kind.startswith("application/json"):
            return response.status, msgspec.json.decode(payload), kind
        return response.status, {"text": payload.decode()}, kind


async def test_ops_answer_with_the_websocket_envelopes(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        token = await server.token("alice")
        status, created, kind = await op(server, token, "create", {"room": "lobby"})
        assert (status, created["op"], created["body"]["id"]) == (200, "reply", "lobby")
        assert kind.startswith("application/json")
        status, sent, _ = await op(
            server, token, "send", {"room": "lobby", "cid": "a", "text": "hi"}
        )
        assert status == 200
        assert sent["body"]["seq"] >= 1
        status, history, _ = await op(server, token, "history", {"room": "lobby"})
        assert [m["body"]["text"] for m in history["body"]["messages"] if m["op"] == "msg"] == [
            "hi"
        ]
        status, marked, _ = await op(
            server, token, "read", {"room": "lobby", "seq": sent["body"]["seq"]}
        )
        assert status == 200
        assert marked["body"]["room"] == "lobby"
        assert [r["id"] for r in (await alice.request("rooms"))["rooms"]] == ["lobby"]


async def test_codecs_are_negotiated_by_content_type_and_accept(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        token = await server.token("alice")
        await op(server, token, "create", {"room": "lobby"})
        packed = msgspec.msgpack.encode({"room": "lobby", "cid": "m", "text": "packed"})
        status, answer, kind = await op(
            server,
            token,
            "send",
            raw=packed,
            headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
        )
        assert (status, kind, answer["op"]) == (200, "application/msgpack", "reply")
        status, answer, kind = await op(
            server,
            token,
            "ping",
            headers={"Accept": "text/html;q=0.9, application/x-msgpack;q=0.5"},
        )
        assert (status, kind) == (200, "application/msgpack")
        status, answer, _ = await op(server, token, "ping", headers={"Accept": "text/html"})
        assert status == 406
        status, answer, _ = await op(
            server, token, "ping", raw=b"<a/>", headers={"Content-Type": "text/xml"}
        )
        assert (status, answer["body"]["code"]) == (415, "unsupported_media_type")


async def test_a_body_in_no_codec_is_refused_unread(tmp_path: Path) -> None:
    """A form or plain text (what a page elsewhere can post without asking) is never
    taken for parameters; neither is a body of no type."""
    async with running_homer(tmp_path) as server:
        token = await server.token("alice")
        await op(server, token, "create", {"room": "lobby"})
        sent = msgspec.json.encode({"room": "lobby", "cid": "f", "text": "forged"})
        for media in (
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
        ):
            status, answer, kind = await op(
                server, token, "send", raw=sent, headers={"Content-Type": media}
            )
            assert (status, answer["body"]["code"]) == (415, "unsupported_media_type"), media
            assert kind.startswith("application/json")
        async with (
            aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as http,
            http.post(
                f"{server.url}/api/ops/send",
                data=sent,
                headers={"Authorization": f"Bearer {token}"},
                skip_auto_headers=["Content-Type"],
            ) as response,
        ):
            assert response.status == 415
        status, history, _ = await op(server, token, "history", {"room": "lobby"})
        assert [m for m in history["body"]["messages"] if m["op"] == "msg"] == []
        # No body needs no type.
        status, _, _ = await op(
            server, token, "ping", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 200


async def test_refusals_carry_a_code_and_an_http_status(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        await server.user("carol")
        alice = await server.client("alice")
        await alice.create("secret", kind="private")
        token, carol = await server.token("alice"), await server.token("carol")
        cases: list[tuple[str | None, str, Any, bytes | None, int, str]] = [
            (token, "no-such-op", {}, None, 404, "unknown_op"),
            (None, "rooms", {}, None, 401, "unauthenticated"),
            ("garbage", "rooms", {}, None, 401, "invalid_token"),
            (token, "hello", {"token": token}, None, 400, "invalid"),
            (token, "history", {"room": "lobby", "bogus": 1}, None, 400, "invalid"),
            (token, "history", None, b"{not json", 400, "invalid"),
            (token, "history", None, b"[1, 2]", 400, "invalid"),
            (token, "typing", {"room": "secret"}, None, 400, "invalid"),
            (carol, "history", {"room": "secret"}, None, 404, "not_found"),  # hidden
            (token, "broadcast", {"text": "all"}, None, 403, "forbidden"),
        ]
        for who, name, body, raw, status, code in cases:
            got, answer, _ = await op(server, who, name, body, raw=raw)
            assert (got, answer["op"], answer["body"]["code"]) == (status, "error", code), name
        status, answer, _ = await op(
            server, token, "typing", {"room": "secret"}, headers={"Homer-Session": "gone"}
        )
        assert (status, answer["body"]["code"]) == (404, "not_found")
        assert "open a new one" in answer["body"]["message"]
        assert answer["body"]["fields"] == {"session": "gone"}


async def test_session_ops_act_on_the_named_long_poll_queue(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        bob = await server.client("bob")
        await bob.join("lobby")
        token = await server.token("alice")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{server.url}/api/queues", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                assert response.status == 201
                queue = await response.json()
            status, answer, _ = await op(
                server,
                token,
                "typing",
                {"room": "lobby"},
                headers={"Homer-Session": queue["session"]},
            )
            assert (status, answer["body"]["room"]) == (200, "lobby")
            typing = await bob.next_event("typing", timeout=5)
            assert typing.sender == "alice"
            # Another user cannot borrow the session.
            status, answer, _ = await op(
                server,
                await server.token("bob"),
                "typing",
                {"room": "lobby"},
                headers={"Homer-Session": queue["session"]},
            )
            assert status == 404
            # A resume on the queue's session replays onto the queue.
            await bob.send("lobby", "one")
            status, answer, _ = await op(
                server,
                token,
                "resume",
                {"rooms": {"lobby": {"epoch": 1, "seq": 0}}},
                headers={"Homer-Session": queue["session"]},
            )
            assert status == 200
            seen: list[str] = []
            after = 0
            deadline = asyncio.get_running_loop().time() + 5
            while "resumed" not in seen and asyncio.get_running_loop().time() < deadline:
                async with http.get(
                    f"{server.url}/api/queues/{queue['queue']}/events",
                    params={"after": str(after), "timeout": "1"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    batch = await response.json()
                for event in batch["events"]:
                    seen.append(event["event"]["op"])
                    after = event["id"]
            assert "resumed" in seen
