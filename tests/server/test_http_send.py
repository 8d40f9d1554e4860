"""POST /api/rooms/{room}/messages: the send operation over plain HTTP."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from homer.config import HomerConfig
from homer.testing.server import replace_config, running_homer
from tests.server.test_sse import post


async def test_a_post_resend_returns_the_first_ack(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        token = await server.token("alice")
        body = {"cid": "c-1", "text": "hi", "data": {"n": 1}}
        status, first = await post(server, token, "lobby", body)
        assert status == 201
        assert first["duplicate"] is False
        status, again = await post(server, token, "lobby", body)
        assert status == 201
        assert again == {**first, "duplicate": True}
        assert [m.body for m in await alice.history("lobby")][-1] == {
            "text": "hi",
            "data": {"n": 1},
        }


async def test_post_refusals_store_nothing(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.send("lobby", "one")
        carol = await server.token("carol")
        alice_token = await server.token("alice")
        cases = [
            (carol, "lobby", {"cid": "x", "text": "intruder"}, 403, "forbidden"),
            (carol, "nowhere", {"cid": "x", "text": "x"}, 404, "not_found"),
            ("garbage", "lobby", {"cid": "x", "text": "x"}, 401, "invalid_token"),
            (alice_token, "lobby", {"text": "no cid"}, 400, "invalid"),
            (alice_token, "lobby", {"cid": "x", "text": "x", "extra": 1}, 400, "invalid"),
            (alice_token, "lobby", {"cid": "x", "text": "x" * 8001}, 413, "too_large"),
        ]
        for token, room, body, status, code in cases:
            got, answer = await post(server, token, room, body)
            assert (got, answer["code"]) == (status, code), body
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.url}/api/rooms/lobby/messages",
                data=b"{" + b" " * 70_000 + b"}",
                headers={"Authorization": f"Bearer {alice_token}"},
            ) as response,
        ):
            assert response.status == 413
        assert [m.body["text"] for m in await alice.history("lobby") if m.kind == "msg"] == ["one"]


async def test_post_is_rate_limited_per_user(tmp_path: Path) -> None:
    def strict(config: HomerConfig) -> HomerConfig:
        return replace_config(config, limits={"user_rate": 0.01, "user_burst": 2})

    async with running_homer(tmp_path, configure=strict) as server:
        await server.user("alice")
        token = await server.token("alice")
        statuses = []
        async with aiohttp.ClientSession() as http:
            for i in range(3):
                async with http.post(
                    f"{server.url}/api/rooms/nowhere/messages",
                    json={"cid": f"c{i}", "text": "x"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    statuses.append(response.status)
                    if response.status == 429:
                        assert int(response.headers["Retry-After"]) >= 1
                        assert (await response.json())["code"] == "rate_limited"
        assert statuses == [404, 404, 429]
