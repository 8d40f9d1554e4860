"""Rich messaging over REST and the operations: every answer checked against the
OpenAPI document, who may do what (users x rooms x operations), and bad input that
is refused with nothing stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from homer.config import HomerConfig
from homer.testing.server import replace_config, running_homer
from tests.server.test_rest import Api, api

__all__ = ["api"]

pytestmark = pytest.mark.asyncio


async def _lobby(api: Api) -> tuple[str, str, str]:
    """Tokens of alice (the lobby's owner), bob (a member) and eve (in no room)."""
    server = api.server
    alice, bob, eve = [await server.token(name) for name in ("alice", "bob", "eve")]
    await api.ok("POST", "/api/rooms", alice, {"room": "lobby"})
    await api.ok("PUT", "/api/rooms/lobby/members/bob", bob)
    return alice, bob, eve


async def test_edit_react_thread_versions_search_and_redact_over_rest(api: Api) -> None:
    alice, bob, _ = await _lobby(api)
    sent = await api.ok("POST", "/api/rooms/lobby/messages", bob, {"cid": "c1", "text": "helo"})
    seq = sent["seq"]
    message = f"/api/rooms/lobby/messages/{seq}"
    edited = await api.ok("PATCH", message, bob, {"text": "hello world", "cid": "e1"})
    assert (edited["target"], edited["edits"]) == (seq, 1)
    again = await api.ok("PATCH", message, bob, {"text": "hello world", "cid": "e1"})
    assert again["duplicate"] is True
    assert again["seq"] == edited["seq"]
    reacted = await api.ok("PUT", f"{message}/reactions/{quote('👍')}", alice)
    assert (reacted["key"], reacted["count"]) == ("👍", 1)
    assert await api.refused("PUT", f"{message}/reactions/{quote('👍')}", alice) == (
        409,
        "conflict",
    )
    reply = await api.ok(
        "POST",
        "/api/rooms/lobby/messages",
        alice,
        {"cid": "c2", "text": "@bob agreed", "thread": seq, "reply_to": seq},
    )
    thread = await api.ok("GET", f"/api/rooms/lobby/threads/{seq}", bob)
    assert thread["root"]["body"]["thread_summary"]["replies"] == 1
    assert [m["seq"] for m in thread["messages"]] == [reply["seq"]]
    rooms = await api.ok("GET", "/api/rooms", bob)
    assert rooms["rooms"][0]["mentions"] == 1
    versions = await api.ok("GET", f"{message}/versions", alice)
    assert [v["text"] for v in versions["versions"]] == ["helo"]
    assert await api.refused("GET", f"{message}/versions", bob) == (403, "forbidden")
    found = await api.ok("GET", "/api/search", bob, query={"q": "world"})
    assert [r["message"]["seq"] for r in found["results"]] == [seq]
    assert found["results"][0]["highlights"] == [[6, 11]]
    gone = await api.ok("DELETE", message, bob, query={"reason": "typo"})
    assert gone["target"] == seq
    assert (await api.ok("GET", "/api/search", bob, query={"q": "world"}))["results"] == []
    history = await api.ok("GET", "/api/rooms/lobby/messages", alice, query={"after": "0"})
    (shown,) = [m for m in history["messages"] if m["seq"] == seq]
    assert shown["body"]["redacted"]["reason"] == "typo"
    assert "hello" not in repr(history)


async def test_who_may_do_what(api: Api) -> None:
    """Every user against every rich operation on a message of a room: the owner
    moderates, a member changes their own and reacts, a stranger does nothing,
    including after leaving."""
    alice, bob, eve = await _lobby(api)
    server = api.server
    await server.user("mod", group="admins")  # room.moderate, not in the room
    mod = await server.token("mod")
    await api.ok("PUT", "/api/rooms/lobby/members/mod", mod)
    by_bob = (await api.ok("POST", "/api/rooms/lobby/messages", bob, {"cid": "b", "text": "b"}))[
        "seq"
    ]
    by_alice = (
        await api.ok("POST", "/api/rooms/lobby/messages", alice, {"cid": "a", "text": "a"})
    )["seq"]

    async def edit(token: str, seq: int) -> int:
        status, _ = await api("PATCH", f"/api/rooms/lobby/messages/{seq}", token, {"text": "x"})
        return status

    async def react(token: str, seq: int) -> int:
        status, _ = await api("PUT", f"/api/rooms/lobby/messages/{seq}/reactions/:x:", token)
        return status

    async def versions(token: str, seq: int) -> int:
        status, _ = await api("GET", f"/api/rooms/lobby/messages/{seq}/versions", token)
        return status

    async def search(token: str, seq: int) -> int:
        status, answer = await api("GET", "/api/search", token, query={"q": "x"})
        return status if answer["results"] else 404

    table: dict[str, dict[str, Any]] = {
        "alice": {"token": alice, "own": by_alice, "other": by_bob},
        "bob": {"token": bob, "own": by_bob, "other": by_alice},
        "mod": {"token": mod, "own": None, "other": by_bob},
        "eve": {"token": eve, "own": None, "other": by_bob},
    }
    found = {
        (name, action): await step(row["token"], row["other"])
        for name, row in table.items()
        for action, step in (("edit", edit), ("react", react), ("versions", versions))
    }
    assert found == {
        ("alice", "edit"): 200,  # the owner moderates
        ("alice", "react"): 200,
        ("alice", "versions"): 200,
        ("bob", "edit"): 403,  # another's message
        ("bob", "react"): 200,
        ("bob", "versions"): 403,
        ("mod", "edit"): 200,  # room.moderate
        ("mod", "react"): 200,
        ("mod", "versions"): 200,
        ("eve", "edit"): 403,  # not a member
        ("eve", "react"): 403,
        ("eve", "versions"): 403,
    }
    assert await edit(bob, by_bob) == 200
    assert {name: await search(row["token"], 0) for name, row in table.items()} == {
        "alice": 200,
        "bob": 200,
        "mod": 200,
        "eve": 404,  # nothing of a room one is not in
    }
    await api.ok("DELETE", "/api/rooms/lobby/members/bob", bob)  # bob leaves
    assert await search(bob, 0) == 404
    assert await react(bob, by_alice) == 403
    await api.ok("PUT", "/api/rooms/lobby/members/bob", bob)
    await api.ok("PUT", "/api/rooms/lobby/bans/bob", alice)  # and is banned
    assert await search(bob, 0) == 404
    status, _ = await api("GET", "/api/search", bob, query={"q": "x", "room": "lobby"})
    assert status == 403


async def test_bad_input_is_refused_with_nothing_stored(api: Api) -> None:
    alice, bob, _ = await _lobby(api)
    await api.ok("POST", "/api/rooms", alice, {"room": "other"})
    elsewhere = (
        await api.ok("POST", "/api/rooms/other/messages", alice, {"cid": "o", "text": "o"})
    )["seq"]
    seq = (await api.ok("POST", "/api/rooms/lobby/messages", bob, {"cid": "m", "text": "m"}))["seq"]
    before = (await api.ok("GET", "/api/rooms/lobby", alice))["last_seq"]
    message = f"/api/rooms/lobby/messages/{seq}"
    cases: list[tuple[str, str, Any, dict[str, str] | None, tuple[int, str]]] = [
        ("PATCH", "/api/rooms/lobby/messages/999", {"text": "x"}, None, (404, "not_found")),
        ("PATCH", "/api/rooms/lobby/messages/1", {"text": "x"}, None, (404, "not_found")),  # join
        ("PATCH", "/api/rooms/lobby/messages/x", {"text": "x"}, None, (400, "invalid")),
        ("PATCH", message, {"text": "x" * 9000}, None, (413, "too_large")),
        ("PATCH", message, {"text": ""}, None, (400, "invalid")),
        ("PUT", f"{message}/reactions/{':' + 'x' * 100 + ':'}", None, None, (400, "invalid")),
        ("PUT", f"{message}/reactions/{quote('👍' * 40)}", None, None, (400, "invalid")),
        ("PUT", f"{message}/reactions/abc", None, None, (400, "invalid")),
        ("PUT", f"{message}/reactions/{quote('a b')}", None, None, (400, "invalid")),
        ("DELETE", f"{message}/reactions/:x:", None, None, (404, "not_found")),
        ("DELETE", message, None, {"reason": "r" * 501}, (400, "invalid")),
        (
            "POST",
            "/api/rooms/lobby/messages",
            {"cid": "r1", "text": "re", "reply_to": elsewhere + 50},
            None,
            (404, "not_found"),
        ),
        (
            "POST",
            "/api/rooms/lobby/messages",
            {"cid": "r2", "text": "re", "thread": 1},
            None,
            (400, "invalid"),
        ),
        ("GET", "/api/search", None, {"q": "!!!"}, (400, "invalid")),
        ("GET", "/api/search", None, {"q": " ".join("w" * 17)}, (400, "invalid")),
        ("GET", "/api/search", None, {"q": "x", "sender": "nobody"}, (404, "not_found")),
    ]
    for method, path, body, query, expected in cases:
        refused = await api.refused(method, path, bob, body, query=query)
        assert refused == expected, (method, path, body, query)
    status, error = await api(
        "POST", "/api/ops/react", bob, {"room": "lobby", "seq": seq, "key": "👍" * 5000}
    )
    assert (status, error["op"], error["body"]["code"]) == (400, "error", "invalid")
    after = (await api.ok("GET", "/api/rooms/lobby", alice))["last_seq"]
    assert after == before, "nothing was stored"
    # A redacted message can be neither edited nor redacted again.
    await api.ok("DELETE", message, bob)
    assert await api.refused("PATCH", message, bob, {"text": "x"}) == (400, "invalid")
    assert await api.refused("DELETE", message, bob) == (400, "invalid")


async def test_without_keep_edits_an_edit_leaves_nothing_of_what_it_replaced(
    tmp_path: Path,
) -> None:
    def forgetful(config: HomerConfig) -> HomerConfig:
        return replace_config(config, messages={"keep_edits": False})

    async with running_homer(tmp_path, configure=forgetful) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        sent = await alice.send("lobby", "my secret")
        await alice.edit("lobby", sent["seq"], "nothing to see")
        versions = await alice.request("history_of", room="lobby", seq=sent["seq"])
        assert (versions["versions"], versions["kept"]) == ([], False)
        assert "secret" not in repr(await alice.history("lobby"))
        with sqlite3.connect(server.app.config.data_path / "homer.db") as conn:
            assert conn.execute("SELECT previous FROM message_edits").fetchall() == [(None,)]
        await alice.close()
