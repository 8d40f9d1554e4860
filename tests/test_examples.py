"""The examples in examples/ work as docs/tutorial/bot.md says: the dice server's
custom operation, hook and route, the echo bot answering on it, and the IRC and
MQTT bots answering through Homer's IRC and MQTT listeners."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import signal
import socket
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from homer.client import ClientError, HomerClient
from homer.config import HomerConfig
from homer.identity.passwords import Argon2Params
from homer.protocol.envelope import Envelope
from homer.testing.server import replace_config, running_homer
from tests.conformance.uvicorn_host import serving
from tests.irc.lines import registered

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    """Import examples/NAME.py (the directory is not a package)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def next_reply(bot: object, client: HomerClient) -> str:
    """Feed the bot its client's events until one of them makes it answer."""
    while True:
        event = await client.next_event(timeout=5)
        reply = await bot.handle(event)  # type: ignore[attr-defined]
        if reply is not None:
            return str(reply)


async def next_message_from(client: HomerClient, sender: str) -> Envelope:
    while True:
        event = await client.next_event("msg", timeout=5)
        if event.kind == "msg" and event.sender == sender:
            return event


@pytest.mark.timeout(20)
async def test_the_echo_bot_answers_on_the_dice_server(tmp_path: Path) -> None:
    dicebot, echobot = load("dicebot"), load("echobot")
    app = dicebot.build_app(
        HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap()
    )
    async with running_homer(tmp_path, app=app) as server, asyncio.timeout(10):
        await dicebot.let_users_roll(server.app)
        alice = await server.client("alice")
        bot_client = await server.client("dicebot")
        await alice.create("lobby")
        await bot_client.join("lobby")
        bot = echobot.EchoBot(bot_client)

        await alice.send("lobby", "!echo hello there")
        assert await next_reply(bot, bot_client) == "hello there"
        assert (await next_message_from(alice, "dicebot")).body == {"text": "hello there"}

        await alice.send("lobby", "!roll 2d6")
        reply = await next_reply(bot, bot_client)
        rolled = re.fullmatch(r"alice rolled 2d6: ([1-6]) \+ ([1-6]) = (\d+)", reply)
        assert rolled is not None, reply
        assert int(rolled[1]) + int(rolled[2]) == int(rolled[3])
        assert (await next_message_from(alice, "dicebot")).body == {"text": reply}

        # The route counts the roll; the hook refuses a blocked word and lowers shouting.
        assert await alice.http("GET", "/api/dice/stats") == {"rolls": 1}
        with pytest.raises(ClientError) as refused:
            await alice.send("lobby", "buy this scam now")
        assert refused.value.wire_code == "forbidden"
        await alice.send("lobby", "WHY IS THIS LOUD")
        assert (await alice.history("lobby", limit=1))[0].body == {"text": "why is this loud"}


#: The IRC bot's password: with spaces, which the library would cut at the first one.
IRC_BOT_PASSWORD = "four words with spaces"


