"""The framework side: custom operations, hooks, HTTP routes, the test kit itself."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from homer import SYSTEM
from homer.client import ClientError
from homer.config import HomerConfig
from homer.core.app import Context, Homer
from homer.errors import Forbidden, InvalidInput
from homer.identity.passwords import Argon2Params
from homer.messaging.messages import Draft
from homer.testing.server import running_homer


class Roll(msgspec.Struct, forbid_unknown_fields=True):
    sides: int = 6
    times: int = 1


def make_app(tmp_path: Path) -> Homer:
    app = Homer(
        HomerConfig(data_dir=str(tmp_path / "data")),
        permissions={"dice.roll": "roll dice"},
        password_params=Argon2Params.cheap(),
    )

    @app.on("roll", requires="dice.roll")
    async def roll(ctx: Context, params: Roll) -> dict[str, object]:
        if not 2 <= params.sides <= 100:
            raise InvalidInput("sides must be 2-100")
        return {"user": ctx.user.name, "values": [params.sides] * params.times}

    @app.before_send
    async def no_shouting(draft: Draft) -> None:
        if draft.text.isupper() and len(draft.text) > 3:
            draft.text = draft.text.lower()
        if "forbidden-word" in draft.text:
            raise Forbidden("that word is not welcome here")

    stored: list[str] = []

    @app.after_send
    async def remember(user: object, message: object) -> None:
        stored.append(message.body["text"])  # type: ignore[attr-defined]

    app.stored = stored  # type: ignore[attr-defined]

    @app.route("GET", "/api/hello")
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    return app


async def test_custom_operation_with_typed_parameters_and_a_permission(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with running_homer(tmp_path, app=app) as server:
        await server.app.identity.groups.grant(SYSTEM, "admins", "dice.roll")
        player = await server.client("player", group="admins")
        assert await player.request("roll", sides=20, times=2) == {
            "user": "player",
            "values": [20, 20],
        }
        for params, code in [
            ({"sides": "twenty"}, "invalid"),
            ({"bogus": 1}, "invalid"),
            ({"sides": 1}, "invalid"),
        ]:
            with pytest.raises(ClientError) as caught:
                await player.request("roll", **params)
            assert caught.value.wire_code == code
        visitor = await server.client("visitor")
        with pytest.raises(ClientError) as caught:
            await visitor.request("roll")
        assert caught.value.wire_code == "forbidden"

        # Handlers come and go while the server runs.
        server.app.remove_handler("roll")
        with pytest.raises(ClientError) as caught:
            await player.request("roll")
        assert caught.value.wire_code == "unknown_op"

        @server.app.on("echo")
        async def echo(ctx: Context, params: Roll) -> dict[str, int]:
            return {"sides": params.sides}

        assert await player.request("echo", sides=3) == {"sides": 3}


async def test_hooks_rewrite_or_refuse_a_message(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with running_homer(tmp_path, app=app) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        ack = await alice.send("lobby", "HELLO EVERYONE")
        history = await alice.history("lobby")
        assert history[-1].body["text"] == "hello everyone"
        assert history[-1].seq == ack["seq"]
        with pytest.raises(ClientError) as caught:
            await alice.send("lobby", "a forbidden-word here")
        assert caught.value.wire_code == "forbidden"
        assert len(await alice.history("lobby")) == 1
        assert app.stored == ["hello everyone"]  # type: ignore[attr-defined]


async def test_application_http_routes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with running_homer(tmp_path, app=app) as server:
        client = await server.client("x", connect=False)
        assert await client.http("GET", "/api/hello") == {"hello": "world"}
        with pytest.raises(ClientError) as caught:
            await client.http("GET", "/api/nothing-here")
        assert caught.value.wire_code == "not_found"
        await client.close()


def test_a_handler_must_be_async_and_typed(tmp_path: Path) -> None:
    app = Homer(HomerConfig(data_dir=str(tmp_path)))

    def sync_handler(ctx: Context, params: Roll) -> None: ...

    async def untyped(ctx: Context, params: dict) -> None: ...  # type: ignore[type-arg]

    with pytest.raises(TypeError, match="async"):
        app.add_handler("a", sync_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"msgspec\.Struct"):
        app.add_handler("b", untyped)


async def test_a_guard_must_name_a_declared_permission(tmp_path: Path) -> None:
    app = Homer(HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap())

    @app.on("typo", requires="dice.rol")
    async def typo(ctx: Context) -> None: ...

    with pytest.raises(InvalidInput, match="dice.rol"):
        await app.start()
    async with running_homer(
        tmp_path, app=Homer(HomerConfig(data_dir=str(tmp_path / "d2")))
    ) as server:

        async def later(ctx: Context) -> None: ...

        with pytest.raises(InvalidInput):
            server.app.add_handler("later", later, requires="no.such")
        with pytest.raises(ValueError, match="auth"):
            server.app.add_handler("open", later, requires="room.post", auth=False)


async def test_an_empty_message_is_refused(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server:
        alice = await server.client("alice")
        await alice.create("lobby")
        with pytest.raises(ClientError) as caught:
            await alice.send("lobby", "")
        assert caught.value.wire_code == "invalid"
        assert (await alice.send("lobby", "", {"kind": "reaction"}))["seq"] == 1


async def test_the_pytest_plugin_gives_a_running_server(homer_server) -> None:  # type: ignore[no-untyped-def]
    alice = await homer_server.client("alice")
    bob = await homer_server.client("bob")
    await alice.create("kit")
    await bob.join("kit")
    await alice.send("kit", "from the fixture")
    event = await bob.next_event("msg")
    while event.kind != "msg":
        event = await bob.next_event("msg")
    assert event.body["text"] == "from the fixture"
