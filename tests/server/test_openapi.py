"""The OpenAPI document is exactly as strict as the server: schemathesis against a
live node, and the document itself against the OpenAPI schema and lint rules.

The node runs in a thread of its own with its own event loop; schemathesis
makes its (blocking) requests from the test's thread, seeded and deterministic,
with a few examples per operation. Every operation of the document is called
without a token, with a plain user's and with an admin's (on a node of its own,
as the admin may delete or revoke what the others rely on), with every check on:
no server error, only documented statuses, content types and bodies, what the
schema calls valid accepted and what it calls invalid refused. The three runs
take about 15 s each on two busy cores.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgspec
import pytest
import requests
import schemathesis
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.engine import Status
from schemathesis.engine.events import FatalError, NonFatalError, ScenarioFinished

from homer.config import HomerConfig
from homer.core.fields import NAME_PATTERN
from homer.identity.permissions import SYSTEM
from homer.identity.schema import _NAME as IDENTITY_NAME
from homer.testing.server import TestServer, replace_config, running_homer
from homer.transports.openapi import build_document
from homer.transports.rest import REST_ROUTES
from homer.transports.site import build_http_app
from tests.server.test_rest import conforms

T = TypeVar("T")

#: Every check schemathesis has for a request and its answer.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)
#: What refuses invalid data: schemathesis's list, and 413 (a text past
#: ``limits.max_text`` is ``too_large``).
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
#: Streams never end: they are not for a request-and-answer fuzzer.
STREAMS = ["/ws", "/api/events"]
POLL = "/api/queues/{queue}/events"
ADMIN, PLAIN = "root-q7x2", "pat-k4w9"


def generous(config: HomerConfig) -> HomerConfig:
    """Limits high enough that the fuzzer meets the rules, not the rate limits; files
    of types whose bytes are not checked (random bytes are no image); no strength
    estimate of passwords, which the document describes but no schema can state
    (the policy has tests of its own: tests/identity/test_password_policy.py)."""
    return replace_config(
        config,
        identity={"password_min_score": 0, "password_refuse_common": False},
        files={"types": ["text/plain", "application/pdf", "application/octet-stream"]},
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


@contextmanager
def node_in_thread(path: Path) -> Iterator[Live]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="homer-node", daemon=True)
    thread.start()
    node = running_homer(path, configure=generous)

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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with node_in_thread(tmp_path_factory.mktemp("node")) as node:
        yield node


async def seed(server: TestServer) -> None:
    """What the document's examples name: room ``lobby`` (the admin's, with alice
    and a message in it), user ``alice`` in group ``staff``."""
    app = server.app
    await app.identity.groups.create(SYSTEM, "staff", ["room.post"])
    admin, alice = await server.user(ADMIN), await server.user("alice", group="staff")
    await app.rooms.create(admin, room_id="lobby", kind="public", name=None, topic="", meta=None)
    await app.rooms.join(alice, "lobby")
    await app.messages.send(alice, "lobby", "c1", "hello")


@dataclass
class Fuzzed:
    """What a run found: how many cases it sent, and each problem on a line."""

    cases: int
    problems: list[str]

    def __str__(self) -> str:
        checks = Counter(line.split("] ", 1)[0].lstrip("[") for line in self.problems)
        return f"{self.cases} cases, {len(self.problems)} problems {dict(checks)}\n" + "\n".join(
            self.problems
        )


def fuzz(url: str, token: str | None, *, examples: int, seed: int) -> Fuzzed:
    """Run schemathesis over every operation of the document but the streams.

    With a token, a poll of a long-poll queue is left out too: it waits, as it
    should, up to 55 seconds for an event (``test_a_poll_matches_the_document``
    checks it instead). Without one, only the operations that need none: every
    other answers 401 before it reads anything, which
    ``test_every_operation_without_a_token`` checks operation by operation."""
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
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                "negative_data_rejection": {"enabled": True, "expected-statuses": REFUSALS},
            },
            "request-timeout": 20,
            # A concrete path is matched before a template (OpenAPI, Path Templating
            # Matching): POST /api/ops/send is the send operation, checked at its own
            # path, not a request to /api/ops/{op} with a name the template excludes.
            # A multipart part is bytes: a number "sent" as the file is a file of those
            # digits, a violation the server cannot see.
            "operations": [
                {
                    "include-path": path,
                    "checks": {"negative_data_rejection": {"enabled": False}},
                }
                for path in ("/api/ops/{op}", "/api/files")
            ],
        }
    )
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json", config=config)
    problems: list[str] = []
    cases = 0
    skipped = [*STREAMS, POLL] if token else STREAMS
    schema = schema.exclude(path=skipped)
    if token is None:
        schema = schema.exclude(
            func=lambda ctx: ctx.operation.definition.raw.get("security") == [{"bearer": []}]
        )
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, FatalError):
            raise event.exception
        if isinstance(event, NonFatalError):
            problems.append(f"[error] {event.label}: {event.value!r}")
        elif isinstance(event, ScenarioFinished):
            cases += len(event.recorder.cases)
            if event.status not in (Status.FAILURE, Status.ERROR):
                continue
            for case_id, checks in event.recorder.checks.items():
                case = event.recorder.cases[case_id].value
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        body = "" if isinstance(case.body, NotSet) else f" body={case.body!r}"
                        problems.append(
                            f"[{check.name}] {case.method} {case.formatted_path} "
                            f"query={case.query}{body}: {failure.title}: {failure.message[:300]}"
                        )
    return Fuzzed(cases, sorted(set(problems)))


def test_every_operation_without_a_token(live: Live) -> None:
    found = fuzz(live.url, None, examples=25, seed=2)
    assert found.cases > 250
    assert not found.problems, str(found)
    document = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    for path, methods in document["paths"].items():
        for method, described in methods.items():
            if described.get("security") != [{"bearer": []}] or path in STREAMS:
                continue
            if path.startswith("/api/ops/"):
                continue  # an unknown op is 404 before anything
            concrete = path.replace("{room}", "lobby").replace("{permission}", "room.post")
            concrete = concrete.replace("{seq}", "1").replace("{key}", ":thumbsup:")
            concrete = re.sub(r"\{[^}]+\}", "x", concrete)
            answer = requests.request(method, f"{live.url}{concrete}", timeout=10)
            assert answer.status_code == 401, (method, path)
            assert answer.json()["code"] == "unauthenticated"


def test_every_operation_as_a_plain_user(live: Live) -> None:
    found = fuzz(live.url, live.plain, examples=3, seed=3)
    assert found.cases > 1000
    assert not found.problems, str(found)


def test_every_operation_as_an_admin(tmp_path: Path) -> None:
    """On a node of its own: an admin may delete users, groups and tokens."""
    with node_in_thread(tmp_path) as node:
        found = fuzz(node.url, node.admin, examples=3, seed=1)
    assert found.cases > 1000
    assert not found.problems, str(found)


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
    query = next(p for p in history["parameters"] if p["name"] == "query")
    assert (query["in"], query["style"], query["explode"]) == ("query", "form", True)
    limit = query["schema"]["properties"]["limit"]
    assert limit.pop("description")
    assert limit == {
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


def test_the_document_passes_the_openapi_validator(live: Live) -> None:
    validate(requests.get(f"{live.url}/api/openapi.json", timeout=10).json())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_keeps_the_lint_rules(live: Live) -> None:
    """What Redocly's ``recommended`` rules would flag as errors."""
    document = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    assert document["servers"], "servers"
    tags = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert all(tags.values()), "every tag described"
    schemes = document["components"]["securitySchemes"]
    ids: list[str] = []
    shapes: dict[str, str] = {}
    for path, methods in document["paths"].items():
        shape = re.sub(r"\{[^}]+\}", "{}", path)
        assert shapes.setdefault(shape, path) == path, f"{path} and {shapes[shape]} are ambiguous"
        named = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            ids.append(operation.get("operationId", ""))
            assert operation.get("operationId"), f"{where}: operationId"
            assert operation.get("summary"), f"{where}: summary"
            statuses = set(operation["responses"])
            assert statuses & {s for s in statuses if s[0] in "1234"}, f"{where}: a 2xx/4xx"
            declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert declared == named, f"{where}: path parameters {declared} vs {named}"
            for tag in operation.get("tags", ()):
                assert tag in tags, f"{where}: tag {tag} not declared"
            for requirement in operation.get("security", ()):
                assert set(requirement) <= set(schemes), f"{where}: security {requirement}"
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    used = set(_refs(document["paths"]))
    schemas = document["components"]["schemas"]
    while True:  # what the used ones refer to is used too
        more = {ref for name in used for ref in _refs(schemas.get(name, {}))} - used
        if not more:
            break
        used |= more
    assert set(schemas) <= used, f"unused components: {sorted(set(schemas) - used)}"


