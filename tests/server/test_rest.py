"""The REST routes: rooms, members, history, read markers, one's account, and the
administration of users and groups, over a real server.

Every answer is also checked against the OpenAPI document the server serves:
its status must be documented and its body must match the schema.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema_rs
import msgspec
import pytest

from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer
from homer.transports.rest import REST_ROUTES


def conforms(document: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """Fail unless ``document`` documents ``status`` for ``method path`` (a concrete
    path) and ``body`` matches the schema it gives."""
    templates = sorted(document["paths"], key=lambda t: (t.count("{"), t))
    template = next(
        (
            t
            for t in templates
            if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)), path)
        ),
        None,
    )
    assert template is not None, f"{path} is not in the document"
    operation = document["paths"][template][method.lower()]
    answers = operation["responses"]
    assert str(status) in answers, f"{method} {template}: {status} is not documented"
    content = answers[str(status)].get("content")
    if content is None:
        assert body is None, f"{method} {template}: {status} has no body, got {body!r}"
        return
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    errors = [str(error) for error in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert not errors, f"{method} {template} {status}: {errors}"


@dataclass
class Api:
    """Requests to the server, each answer checked against the OpenAPI document."""

    server: TestServer
    http: aiohttp.ClientSession
    document: dict[str, Any]

    async def __call__(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        *,
        raw: bytes | None = None,
        query: dict[str, str] | list[tuple[str, str]] | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = raw if raw is not None else msgspec.json.encode(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.http.request(
            method, f"{self.server.url}{path}", data=data, headers=headers, params=query
        ) as response:
            payload = await response.read()
            answer = msgspec.json.decode(payload) if payload else None
            if response.status == 429:
                assert response.headers["Retry-After"]
        conforms(self.document, method, path, response.status, answer)
        return response.status, answer

    async def ok(self, method: str, path: str, token: str, body: Any = None, **kw: Any) -> Any:
        status, answer = await self(method, path, token, body, **kw)
        assert status in (200, 201, 204), (method, path, status, answer)
        return answer

    async def refused(
        self, method: str, path: str, token: str | None, body: Any = None, **kw: Any
    ) -> tuple[int, str]:
        status, answer = await self(method, path, token, body, **kw)
        assert status >= 400, (method, path, status, answer)
        return status, answer["code"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/api/openapi.json") as response:
            document = await response.json()
        yield Api(server, http, document)


def messages(history: list[Any]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(m) for m in history]


# -- my account -----------------------------------------------------------------------


async def test_my_account(api: Api) -> None:
    token = await api.server.token("zoe")
    me = await api.ok("GET", "/api/me", token)
    assert (me["name"], me["group"]) == ("zoe", "users")
    assert "room.post" in me["permissions"]
    assert "admin.users" not in me["permissions"]

    changed = await api.ok("PATCH", "/api/me", token, {"attributes": {"display_name": "Zoë"}})
    assert changed["attributes"] == {"display_name": "Zoë"}
    assert (await api.ok("GET", "/api/me", token))["attributes"] == {"display_name": "Zoë"}
    status, answer = await api("PATCH", "/api/me", token, {"attributes": {"shoe": 44}})
    assert (status, answer["fields"]) == (400, {"shoe": "unknown attribute"})
    assert await api.refused("PATCH", "/api/me", token, {"display_name": "x"}) == (400, "invalid")

    wrong = {"old": "not the password", "new": "a new password"}
    assert await api.refused("POST", "/api/me/password", token, wrong) == (401, "unauthenticated")
    short = {"old": PASSWORD, "new": "short"}
    assert await api.refused("POST", "/api/me/password", token, short) == (400, "invalid")
    assert (
        await api.ok("POST", "/api/me/password", token, {"old": PASSWORD, "new": "a new one!"})
        is None
    )
    # Every token of the user is revoked, this one included: log in again.
    assert await api.refused("GET", "/api/me", token) == (401, "token_revoked")
    status, login = await api("POST", "/api/login", None, {"name": "zoe", "password": "a new one!"})
    assert status == 200
    assert (await api.ok("GET", "/api/me", login["token"]))["name"] == "zoe"


async def test_password_attempts_count_against_the_login_limit(tmp_path: Path) -> None:
    def strict(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"logins_per_account": 2})

    async with running_homer(tmp_path, configure=strict) as server, aiohttp.ClientSession() as http:
        api = Api(server, http, await (await http.get(f"{server.url}/api/openapi.json")).json())
        token = await server.token("yan")
        wrong = {"old": "wrong password", "new": "a new password"}
        codes = [(await api.refused("POST", "/api/me/password", token, wrong))[1] for _ in range(3)]
        assert codes == ["unauthenticated", "unauthenticated", "rate_limited"]


# -- rooms ------------------------------------------------------------------------------


async def test_rooms_over_rest_are_the_rooms_of_the_websocket(api: Api) -> None:
    server = api.server
    bob = await server.token("bob")
    created = await api.ok("POST", "/api/rooms", bob, {"room": "lobby", "topic": "hi"})
    assert (created["id"], created["role"], created["unread"], created["topic"]) == (
        "lobby",
        "owner",
        0,
        "hi",
    )
    status, _ = await api("POST", "/api/rooms", bob, {"room": "lobby"})
    assert status == 409

    alice = await server.client("alice")
    alice_token = await server.token("alice")
    joined = await api.ok("PUT", "/api/rooms/lobby/members/alice", alice_token)
    assert (joined["id"], joined["role"]) == ("lobby", "member")
    assert (await alice.next_event("joined")).room == "lobby"  # the live session follows
    await alice.send("lobby", "hello from the websocket")
    await alice.send("lobby", "and again")

    page = await api.ok("GET", "/api/rooms/lobby/messages", bob)
    assert page["messages"] == messages(await alice.history("lobby"))
    assert [m["body"].get("text") for m in page["messages"] if m["kind"] == "msg"] == [
        "hello from the websocket",
        "and again",
    ]
    first = page["messages"][0]["seq"]
    later = await api.ok("GET", "/api/rooms/lobby/messages", bob, query={"after": str(first)})
    assert later["messages"] == messages(await alice.history("lobby", after=first))
    one = await api.ok("GET", "/api/rooms/lobby/messages", bob, query={"limit": "1"})
    assert (len(one["messages"]), one["more"]) == (1, True)

    # A read marker set over REST is the one the WebSocket client counts from.
    bob_ws = await server.client("bob")
    lobby = next(r for r in (await bob_ws.request("rooms"))["rooms"] if r["id"] == "lobby")
    assert lobby["unread"] == 2
    marked = await api.ok("PUT", "/api/rooms/lobby/read", bob, {"seq": page["last_seq"]})
    assert marked == {"room": "lobby", "read": page["last_seq"], "unread": 0, "mentions": 0}
    assert (await bob_ws.next_event("unread")).body == {
        "read": page["last_seq"],
        "unread": 0,
        "mentions": 0,
    }
    lobby = next(r for r in (await bob_ws.request("rooms"))["rooms"] if r["id"] == "lobby")
    assert (lobby["unread"], lobby["read"]) == (0, page["last_seq"])
    mine = await api.ok("GET", "/api/rooms", bob)
    assert mine == await bob_ws.request("rooms")
    room = await api.ok("GET", "/api/rooms/lobby", bob)
    assert room == lobby

    listed = await api.ok("GET", "/api/rooms/lobby/members", bob, query={"limit": "1"})
    rest = await api.ok(
        "GET", "/api/rooms/lobby/members", bob, query={"after": listed["next"], "limit": "1"}
    )
    names = {m["name"] for m in listed["members"] + rest["members"]}
    assert names == {"alice", "bob"}
    statuses = {m["status"] for m in listed["members"] + rest["members"]}
    assert statuses <= {"online", "away", "offline"}

    assert await api.refused("PATCH", "/api/rooms/lobby", alice_token, {"topic": "x"}) == (
        403,
        "forbidden",
    )
    changed = await api.ok("PATCH", "/api/rooms/lobby", bob, {"topic": "plans", "meta": {"a": 1}})
    assert (changed["topic"], changed["meta"]) == ("plans", {"a": 1})
    event = await alice.next_event("msg")
    while event.kind != "topic":
        event = await alice.next_event("msg")
    assert event.body == {"topic": "plans", "meta": {"a": 1}}
    unchanged = await api.ok("PATCH", "/api/rooms/lobby", bob, {})
    assert unchanged == await api.ok("GET", "/api/rooms/lobby", bob)

    directory = await api.ok("GET", "/api/directory", alice_token)
    assert [r["id"] for r in directory["rooms"]] == ["lobby"]
    assert directory["next"] is None

    left = await api.ok("DELETE", "/api/rooms/lobby/members/alice", alice_token)
    assert left == {"room": "lobby", "user": "alice"}
    assert (await alice.next_event("left")).room == "lobby"
    assert await api.refused("GET", "/api/rooms/lobby/messages", alice_token) == (403, "forbidden")
    stranger_view = await api.ok("GET", "/api/rooms/lobby", alice_token)
    assert "role" not in stranger_view
    assert stranger_view["id"] == "lobby"

    assert await api.refused("DELETE", "/api/rooms/lobby/messages", alice_token) == (
        403,
        "forbidden",
    )
    purged = await api.ok("DELETE", "/api/rooms/lobby/messages", bob)
    assert purged["epoch"] == 2
    assert (await api.ok("GET", "/api/rooms/lobby/messages", bob))["messages"] == []


async def test_private_rooms_invitations_kicks_and_bans(api: Api) -> None:
    server = api.server
    owner, carol = await server.token("olga"), await server.token("carol")
    await api.ok("POST", "/api/rooms", owner, {"room": "secret", "kind": "private"})
    # To a stranger a private room answers as one that does not exist.
    assert await api.refused("GET", "/api/rooms/secret", carol) == (404, "not_found")
    assert await api.refused("GET", "/api/rooms/nowhere", carol) == (404, "not_found")
    assert await api.refused("GET", "/api/rooms/secret/messages", carol) == (404, "not_found")
    assert await api.refused("GET", "/api/rooms/secret/members", carol) == (404, "not_found")
    assert await api.refused("PUT", "/api/rooms/secret/members/carol", carol) == (404, "not_found")
    assert await api.refused("PUT", "/api/rooms/secret/read", carol, {"seq": 1}) == (
        404,
        "not_found",
    )

    invited = await api.ok("PUT", "/api/rooms/secret/members/carol", owner)
    assert invited == {"room": "secret", "user": "carol"}
    assert (await api.ok("PUT", "/api/rooms/secret/members/CAROL", carol))["id"] == "secret"
    assert await api.ok("GET", "/api/rooms/secret/messages", carol)

    kicked = await api.ok("DELETE", "/api/rooms/secret/members/carol", owner)
    assert kicked == {"room": "secret", "user": "carol"}
    assert await api.refused("GET", "/api/rooms/secret/messages", carol) == (404, "not_found")

    assert await api.refused("PUT", "/api/rooms/secret/bans/olga", carol) == (404, "not_found")
    assert await api.ok("PUT", "/api/rooms/secret/bans/carol", owner) == {
        "room": "secret",
        "user": "carol",
    }
    assert await api.refused("PUT", "/api/rooms/secret/members/carol", owner) == (
        409,
        "conflict",
    )
    assert await api.ok("DELETE", "/api/rooms/secret/bans/carol", owner)
    assert await api.ok("PUT", "/api/rooms/secret/members/carol", owner)
    history = await api.ok("GET", "/api/rooms/secret/messages", owner)
    assert [m["kind"] for m in history["messages"]] == [
        "invite",
        "join",
        "kick",
        "ban",
        "invite",
    ]

    assert await api.refused("GET", "/api/rooms/nowhere", carol) == (404, "not_found")
    assert await api.refused("GET", "/api/rooms/nowhere/messages", carol) == (404, "not_found")
    assert await api.refused("PUT", "/api/rooms/nowhere/members/carol", carol) == (
        404,
        "not_found",
    )
    assert await api.refused("PUT", "/api/rooms/secret/members/nobody", owner) == (
        404,
        "not_found",
    )


async def test_direct_messages(api: Api) -> None:
    server = api.server
    alice = await server.client("alice")
    bob = await server.token("bob")
    dm = await api.ok("POST", "/api/dms", bob, {"user": "alice"})
    assert dm["kind"] == "dm"
    assert (await api.ok("POST", "/api/dms", bob, {"user": "alice"}))["id"] == dm["id"]
    assert (await alice.dm("bob"))["id"] == dm["id"]
    assert await api.refused("POST", "/api/dms", bob, {"user": "nobody"}) == (404, "not_found")
    assert await api.refused("POST", "/api/dms", bob, {"user": "bob"}) == (400, "invalid")
    assert await api.refused("DELETE", f"/api/rooms/{dm['id']}/members/bob", bob) == (
        400,
        "invalid",
    )


async def test_rest_and_ops_answer_alike(api: Api) -> None:
    server = api.server
    token = await server.token("bob")
    await api.ok("POST", "/api/rooms", token, {"room": "lobby"})
    await api.ok("POST", "/api/rooms/lobby/messages", token, {"cid": "c1", "text": "hi"})
    pairs: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("/api/rooms", "rooms", {}, {}),
        ("/api/directory", "directory", {"limit": "5"}, {"limit": 5}),
        ("/api/rooms/lobby/members", "members", {}, {"room": "lobby"}),
        ("/api/rooms/lobby/messages", "history", {"after": "0"}, {"room": "lobby", "after": 0}),
    ]
    for path, op, query, params in pairs:
        rest = await api.ok("GET", path, token, query=query)
        status, reply = await api("POST", f"/api/ops/{op}", token, params)
        assert (status, reply["op"]) == (200, "reply")
        assert rest == reply["body"], op


# -- bad input ----------------------------------------------------------------------------


async def test_bad_input_is_400(api: Api) -> None:
    server = api.server
    token = await server.token("bob")
    await api.ok("POST", "/api/rooms", token, {"room": "lobby"})
    most = str(server.app.config.limits.history_limit + 1)
    history = "/api/rooms/lobby/messages"
    cases: list[tuple[str, str, Any, dict[str, Any]]] = [
        ("GET", history, None, {"query": {"limit": "0"}}),
        ("GET", history, None, {"query": {"limit": most}}),
        ("GET", history, None, {"query": {"limit": "ten"}}),
        ("GET", history, None, {"query": {"after": "-1"}}),
        ("GET", history, None, {"query": {"after": "1", "since": "2"}}),
        ("GET", history, None, {"query": {"after": "1", "before": "5"}}),
        ("GET", history, None, {"query": {"since": "nan"}}),
        ("GET", history, None, {"query": {"bogus": "1"}}),
        ("GET", history, None, {"query": [("limit", "1"), ("limit", "2")]}),
        ("GET", history, None, {"raw": b'{"limit": 1}'}),
        ("GET", "/api/me", None, {"query": {"x": "1"}}),
        ("GET", "/api/directory", None, {"query": {"limit": "201"}}),
        ("POST", "/api/rooms", None, {"raw": b"{not json"}),
        ("POST", "/api/rooms", None, {"raw": b"[1, 2]"}),
        ("POST", "/api/rooms", {"room": "lobby2", "bogus": 1}, {}),
        ("POST", "/api/rooms", {"room": "Not A Room Id"}, {}),
        ("POST", "/api/rooms", {"kind": "secretive"}, {}),
        ("PUT", "/api/rooms/lobby/read", {"seq": -1}, {}),
        ("PUT", "/api/rooms/lobby/read", {"seq": 2**64}, {}),
        ("PUT", "/api/rooms/lobby/read", {}, {}),
        ("PATCH", "/api/rooms/lobby", {"topic": 5}, {}),
        ("PATCH", "/api/rooms/lobby", {"topic": "x" * 501}, {}),
        ("DELETE", "/api/rooms/lobby/members/bob", None, {"raw": b"{}"}),
    ]
    for method, path, body, options in cases:
        status, answer = await api(method, path, token, body, **options)
        assert (status, answer["code"]) == (400, "invalid"), (method, path, body, options)
    # A window that ends before it starts holds nothing: not an error.
    empty = await api.ok("GET", history, token, query={"since": "5", "until": "4"})
    assert empty["messages"] == []


async def test_rest_requests_are_rate_limited_per_user(tmp_path: Path) -> None:
    def strict(config):  # type: ignore[no-untyped-def]
        return replace_config(config, limits={"user_rate": 0.01, "user_burst": 3})

    async with running_homer(tmp_path, configure=strict) as server, aiohttp.ClientSession() as http:
        api = Api(server, http, await (await http.get(f"{server.url}/api/openapi.json")).json())
        token = await server.token("bob")
        statuses = [(await api("GET", "/api/rooms", token))[0] for _ in range(4)]
        statuses += [(await api("GET", "/api/me", token))[0]]
        assert statuses == [200, 200, 200, 429, 429]


# -- administration -------------------------------------------------------------------------


async def test_admins_manage_users(api: Api) -> None:
    server = api.server
    root = await server.token("root", group="admins")
    await server.user("staffer")

    made = await api.ok(
        "POST",
        "/api/users",
        root,
        {"name": "dave", "password": "dave-password", "attributes": {"display_name": "Dave"}},
    )
    assert (made["name"], made["group"], made["attributes"]) == (
        "dave",
        "users",
        {"display_name": "Dave"},
    )
    assert await api.refused("POST", "/api/users", root, {"name": "DAVE", "password": "p" * 9}) == (
        409,
        "conflict",
    )
    status, answer = await api("POST", "/api/users", root, {"name": "x y", "password": "short"})
    assert (status, set(answer["fields"])) == (400, {"name", "password"})
    no_group = {"name": "eve", "password": "eve-password", "group": "nope"}
    assert await api.refused("POST", "/api/users", root, no_group) == (404, "not_found")

    page = await api.ok("GET", "/api/users", root, query={"search": "dav"})
    assert [u["name"] for u in page["users"]] == ["dave"]
    first = await api.ok("GET", "/api/users", root, query={"limit": "1"})
    assert first["next"] is not None
    assert (await api.ok("GET", "/api/users/DAVE", root))["id"] == made["id"]
    assert await api.refused("GET", "/api/users/nobody", root) == (404, "not_found")

    changed = await api.ok(
        "PATCH",
        "/api/users/dave",
        root,
        {"attributes": {"display_name": None}, "group": "admins", "name": "david"},
    )
    assert (changed["name"], changed["group"], changed["attributes"]) == ("david", "admins", {})
    assert "admin.users" in changed["permissions"]
    assert await api.refused("PATCH", "/api/users/david", root, {"name": "staffer"}) == (
        409,
        "conflict",
    )
    assert await api.refused("PATCH", "/api/users/david", root, {"group": "nope"}) == (
        404,
        "not_found",
    )
    # A refused change changes nothing; an empty one neither.
    assert await api.ok("PATCH", "/api/users/david", root, {}) == changed

    granted = await api.ok("PUT", "/api/users/staffer/permissions/room.moderate", root)
    assert (granted["grants"], "room.moderate" in granted["permissions"]) == (
        ["room.moderate"],
        True,
    )
    denied = await api.ok("DELETE", "/api/users/staffer/permissions/room.post", root)
    assert denied["denies"] == ["room.post"]
    assert "room.post" not in denied["permissions"]
    assert await api.refused("PUT", "/api/users/staffer/permissions/no.such", root) == (
        400,
        "invalid",
    )
    reset = await api.ok("DELETE", "/api/users/staffer/permissions", root)
    assert (reset["grants"], reset["denies"]) == ([], [])

    issued = await api.ok("POST", "/api/users/staffer/tokens", root, {"ttl": 60})
    assert issued["expires_at"] is not None
    assert (await api.ok("GET", "/api/me", issued["token"]))["name"] == "staffer"
    forever = await api.ok("POST", "/api/users/staffer/tokens", root, {"ttl": 0})
    assert forever["expires_at"] is None
    assert await api.ok("DELETE", "/api/users/staffer/tokens", root) is None
    assert await api.refused("GET", "/api/me", issued["token"]) == (401, "token_revoked")

    staffer = await server.token("staffer")
    assert (
        await api.ok("PUT", "/api/users/staffer/password", root, {"password": "new-secret"}) is None
    )
    assert await api.refused("GET", "/api/me", staffer) == (401, "token_revoked")
    status, _ = await api("POST", "/api/login", None, {"name": "staffer", "password": "new-secret"})
    assert status == 200

    assert await api.ok("DELETE", "/api/users/david", root) is None
    assert await api.refused("GET", "/api/users/david", root) == (404, "not_found")
    assert await api.refused("DELETE", "/api/users/david", root) == (404, "not_found")

    audit = await api.ok("GET", "/api/audit", root, query={"actor": "root", "limit": "100"})
    actions = {entry["action"] for entry in audit["entries"]}
    assert {
        "user.create",
        "user.rename",
        "user.grant",
        "user.delete",
        "token.revoke_all",
    } <= actions


async def test_admins_manage_groups(api: Api) -> None:
    server = api.server
    root = await server.token("root", group="admins")
    await server.user("ann")

    made = await api.ok(
        "POST", "/api/groups", root, {"name": "staff", "permissions": ["room.post"]}
    )
    assert (made["name"], made["permissions"], made["members"], made["default"]) == (
        "staff",
        ["room.post"],
        0,
        False,
    )
    assert await api.refused("POST", "/api/groups", root, {"name": "STAFF"}) == (409, "conflict")
    bad = {"name": "other", "permissions": ["no.such"]}
    assert await api.refused("POST", "/api/groups", root, bad) == (400, "invalid")
    child = await api.ok("POST", "/api/groups", root, {"name": "leads", "parent": "staff"})
    assert (child["parent"], child["effective"]) == ("staff", ["room.post"])

    listed = await api.ok("GET", "/api/groups", root)
    by_name = {g["name"]: g for g in listed["groups"]}
    assert by_name["users"]["default"] is True
    assert set(by_name) == {"users", "admins", "staff", "leads"}
    assert (await api.ok("GET", "/api/groups/staff", root))["id"] == made["id"]
    assert await api.refused("GET", "/api/groups/nope", root) == (404, "not_found")

    moved = await api.ok("PUT", "/api/groups/staff/members/ann", root)
    assert moved["group"] == "staff"
    members = await api.ok("GET", "/api/groups/staff/members", root)
    assert [u["name"] for u in members["users"]] == ["ann"]
    assert (await api.ok("GET", "/api/groups/staff", root))["members"] == 1
    assert await api.refused("DELETE", "/api/groups/leads/members/ann", root) == (
        404,
        "not_found",
    )
    back = await api.ok("DELETE", "/api/groups/staff/members/ann", root)
    assert back["group"] == "users"
    assert await api.refused("DELETE", "/api/groups/users/members/ann", root) == (
        409,
        "conflict",
    )

    granted = await api.ok("PUT", "/api/groups/staff/permissions/room.moderate", root)
    assert granted["permissions"] == ["room.moderate", "room.post"]
    revoked = await api.ok("DELETE", "/api/groups/staff/permissions/room.post", root)
    assert revoked["permissions"] == ["room.moderate"]
    changed = await api.ok(
        "PATCH",
        "/api/groups/leads",
        root,
        {"parent": None, "permissions": ["room.create"], "name": "chiefs"},
    )
    assert (changed["name"], changed["parent"], changed["effective"]) == (
        "chiefs",
        None,
        ["room.create"],
    )
    assert await api.refused("PATCH", "/api/groups/staff", root, {"parent": "nope"}) == (
        404,
        "not_found",
    )
    assert await api.refused("PATCH", "/api/groups/staff", root, {"name": "chiefs"}) == (
        409,
        "conflict",
    )

    await api.ok("PUT", "/api/groups/staff/members/ann", root)
    deleted = await api.ok("DELETE", "/api/groups/staff", root)
    assert deleted == {"group": "staff", "moved": 1}
    assert (await api.ok("GET", "/api/users/ann", root))["group"] == "users"
    assert await api.refused("DELETE", "/api/groups/users", root) == (409, "conflict")

    permissions = (await api.ok("GET", "/api/permissions", root))["permissions"]
    assert permissions["admin.users"] == "create, change and delete users"


async def test_admin_routes_need_the_admin_permissions(api: Api) -> None:
    """A plain user is refused every admin route, and nobody without a token is let in."""
    server = api.server
    plain = await server.token("pat")
    await server.user("target")
    root = await server.token("root", group="admins")
    await api.ok("POST", "/api/groups", root, {"name": "g"})
    values = {
        "name": "target",
        "user": "target",
        "permission": "room.post",
        "room": "lobby",
        "seq": "1",
        "key": "x",
    }
    bodies: dict[str, Any] = {
        "POST /api/users": {"name": "x", "password": "password"},
        "PATCH /api/users/{name}": {"name": "y"},
        "PUT /api/users/{name}/password": {"password": "password"},
        "POST /api/groups": {"name": "x"},
        "PATCH /api/groups/{name}": {"name": "y"},
    }
    checked = 0
    for endpoint in REST_ROUTES:
        path = endpoint.path
        for name, value in values.items():
            path = path.replace(
                f"{{{name}}}", "g" if name == "name" and "/groups/" in path else value
            )
        body = bodies.get(f"{endpoint.method} {endpoint.path}")
        assert await api.refused(endpoint.method, path, None, body) == (401, "unauthenticated")
        if endpoint.permission is None:
            continue
        status, code = await api.refused(endpoint.method, path, plain, body)
        assert (status, code) == (403, "forbidden"), (endpoint.method, endpoint.path)
        checked += 1
    assert checked == sum(1 for e in REST_ROUTES if e.permission)
    target = await api.ok("GET", "/api/users/target", root)
    assert (target["group"], target["grants"], target["denies"]) == ("users", [], [])
