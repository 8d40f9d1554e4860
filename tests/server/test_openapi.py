"""The OpenAPI document matches the server: schemathesis against a live node.

The node runs in a thread of its own with its own event loop; schemathesis
makes its (blocking) requests from the test's thread, with a fixed seed and a
few examples per operation. Every operation of the document is called with an
admin's token, a plain user's and none; every answer must be no server error,
have a documented status and content type, and match its schema, and what the
schema calls invalid must be refused.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec
import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.engine import Status
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished

from homer.config import HomerConfig
from homer.identity.permissions import SYSTEM
from homer.testing.server import TestServer, replace_config, running_homer
from homer.transports.openapi import build_document
from homer.transports.rest import REST_ROUTES
from homer.transports.site import build_http_app
from tests.server.test_rest import conforms

T = TypeVar("T")

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
#: Streams never end: they are not for a request-and-answer fuzzer.
STREAMS = ["/ws", "/api/events"]
POLL = "/api/queues/{queue}/events"
ADMIN, PLAIN = "root-q7x2", "pat-k4w9"


def generous(config: HomerConfig) -> HomerConfig:
    """Limits high enough that the fuzzer meets the rules, not the rate limits."""
    return replace_config(
        config,
        limits={
            "user_rate": 10_000.0,
            "user_burst": 10_000,
            "logins_per_account": 10_000,
            "logins_per_address": 10_000,
            "max_connections_per_user": 10_000,
        },
    )


@dataclass
class Live:
    """A node served from a thread, and the tokens of an admin and a plain user."""

    server: TestServer
    admin: str
    plain: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="homer-node", daemon=True)
    thread.start()
    node = running_homer(tmp_path_factory.mktemp("node"), configure=generous)

    def call(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    try:
        server = call(node.__aenter__())
        try:
            admin = call(server.token(ADMIN, group="admins"))
            plain = call(server.token(PLAIN))
            call(seed(server))
            yield Live(server, admin, plain)
        finally:
            call(node.__aexit__(None, None, None))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def seed(server: TestServer) -> None:
    """What the document's examples name: room ``lobby`` (the admin's, with alice
    and a message in it), user ``alice`` in group ``staff``."""
    app = server.app
    await app.identity.groups.create(SYSTEM, "staff", ["room.post"])
    admin, alice = await server.user(ADMIN), await server.user("alice", group="staff")
    await app.rooms.create(admin, room_id="lobby", kind="public", name=None, topic="", meta=None)
    await app.rooms.join(alice, "lobby")
    await app.messages.send(alice, "lobby", "c1", "hello")


def fuzz(
    url: str, token: str | None, *, examples: int, seed: int, checks: tuple[str, ...] = CHECKS
) -> list[str]:
    """Run schemathesis over every operation of the document but the streams; the
    problems it found, one line each.

    With a token, a poll of a long-poll queue is left out too: it waits, as it
    should, up to 55 seconds for an event (``test_a_poll_matches_the_document``
    checks it instead)."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": seed,
            "headers": {"Authorization": f"Bearer {token}"} if token else {},
            "generation": {"mode": "all", "deterministic": True, "max-examples": examples},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
            "request-timeout": 20,
            # A token in the header wins: the body is not read, and a bad one not refused.
            "operations": [
                {
                    "include-path": "/api/token/refresh",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json", config=config)
    problems: list[str] = []
    skipped = [*STREAMS, POLL] if token else STREAMS
    for event in schemathesis.engine.from_schema(schema.exclude(path=skipped)).execute():
        if isinstance(event, FatalError):
            raise event.exception
        if isinstance(event, NonFatalError):
            problems.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, ScenarioFinished) and event.status in (Status.FAILURE, Status.ERROR):
            for case_id, checks in event.recorder.checks.items():
                case = event.recorder.cases[case_id].value
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        body = "" if isinstance(case.body, NotSet) else f" body={case.body!r}"
                        problems.append(
                            f"{case.method} {case.formatted_path} query={case.query}{body}: "
                            f"{check.name}: {failure.title}: {failure.message[:300]}"
                        )
    return sorted(set(problems))


def test_every_operation_as_an_admin(live: Live) -> None:
    problems = fuzz(live.url, live.admin, examples=25, seed=1)
    assert not problems, "\n".join(problems)


def test_every_operation_as_a_plain_user(live: Live) -> None:
    problems = fuzz(live.url, live.plain, examples=5, seed=3)
    assert not problems, "\n".join(problems)


def test_every_operation_without_a_token(live: Live) -> None:
    problems = fuzz(live.url, None, examples=3, seed=2)
    assert not problems, "\n".join(problems)
    document = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    for path, methods in document["paths"].items():
        for method, described in methods.items():
            if described.get("security") != [{"bearer": []}] or path in STREAMS:
                continue
            if path.startswith("/api/ops/"):
                continue  # an unknown op is 404 before anything
            concrete = path.replace("{room}", "lobby").replace("{permission}", "room.post")
            concrete = re.sub(r"\{[^}]+\}", "x", concrete)
            answer = requests.request(method, f"{live.url}{concrete}", timeout=10)
            assert answer.status_code == 401, (method, path)
            assert answer.json()["code"] == "unauthenticated"


def test_a_poll_matches_the_document(live: Live) -> None:
    """The long-poll routes the fuzzer leaves out (a poll waits for events)."""
    document = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    headers = {"Authorization": f"Bearer {live.plain}"}
    created = requests.post(f"{live.url}/api/queues", headers=headers, timeout=10)
    conforms(document, "POST", "/api/queues", created.status_code, created.json())
    queue = created.json()["queue"]
    events = f"/api/queues/{queue}/events"
    for query in ({"timeout": "0"}, {"after": "0", "timeout": "0"}, {"after": "99"}):
        polled = requests.get(f"{live.url}{events}", params=query, headers=headers, timeout=10)
        conforms(document, "GET", events, polled.status_code, polled.json())
    gone = requests.delete(f"{live.url}/api/queues/{queue}", headers=headers, timeout=10)
    conforms(document, "DELETE", f"/api/queues/{queue}", gone.status_code, None)
    polled = requests.get(f"{live.url}{events}", headers=headers, timeout=10)
    assert polled.status_code == 404
    conforms(document, "GET", events, polled.status_code, polled.json())


# -- the document itself ------------------------------------------------------------


def test_the_document_describes_every_route(live: Live) -> None:
    document = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()  # against the OpenAPI 3.1 schema
    http = build_http_app(live.server.app)
    for route in http.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or path == "/{tail}":
            continue
        described = document["paths"][path][route.method.lower()]
        assert described["summary"], (route.method, path)
        assert described["responses"], (route.method, path)
    for endpoint in REST_ROUTES:
        described = document["paths"][endpoint.path][endpoint.method.lower()]
        assert described["security"] == [{"bearer": []}]
        for status in ("400", "401", "413", "429"):
            assert described["responses"][status]["content"]["application/json"]
        if endpoint.permission:
            assert "403" in described["responses"]
            assert endpoint.permission in described["description"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_bounds_come_from_the_configuration(live: Live) -> None:
    document = build_document(build_http_app(live.server.app))
    history = document["paths"]["/api/rooms/{room}/messages"]["get"]
    limit = next(p for p in history["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": live.server.app.config.limits.history_limit,
        "default": 50,
    }
    grant = document["paths"]["/api/groups/{name}/permissions/{permission}"]["put"]
    permission = next(p for p in grant["parameters"] if p["name"] == "permission")
    assert "admin.users" in permission["schema"]["enum"]


class Odd(msgspec.Struct):
    when: complex  # no JSON Schema for this


async def test_the_document_follows_the_operations(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        app = server.app

        async def document() -> Any:
            async with http.get(f"{server.url}/api/openapi.json") as response:
                assert response.status == 200
                return await response.json()

        async def shout(ctx: Any) -> dict[str, Any]:
            return {"ok": True}

        async def odd(ctx: Any, params: Odd) -> dict[str, Any]:
            return {}

        before = await document()
        app.add_handler("shout", shout)
        added = await document()
        app.remove_handler("history")
        removed = await document()
        app.add_handler("odd", odd)
        undescribable = await document()
    assert "/api/ops/shout" not in before["paths"]
    assert "/api/ops/shout" in added["paths"]
    assert "/api/ops/history" in added["paths"]
    assert "/api/ops/history" not in removed["paths"]
    # A type JSON Schema cannot describe: its op takes "an object"; the others are as they were.
    odd_body = undescribable["paths"]["/api/ops/odd"]["post"]["requestBody"]
    assert odd_body["content"]["application/json"]["schema"] == {"type": "object"}
    assert "Odd" not in undescribable["components"]["schemas"]
    assert "Send" in undescribable["components"]["schemas"]