def test_the_document_states_what_the_server_checks(live: Live) -> None:
    document = requests.get(f"{live.url}/api/openapi.json", timeout=10).json()
    paths = document["paths"]
    # hello always fails over HTTP: it is not listed, and {op} does not take it (nor
    # the operations described at a path of their own).
    assert "/api/ops/hello" not in paths
    op = next(p for p in paths["/api/ops/{op}"]["post"]["parameters"] if p["name"] == "op")
    assert {"hello", "send", "ping"} <= set(op["schema"]["not"]["enum"])
    # Operations on a live session need it named; the browser session its header.
    for name in ("typing", "presence", "resume", "refresh"):
        header = next(
            p for p in paths[f"/api/ops/{name}"]["post"]["parameters"] if p["in"] == "header"
        )
        assert (header["name"], header["required"]) == ("Homer-Session", True), name
    for method, path in (("post", "/api/session"), ("post", "/api/session/token")):
        header = paths[path][method]["parameters"][0]
        assert (header["name"], header["required"]) == ("X-Homer-Session", True)
    # Every JSON body may be refused for its type.
    for path, methods in paths.items():
        for method, operation in methods.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                assert "415" in operation["responses"], f"{method} {path}"
    # A body with unknown fields is refused, and its limits are there.
    send = document["components"]["schemas"]["Send"]
    assert send["additionalProperties"] is False
    assert send["properties"]["cid"] == {"type": "string", "minLength": 1, "maxLength": 64}
    assert send["properties"]["text"]["maxLength"] == live.server.app.config.limits.max_text
    # The names the identity service takes, as it checks them.
    assert IDENTITY_NAME.pattern == NAME_PATTERN


