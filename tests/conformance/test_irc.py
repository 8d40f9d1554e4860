"""One room, every protocol: an IRC client, a WebSocket client and a raw TCP client
in one room. Each message reaches every other client once and in the room's order,
and the room's rules refuse the same things whatever carried the request."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from homer.client import ClientError, HomerClient
from homer.config import HomerConfig
from homer.protocol.envelope import Envelope
from homer.protocol.irc import IrcMessage
from homer.testing.server import PASSWORD, TestServer, replace_config, running_homer
from homer.testing.transport_conformance import quick_presence
from tests.irc.lines import IrcClient, registered
from tests.server.test_tls import make_certificate

PER_CLIENT = 20


def configure(config: HomerConfig) -> HomerConfig:
    return quick_presence(replace_config(config, server={"irc_port": 0, "tcp_port": 0}))


async def _clients(server: TestServer) -> tuple[HomerClient, HomerClient]:
    running = server.running
    web = await server.client("webby")
    token = await server.token("tcpy")
    tcp = HomerClient(f"tcp://{running.host}:{running.tcp_port}", token=token, http_url=running.url)
    server.clients.append(tcp)
    await tcp.connect()
    return web, tcp


async def _irc_said(irc: IrcClient, count: int) -> list[tuple[int, str, str]]:
    said: list[tuple[int, str, str]] = []
    while len(said) < count:
        line = await irc.expect("PRIVMSG")
        seq = int((line.tags or {})["msgid"].rpartition(":")[2])
        said.append((seq, (line.source or "").split("!")[0], line.params[1]))
    return said


async def _homer_said(client: HomerClient, count: int) -> list[tuple[int, str, str]]:
    said: list[tuple[int, str, str]] = []
    while len(said) < count:
        event: Envelope = await client.next_event("msg")
        if event.kind == "msg":
            said.append((event.seq or 0, event.sender or "", event.body["text"]))
    return said


async def test_every_message_reaches_every_other_client_once_in_order(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=configure) as server:
        await server.user("irky")
        web, tcp = await _clients(server)
        await web.create("mixed")
        await tcp.join("mixed")
        assert server.irc_port is not None
        async with registered(server.irc_port, "irky", caps="message-tags") as irc:
            await irc.join("#mixed")

            async def irc_sends() -> None:
                await irc.send(*[f"PRIVMSG #mixed :irc {n}" for n in range(PER_CLIENT)])

            async def homer_sends(client: HomerClient, who: str) -> None:
                for n in range(PER_CLIENT):
                    await client.send("mixed", f"{who} {n}")

            heard = asyncio.gather(
                _irc_said(irc, 2 * PER_CLIENT),
                _homer_said(web, 3 * PER_CLIENT),
                _homer_said(tcp, 3 * PER_CLIENT),
            )
            await asyncio.gather(irc_sends(), homer_sends(web, "web"), homer_sends(tcp, "tcp"))
            by_irc, by_web, by_tcp = await asyncio.wait_for(heard, 30)

        # The room's one order, as the clients that see everything saw it.
        assert by_web == by_tcp
        seqs = [seq for seq, _, _ in by_web]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        # The IRC client sees the others' messages, once each, in the same order.
        assert by_irc == [entry for entry in by_web if entry[1] != "irky"]
        # Each sender's messages keep the order they were sent in.
        for who, name in (("irc", "irky"), ("web", "webby"), ("tcp", "tcpy")):
            texts = [text for _, sender, text in by_web if sender == name]
            assert texts == [f"{who} {n}" for n in range(PER_CLIENT)]


async def _refused(client: HomerClient, op: str, **params: object) -> str:
    try:
        await client.request(op, **params)
    except ClientError as exc:
        return exc.wire_code
    raise AssertionError(f"{op} {params} was not refused")


async def _ruled(server: TestServer, other: str) -> None:
    """A private room, an announce room and a room that bans ``webby``, ``tcpy``
    and ``other``; the WebSocket and raw TCP clients refused by each."""
    await server.user(other)
    web, tcp = await _clients(server)
    owner = await server.client("owner", group="admins")
    await owner.create("hidden", kind="private")
    await owner.create("news", kind="announce")
    await owner.create("banning")
    for room in ("news", "banning"):
        await web.join(room)
        await tcp.join(room)
    for name in ("webby", "tcpy", other):
        await owner.request("ban", room="banning", user=name)
    for client in (web, tcp):
        assert await _refused(client, "join", room="hidden") == "not_found"
        assert await _refused(client, "join", room="banning") == "forbidden"
        assert await _refused(client, "send", room="news", cid="x", text="hi") == "forbidden"


async def test_the_same_rules_whatever_the_protocol(tmp_path: Path) -> None:
    async with running_homer(tmp_path, configure=configure) as server:
        await _ruled(server, "irky")
        assert server.irc_port is not None
        async with registered(server.irc_port, "irky") as irc:
            await irc.send("JOIN #hidden")
            await irc.expect(lambda m: m.command == "403" and "#hidden" in m.params)
            await irc.send("JOIN #banning")
            await irc.expect(lambda m: m.command == "474" and "#banning" in m.params)
            await irc.join("#news")
            await irc.send("PRIVMSG #news :hi")
            cannot: IrcMessage = await irc.expect("404")
            assert cannot.params[1] == "#news"


async def test_ircs_speaks_tls_with_the_servers_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)

    def over_tls(config: HomerConfig) -> HomerConfig:
        return replace_config(
            config,
            server={"ircs_port": 0, "irc_port": 0, "tls_cert": str(cert), "tls_key": str(key)},
        )

    trusting = ssl.create_default_context(cafile=str(cert))
    async with running_homer(tmp_path / "data", configure=over_tls) as server:
        await server.user("irky")
        port = server.running.ircs_port
        assert port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trusting)
        client = IrcClient(reader, writer)
        try:
            await client.send(f"PASS :{PASSWORD}", "NICK irky", "USER i 0 * :I")
            welcome = await client.expect("001")
            assert welcome.params[0] == "irky"
        finally:
            await client.close()
