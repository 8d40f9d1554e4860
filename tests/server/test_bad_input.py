"""Bad input gets a clear error and loses nothing; the connection keeps working."""

from __future__ import annotations

from pathlib import Path

import jwt

from homer.testing.server import running_homer
from tests.server.rawws import RawWebSocket, client_frame


async def connected(server, name: str = "alice") -> RawWebSocket:  # type: ignore[no-untyped-def]
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    await ws.send_json({"op": "hello", "rid": 0, "token": await server.token(name)})
    welcome = await ws.reply(0)
    assert welcome["op"] == "reply", welcome
    return ws


async def test_malformed_frames_get_an_error_and_store_nothing(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        ws = await connected(server)
        await ws.send_json({"op": "create", "rid": 1, "room": "lobby"})
        assert (await ws.reply(1))["op"] == "reply"
        cases = [
            (b"{not json", "invalid"),
            (b"[1, 2, 3]", "invalid"),
            (b'{"rid": 5}', "invalid"),
            (b'{"op": "teleport", "rid": 6}', "unknown_op"),
            (b'{"op": "send", "rid": 7, "room": "lobby", "cid": 42, "text": "x"}', "invalid"),
            (b'{"op": "send", "rid": 8, "room": "lobby", "cid": "c", "text": 5}', "invalid"),
            (b'{"op": "send", "rid": 9, "room": "lobby", "cid": "c", "bogus": 1}', "invalid"),
            (b'{"op": "history", "rid": 10, "room": "lobby", "limit": 100000}', "invalid"),
            (
                b'{"op": "send", "rid": 11, "room": "lobby", "cid": "c", "text": "'
                + b"x" * 9000
                + b'"}',
                "too_large",
            ),
        ]
        for raw, code in cases:
            await ws.send_raw(client_frame(raw))
            document = await ws.json()
            while document["op"] != "error":
                document = await ws.json()
            assert document["body"]["code"] == code, (raw[:60], document)
        # Still working, and nothing was stored.
        await ws.send_json({"op": "history", "rid": 12, "room": "lobby"})
        history = await ws.reply(12)
        assert [m["kind"] for m in history["body"]["messages"]] == []
        await ws.send_json({"op": "send", "rid": 13, "room": "lobby", "cid": "ok", "text": "fine"})
        assert (await ws.reply(13))["body"]["seq"] == 1


async def test_an_oversized_frame_closes_with_1009(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        ws = await connected(server)
        await ws.send_raw(client_frame(b"x" * (server.app.config.limits.max_frame + 1)))
        assert await ws.close_code() == 1009


async def test_protocol_violations_close_with_1002(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        ws = await connected(server)
        await ws.send_raw(b"\x81\x05hello")  # unmasked client frame
        assert await ws.close_code() == 1002


async def test_requests_before_hello_are_refused(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        await ws.send_json({"op": "rooms", "rid": 1})
        assert (await ws.reply(1))["body"]["code"] == "unauthenticated"


async def test_bad_tokens_are_refused_at_hello(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        good = await server.token("alice")
        header, payload, signature = good.split(".")
        claims = jwt.decode(good, options={"verify_signature": False})
        unsigned = jwt.encode(claims, None, algorithm="none")
        tampered = f"{header}.{payload[:-2]}AA.{signature}"
        expired = await server.token("alice", ttl=0.001)
        other_purpose = server.app.identity.tokens.issue(
            (await server.user("alice")).token_info(), purpose="password-reset"
        )
        revoked = await server.token("alice")
        await server.app.identity.tokens.revoke(revoked)
        for token, code in [
            (unsigned, "invalid_token"),
            (tampered, "invalid_token"),
            ("garbage", "invalid_token"),
            (expired, "unauthenticated"),
            (other_purpose, "invalid_token"),
            (revoked, "token_revoked"),
        ]:
            ws = await RawWebSocket.connect(server.running.host, server.running.port)
            await ws.send_json({"op": "hello", "rid": 1, "token": token})
            answer = await ws.reply(1)
            assert answer["op"] == "error"
            assert answer["body"]["code"] == code, (token[:20], answer)


async def test_origin_is_checked_at_the_handshake(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        host, port = server.running.host, server.running.port
        await RawWebSocket.connect(host, port, headers={"Origin": f"http://{host}:{port}"})
        try:
            await RawWebSocket.connect(host, port, headers={"Origin": "http://evil.example"})
        except ConnectionError as exc:
            assert "403" in str(exc)
        else:
            raise AssertionError("a foreign origin was let in")