async def test_a_whole_number_written_with_a_fraction_is_an_integer(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        alice = await server.client("alice")
        await alice.create("lobby")
        await alice.send("lobby", "one")
        await alice.send("lobby", "two")
        token = await server.token("alice")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"{server.url}/api/rooms/lobby/read"
        async with http.put(url, data=b'{"seq": 2.0}', headers=headers) as answer:
            assert (answer.status, (await answer.json())["read"]) == (200, 2)
        async with http.put(url, data=b'{"seq": 2.5}', headers=headers) as answer:
            assert answer.status == 400
        async with http.put(url, data=b'{"seq": "2"}', headers=headers) as answer:
            assert answer.status == 400
        url = f"{server.url}/api/ops/history"
        body = b'{"room": "lobby", "after": 1e0, "limit": 1.0}'
        async with http.post(url, data=body, headers=headers) as answer:
            page = await answer.json()
            assert answer.status == 200, page
            assert [m["body"]["text"] for m in page["body"]["messages"]] == ["two"]


async def test_a_refresh_with_a_malformed_body_is_refused_even_with_the_header(
    tmp_path: Path,
) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        token = await server.token("alice")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"{server.url}/api/token/refresh"
        for body in (b'{"token": {}}', b'{"bogus": 1}', b"[1]", b"{not json"):
            async with http.post(url, data=body, headers=headers) as answer:
                assert answer.status == 400, body
                assert (await answer.json())["code"] == "invalid"
        async with http.post(url, data=b"", headers=headers) as answer:
            assert answer.status == 200
        form = {"Authorization": f"Bearer {token}"}
        async with http.post(url, data={"token": token}, headers=form) as answer:
            assert answer.status == 415
            assert (await answer.json())["code"] == "unsupported_media_type"
