"""Session lifecycle: token expiry and refresh, revocation, limits, heartbeats.

Timers are driven by a manual clock and one :meth:`Homer.sweep` step at a time
(``sweep_period=None``: no sweeper of its own), so no test waits for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from homer.client import ClientError, HomerClient
from homer.clock import ManualClock
from homer.store.records import AuditEvent
from homer.testing.server import replace_config, running_homer
from tests.server.rawws import RawWebSocket, client_frame


async def hello(server, token: str) -> RawWebSocket:  # type: ignore[no-untyped-def]
    ws = await RawWebSocket.connect(server.running.host, server.running.port)
    await ws.send_json({"op": "hello", "rid": 0, "token": token})
    answer = await ws.reply(0)
    assert answer["op"] == "reply", answer
    return ws


async def still_served(ws: RawWebSocket, rid: int) -> None:
    await ws.send_json({"op": "ping", "rid": rid})
    assert (await ws.reply(rid))["op"] == "reply"


async def test_a_session_whose_token_expires_is_closed_when_it_expires(tmp_path: Path) -> None:
    """Closed with 4001 once the token has expired, not before."""
    clock = ManualClock()
    async with running_homer(tmp_path, clock=clock, sweep_period=None) as server:
        token = await server.token("amy", ttl=1.5)
        ws = await hello(server, token)
        clock.advance(1.4)
        await server.app.sweep()
        await still_served(ws, 1)
        clock.advance(0.1)
        await server.app.sweep()
        assert await asyncio.wait_for(ws.close_frame(), 10) == (
            4001,
            "token expired: refresh and reconnect",
        )


async def test_refreshing_in_band_keeps_the_session(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_homer(tmp_path, clock=clock, sweep_period=None) as server:
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
        clock.advance(2.5)  # past the first token's expiry
        await server.app.sweep()
        await still_served(ws, 2)
        # A bad token offered in-band is refused and changes nothing.
        for token, code in [
            ("garbage", "invalid_token"),
            (await server.token("eve"), "unauthenticated"),
        ]:
            await ws.send_json({"op": "refresh", "rid": 3, "token": token})
            refused = await ws.reply(3)
            assert refused["body"]["code"] == code


async def test_a_revoked_session_is_closed(tmp_path: Path) -> None:
    """Revocations are read again every fifth sweep step; then the session closes."""
    async with running_homer(tmp_path, sweep_period=None) as server:
        token = await server.token("cal")
        ws = await hello(server, token)
        await server.app.identity.tokens.revoke(token)
        for _ in range(5):
            await server.app.sweep()
        assert await asyncio.wait_for(ws.close_frame(), 10) == (4001, "token revoked")


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

    clock = ManualClock()
    async with running_homer(tmp_path, configure=quick, clock=clock, sweep_period=None) as server:
        ws = await hello(server, await server.token("fay"))
        assert len(server.app.peers) == 1
        clock.advance(1.5)  # silent for longer than a heartbeat: the server pings
        await server.app.sweep()
        opcode, _ = await asyncio.wait_for(ws.frame(), 10)
        assert opcode == 0x9
        clock.advance(0.5)  # not yet overdue
        await server.app.sweep()
        [peer] = server.app.peers
        assert not peer.lifecycle.ended
        clock.advance(1.0)  # never answered: the server gives up
        await server.app.sweep()
        assert await asyncio.wait_for(ws.close_frame(), 10) == (1001, "no answer to heartbeats")
        async with asyncio.timeout(10):
            while server.app.peers:  # noqa: ASYNC110 - the server's own set
                await asyncio.sleep(0.01)


async def test_an_answered_ping_keeps_the_connection(tmp_path: Path) -> None:
    def quick(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"heartbeat": 1.0, "heartbeat_timeout": 1.0})

    clock = ManualClock()
    async with running_homer(tmp_path, configure=quick, clock=clock, sweep_period=None) as server:
        ws = await hello(server, await server.token("gus"))
        for rid in range(1, 4):
            clock.advance(1.5)
            await server.app.sweep()
            opcode, payload = await asyncio.wait_for(ws.frame(), 10)
            assert opcode == 0x9
            await ws.send_raw(client_frame(payload, 0xA))  # a pong is a sign of life
            await still_served(ws, rid)  # and once the server answers, it has seen it
        assert len(server.app.peers) == 1


async def test_a_connection_that_never_says_hello_is_closed(tmp_path: Path) -> None:
    def quick(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"handshake_timeout": 1.0})

    clock = ManualClock()
    async with running_homer(tmp_path, configure=quick, clock=clock, sweep_period=None) as server:
        silent = await asyncio.open_connection(server.running.host, server.running.port)
        ws = await RawWebSocket.connect(server.running.host, server.running.port)
        await ws.send_json({"op": "ping", "rid": 1})  # talking is not saying hello
        assert (await ws.reply(1))["body"]["code"] == "unauthenticated"
        clock.advance(1.0)
        await server.app.sweep()
        [peer] = server.app.peers
        assert not peer.lifecycle.ended  # not past the timeout yet
        clock.advance(0.5)
        await server.app.sweep()
        assert await asyncio.wait_for(ws.close_frame(), 10) == (
            4001,
            "no hello with a token in time",
        )
        # Slow loris: the HTTP port's own timer (on the event loop's time) cuts it.
        assert await asyncio.wait_for(silent[0].read(), 4) == b""
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
