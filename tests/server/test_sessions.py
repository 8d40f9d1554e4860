"""Session lifecycle: token expiry and refresh, revocation, limits, heartbeats."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from homer.client import ClientError, HomerClient
from homer.store.records import AuditEvent
from homer.testing.server import replace_config, running_homer
from tests.server.rawws import RawWebSocket


async def hello(server, token: str) -> RawWebSocket:  # type: ignore[no-untyped-def]
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    await ws.send_json({"op": "hello", "rid": 0, "token": token})
    answer = await ws.reply(0)
    assert answer["op"] == "reply", answer
    return ws


async def test_a_session_whose_token_expires_is_closed_when_it_expires(tmp_path: Path) -> None:
    """Closed with 4001 once the token has expired, not before. (The sweep runs
    once a second; how late it is on a busy machine is not this test's claim.)"""
    async with running_homer(tmp_path) as server:
        token = await server.token("amy", ttl=1.5)
        expires_at = server.app.identity.tokens.check(token)["exp"]
        ws = await hello(server, token)
        code = await asyncio.wait_for(ws.close_code(), 30)
        assert code == 4001
        assert server.app.clock() >= expires_at


async def test_refreshing_in_band_keeps_the_session(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        first = await server.token("ben", ttl=1.5)
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        await ws.send_json({"op": "hello", "rid": 0, "token": first})
        welcome = (await ws.reply(0))["body"]
        await ws.send_json({"op": "refresh", "rid": 1})
        answer = await ws.reply(1)
        assert answer["op"] == "reply"
        refreshed = answer["body"]
        # A new token, good for a full ttl from the refresh, which came after the welcome.
        assert refreshed["token"] != first
        claims = server.app.identity.tokens.check(refreshed["token"])
        assert claims["exp"] == refreshed["expires_at"]
        assert refreshed["expires_at"] >= welcome["server_time"] - 0.002 + 1.5
        assert refreshed["expires_at"] >= welcome["expires_at"]
        await asyncio.sleep(2.5)
        await ws.send_json({"op": "ping", "rid": 2})
        assert (await ws.reply(2))["op"] == "reply"
        # A bad token offered in-band is refused and changes nothing.
        for token, code in [
            ("garbage", "invalid_token"),
            (await server.token("eve"), "unauthenticated"),
        ]:
            await ws.send_json({"op": "refresh", "rid": 3, "token": token})
            refused = await ws.reply(3)
            assert refused["body"]["code"] == code


async def test_a_revoked_session_is_closed(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        token = await server.token("cal")
        ws = await hello(server, token)
        await server.app.identity.tokens.revoke(token)
        assert await asyncio.wait_for(ws.close_code(), 8) == 4001


async def test_connections_per_user_are_capped(tmp_path: Path) -> None:
    def two(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"max_connections_per_user": 2})

    async with running_homer(tmp_path, configure=two) as server:
        token = await server.token("dee")
        await hello(server, token)
        await hello(server, token)
        third = await RawWebSocket.connect(server.running.host, server.running.port)
        await third.send_json({"op": "hello", "rid": 0, "token": token})
        answer = await third.reply(0)
        assert answer["body"]["code"] == "conflict"
        assert await third.close_code() == 4029


async def test_requests_are_rate_limited_with_a_retry_after(tmp_path: Path) -> None:
    def slow(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"rate": 2.0, "burst": 3})

    async with running_homer(tmp_path, configure=slow) as server:
        ws = await hello(server, await server.token("eli"))
        for rid in range(1, 6):
            await ws.send_json({"op": "ping", "rid": rid})
        by_rid = {}
        while len(by_rid) < 5:
            document = await ws.json()
            by_rid[document["rid"]] = document
        answers = [by_rid[rid] for rid in range(1, 6)]
        assert [a["op"] for a in answers] == ["reply"] * 3 + ["error"] * 2
        assert answers[3]["body"]["code"] == "rate_limited"
        assert 0 < answers[3]["body"]["retry_after"] <= 0.5


async def test_a_half_open_connection_is_detected(tmp_path: Path) -> None:
    def quick(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"heartbeat": 1.0, "heartbeat_timeout": 1.0})

    async with running_homer(tmp_path, configure=quick) as server:
        ws = await hello(server, await server.token("fay"))
        assert len(server.app.peers) == 1
        opcode, _ = await asyncio.wait_for(ws.frame(), 3)  # the server pings when idle
        assert opcode == 0x9
        # Never answer: the server gives up within heartbeat + timeout (+ one sweep).
        async with asyncio.timeout(5):
            while server.app.peers:  # noqa: ASYNC110 - the server's own set
                await asyncio.sleep(0.1)


async def test_a_connection_that_never_says_hello_is_closed(tmp_path: Path) -> None:
    def quick(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"handshake_timeout": 1.0})

    async with running_homer(tmp_path, configure=quick) as server:
        silent = await asyncio.open_connection(server.running.host, server.running.port)
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        assert await asyncio.wait_for(ws.close_code(), 4) == 4001
        assert await asyncio.wait_for(silent[0].read(), 4) == b""  # slow loris: cut
        silent[1].close()


async def test_refresh_asks_the_store_whether_the_account_still_exists(tmp_path: Path) -> None:
    """An account removed by another process, even one that wrote no cut-off, gets
    no new token; a renamed one gets a token with its new name."""
    async with running_homer(tmp_path) as server:
        token = await server.token("dee")
        ws = await hello(server, token)
        store = server.app.identity.store
        record = await store.user_by_name("dee")
        assert record is not None
        renamed = dataclasses.replace(record, name="dora", version=record.version + 1)
        await store.replace_user(
            renamed, AuditEvent(actor="x", action="user.rename", target="u", at=0.0)
        )
        http = HomerClient(server.url)
        fresh = await http.http("POST", "/api/token/refresh", {"token": token})
        assert server.app.identity.tokens.check(fresh["token"])["name"] == "dora"  # type: ignore[index]

        assert await store.delete_user(
            record.id, AuditEvent(actor="x", action="user.delete", target="u", at=0.0)
        )
        for old in (token, fresh["token"]):
            with pytest.raises(ClientError) as caught:
                await http.http("POST", "/api/token/refresh", {"token": old})
            assert caught.value.wire_code == "unauthenticated"
        for rid, params in ((1, {}), (2, {"token": fresh["token"]})):
            await ws.send_json({"op": "refresh", "rid": rid, **params})
            refused = await ws.reply(rid)
            assert refused["body"]["code"] == "unauthenticated", refused
        await http.close()