@contextlib.asynccontextmanager
async def example_bot(
    script: str, settings: dict[str, str], *arguments: str
) -> AsyncIterator[Process]:
    """``examples/<script>`` run as its docstring says, with ``settings`` in its
    environment; killed at the end of the block unless it has exited."""
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",  # as pytest runs the tests: a warning from the library fails them too
        str(EXAMPLES / script),
        *arguments,
        env={**os.environ, **settings, "PYTHONUNBUFFERED": "1"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield bot
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()


def irc_bot(
    port: int | None, password: str, *rooms: str
) -> contextlib.AbstractAsyncContextManager[Process]:
    """examples/ircbot.py against the IRC listener on ``port``."""
    settings = {"BOT_IRC_URL": f"irc://127.0.0.1:{port}", "BOT_PASSWORD": password}
    return example_bot("ircbot.py", settings, "ircbot", *rooms)


async def said(bot: Process) -> str:
    """The bot's next line on standard error."""
    assert bot.stderr is not None
    line = await asyncio.wait_for(bot.stderr.readline(), 15)
    if not line:
        raise EOFError(f"the bot exited with {await bot.wait()}")
    return line.decode().rstrip("\n")


@pytest.mark.timeout(60)
async def test_the_irc_bot_answers_in_a_room_and_in_private(tmp_path: Path) -> None:
    """The bot logs in over IRC with its password, joins #lobby and answers alice:
    in the room and in a direct message, over the WebSocket and over IRC."""
    with_irc = lambda config: replace_config(config, server={"irc_port": 0})  # noqa: E731
    async with running_homer(tmp_path, configure=with_irc) as server, asyncio.timeout(45):
        await server.user("ircbot", password=IRC_BOT_PASSWORD)
        alice = await server.client("alice")
        await alice.create("lobby")
        async with irc_bot(server.irc_port, IRC_BOT_PASSWORD, "lobby") as bot:
            assert await said(bot) == "ircbot is listening in #lobby"

            await alice.send("lobby", "!echo hello there")
            assert (await next_message_from(alice, "ircbot")).body == {"text": "hello there"}
            await alice.send("lobby", "!roll 2d6")
            reply = (await next_message_from(alice, "ircbot")).body["text"]
            rolled = re.fullmatch(r"alice rolled 2d6: ([1-6]) \+ ([1-6]) = (\d+)", reply)
            assert rolled is not None, reply
            assert int(rolled[1]) + int(rolled[2]) == int(rolled[3])
            await alice.send("lobby", "just talking")  # no command: no answer

            direct = (await alice.dm("ircbot"))["id"]
            await alice.send(direct, "!echo between us")
            answered = await next_message_from(alice, "ircbot")
            assert (answered.room, answered.body) == (direct, {"text": "between us"})
            texts = [m.body["text"] for m in await alice.history("lobby") if m.kind == "msg"]
            assert texts == ["!echo hello there", "hello there", "!roll 2d6", reply, "just talking"]

            # alice on IRC, as with irssi: a query to the bot is the same direct message.
            async with registered(server.irc_port, "alice") as irc:
                await irc.send("PRIVMSG ircbot :!echo from IRC")
                # (What alice had not read yet comes first: the replay at registration.)
                private = await irc.expect(
                    lambda m: (
                        m.command == "PRIVMSG"
                        and (m.source or "").startswith("ircbot!")
                        and m.params[-1] == "from IRC"
                    )
                )
                assert private.params == ("alice", "from IRC")
            answered = await next_message_from(alice, "ircbot")
            assert (answered.room, answered.body) == (direct, {"text": "from IRC"})

            bot.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(bot.wait(), 15) == 0


@pytest.mark.timeout(60)
async def test_the_irc_bot_says_why_it_could_not_log_in(tmp_path: Path) -> None:
    """A refused password ends the bot at once, with the server's reason: trying
    again would not help."""
    with_irc = lambda config: replace_config(config, server={"irc_port": 0})  # noqa: E731
    async with running_homer(tmp_path, configure=with_irc) as server, asyncio.timeout(45):
        await server.user("ircbot", password=IRC_BOT_PASSWORD)
        async with irc_bot(server.irc_port, "four words without spaces", "lobby") as bot:
            assert await said(bot) == "ircbot: Password incorrect"
            assert await asyncio.wait_for(bot.wait(), 15) == 1


#: The MQTT bot's password.
MQTT_BOT_PASSWORD = "mqtt-bot-password"


def with_mqtt(config: HomerConfig) -> HomerConfig:
    return replace_config(config, server={"mqtt_port": 0})


def mqtt_bot(
    port: int | None, password: str, *rooms: str
) -> contextlib.AbstractAsyncContextManager[Process]:
    """examples/mqttbot.py against the MQTT listener on ``port``."""
    settings = {"BOT_MQTT_URL": f"mqtt://127.0.0.1:{port}", "BOT_PASSWORD": password}
    return example_bot("mqttbot.py", settings, "mqttbot", *rooms)


@pytest.mark.timeout(60)
async def test_the_mqtt_bot_answers_in_a_room_and_in_a_direct_message(tmp_path: Path) -> None:
    """The bot logs in over MQTT 5 with its password, subscribes to rooms/lobby
    (joining it), rooms/+ and its users/ topic, and answers alice where she asked
    (at QoS 1, which the answers' ``data`` records)."""
    async with running_homer(tmp_path, configure=with_mqtt) as server, asyncio.timeout(45):
        await server.user("mqttbot", password=MQTT_BOT_PASSWORD)
        alice = await server.client("alice")
        await alice.create("lobby")
        async with mqtt_bot(server.mqtt_port, MQTT_BOT_PASSWORD, "lobby") as bot:
            assert await said(bot) == "mqttbot is listening in rooms/lobby"

            await alice.send("lobby", "!echo hello there")
            assert (await next_message_from(alice, "mqttbot")).body["text"] == "hello there"
            await alice.send("lobby", "!roll 2d6")
            reply = (await next_message_from(alice, "mqttbot")).body["text"]
            rolled = re.fullmatch(r"alice rolled 2d6: ([1-6]) \+ ([1-6]) = (\d+)", reply)
            assert rolled is not None, reply
            assert int(rolled[1]) + int(rolled[2]) == int(rolled[3])
            await alice.send("lobby", "just talking")  # no command: no answer

            direct = (await alice.dm("mqttbot"))["id"]
            await alice.send(direct, "!echo between us")
            answered = await next_message_from(alice, "mqttbot")
            assert (answered.room, answered.body["text"]) == (direct, "between us")
            # A room the bot joined later is in rooms/+ too.
            await alice.create("kitchen")
            elsewhere = await server.client("mqttbot")  # the account, from the web client
            await elsewhere.join("kitchen")
            await elsewhere.close()
            await alice.send("kitchen", "!echo in the kitchen")
            answered = await next_message_from(alice, "mqttbot")
            assert (answered.room, answered.body["text"]) == ("kitchen", "in the kitchen")

            texts = [m.body["text"] for m in await alice.history("lobby") if m.kind == "msg"]
            assert texts == ["!echo hello there", "hello there", "!roll 2d6", reply, "just talking"]
            direct_texts = [m.body["text"] for m in await alice.history(direct) if m.kind == "msg"]
            assert direct_texts == ["!echo between us", "between us"]

            bot.send_signal(signal.SIGINT)
            assert await asyncio.wait_for(bot.wait(), 15) == 0


@pytest.mark.timeout(60)
async def test_the_mqtt_bot_says_why_it_could_not_log_in(tmp_path: Path) -> None:
    """A refused login ends the bot at once, saying why: trying again would not help."""
    async with running_homer(tmp_path, configure=with_mqtt) as server, asyncio.timeout(45):
        await server.user("mqttbot", password=MQTT_BOT_PASSWORD)
        async with mqtt_bot(server.mqtt_port, "not the password", "lobby") as bot:
            line = await said(bot)
            assert line == "mqttbot: the server refused the login: bad user name or password"
            assert await asyncio.wait_for(bot.wait(), 15) == 1


#: Per protocol: the port setting, the bot's runner, its name, its password and
#: what it says once it listens.
RESTARTING_BOTS = {
    "irc": ("irc_port", irc_bot, "ircbot", IRC_BOT_PASSWORD, "ircbot is listening in #lobby"),
    "mqtt": (
        "mqtt_port",
        mqtt_bot,
        "mqttbot",
        MQTT_BOT_PASSWORD,
        "mqttbot is listening in rooms/lobby",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", RESTARTING_BOTS)
async def test_a_bot_connects_again_when_the_server_restarts(tmp_path: Path, protocol: str) -> None:
    """The server's shutdown closes the bot's connection; the bot tries again until
    the server is back, and answers as before."""
    setting, run_bot, name, password, listening = RESTARTING_BOTS[protocol]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    on_port = lambda config: replace_config(config, server={setting: port})  # noqa: E731
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(asyncio.timeout(45))
        async with running_homer(tmp_path, configure=on_port) as server:
            await server.user(name, password=password)
            await (await server.client("alice")).create("lobby")
            bot = await stack.enter_async_context(run_bot(port, password, "lobby"))
            assert await said(bot) == listening
        assert (await said(bot)).endswith("; connecting again in 1 s")
        async with running_homer(tmp_path, configure=on_port) as server:
            while (line := await said(bot)) != listening:
                assert "connecting again in" in line, line
            alice = await server.client("alice")
            await alice.send("lobby", "!echo still here")
            assert (await next_message_from(alice, name)).body["text"] == "still here"


async def test_roll_checks_its_parameters_and_permission(tmp_path: Path) -> None:
    dicebot = load("dicebot")
    app = dicebot.build_app(
        HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap()
    )
    async with running_homer(tmp_path, app=app) as server, asyncio.timeout(10):
        alice = await server.client("alice")
        with pytest.raises(ClientError) as caught:  # users may not roll yet
            await alice.request("roll")
        assert caught.value.wire_code == "forbidden"
        await dicebot.let_users_roll(server.app)
        await dicebot.let_users_roll(server.app)  # a second call changes nothing
        result = await alice.request("roll", dice=3, sides=4)
        assert result["user"] == "alice"
        assert len(result["values"]) == 3
        assert all(1 <= v <= 4 for v in result["values"])
        assert result["total"] == sum(result["values"])
        for params in ({"dice": 0}, {"sides": "six"}, {"colour": "red"}):
            with pytest.raises(ClientError) as caught:
                await alice.request("roll", **params)
            assert caught.value.wire_code == "invalid", params


async def test_homer_mounted_in_another_aiohttp_application(tmp_path: Path) -> None:
    """examples/embedded.py: the shop's own routes, and Homer under /chat/ with its
    web client, HTTP API and WebSocket; the shop reaches Homer's services in-process."""
    from aiohttp import web

    shop = await load("embedded").create_app(
        HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap()
    )
    runner = web.AppRunner(shop, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        await the_shop_and_its_chat(base)
    finally:
        await runner.cleanup()


async def the_shop_and_its_chat(base: str) -> None:
    """The shop's own pages, Homer's web client under /chat, and an order the shop
    announces in Homer's ``orders`` room: the same story however Homer is mounted."""
    import aiohttp

    client = HomerClient(f"{base}/chat", name="ann", password="a-long-password")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/") as response:
                assert "The shop" in await response.text()
            async with http.get(f"{base}/chat/") as response:
                assert response.status == 200
                assert "<html" in (await response.text()).lower()
            await client.register("ann", "a-long-password")
            await client.connect()
            assert client.transport is not None
            assert client.transport.name == "websocket"
            await client.join("orders")
            async with http.get(f"{base}/status") as response:
                assert (await response.json())["connections"] == 1
            async with http.post(f"{base}/orders", json={"item": "a teapot"}) as response:
                assert response.status == 201
        announced = await next_message_from(client, "shopbot")
        assert announced.body["text"] == "New order: a teapot"
        texts = [m.body["text"] for m in await client.history("orders") if m.kind == "msg"]
        assert texts == ["New order: a teapot"]
    finally:
        await client.close()


async def test_homer_mounted_in_a_starlette_application(tmp_path: Path) -> None:
    """examples/asgi_app.py served by uvicorn: the shop's own routes, and Homer under
    /chat on the same port, WebSocket included; the shop reaches Homer in-process."""

    shop = load("asgi_app").create_app(
        HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap()
    )
    async with serving(shop) as base:
        await the_shop_and_its_chat(base)


async def test_homer_started_and_stopped_by_an_asgi_lifespan(tmp_path: Path) -> None:
    """examples/asgi_lifespan.py, driven as an ASGI server drives it."""
    import aiohttp

    module = load("asgi_lifespan")
    homer = module.Homer(
        HomerConfig(data_dir=str(tmp_path / "data")), password_params=Argon2Params.cheap()
    )
    asgi = module.WithHomer(homer, host="127.0.0.1", port=0)
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: list[dict[str, object]] = []
    started = asyncio.Event()

    async def send(message: dict[str, object]) -> None:
        outbox.append(message)
        started.set()

    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(asgi({"type": "lifespan"}, inbox.get, send))
    await asyncio.wait_for(started.wait(), 10)
    assert outbox[-1] == {"type": "lifespan.startup.complete"}
    client = HomerClient(asgi.running.url, name="ann", password="a-long-password")
    await client.register("ann", "a-long-password")
    await client.connect()
    await client.create("lobby")
    await asgi({"type": "http"}, inbox.get, send)
    assert outbox[-1]["body"] == b'{"connections": 1}'
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, 10)
    assert outbox[-1] == {"type": "lifespan.shutdown.complete"}
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(f"{asgi.running.url}/healthz"):
            pass
    await client.close()
