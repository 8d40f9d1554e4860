"""Real MQTT clients against the listener: paho-mqtt (3.1.1 and 5) in the test's
process, and Debian's mosquitto_pub and mosquitto_sub as subprocesses. They log
in, publish at every QoS and read it back, meet WebSocket users in the same
rooms, keep retained messages and wills, and pick up persistent sessions where
they left them, across a restart of ``homer serve`` too.

paho runs its own network thread: every callback hands its result to the event
loop (``call_soon_threadsafe``), so a test awaits it with a timeout. The
mosquitto tests skip when the binaries are missing: ``scripts/mqtt-clients``
installs them (Debian: ``apt-get install mosquitto-clients``).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from homer.client import HomerClient
from homer.testing.server import PASSWORD, TestServer
from homer.testing.transport_conformance import next_matching, next_message
from tests.server.test_process import free_port, homer_process, make_user, wait_until_listening

#: How long a client may take to answer, on a loaded machine.
WAIT = 10.0
V311, V5 = MQTTProtocolVersion.MQTTv311, MQTTProtocolVersion.MQTTv5
VERSIONS = pytest.mark.parametrize("version", [V311, V5], ids=["3.1.1", "5"])


class Paho:
    """A paho client whose callbacks resolve futures and fill a queue on the event
    loop: ``await`` what the network thread reports, always with a timeout."""

    def __init__(
        self,
        port: int,
        name: str,
        *,
        version: MQTTProtocolVersion,
        password: str = PASSWORD,
        client_id: str = "",
        clean: bool = True,
        session_expiry: int | None = None,
        will: tuple[str, str] | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = port
        self.version = version
        self.clean = clean
        self.session_expiry = session_expiry
        options: dict[str, Any] = {}
        if version != V5:
            options["clean_session"] = clean
        self.client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=version,
            # Acknowledged when the test reads it (message()), from the test's
            # side: so a PUBACK always goes before anything the test sends next.
            manual_ack=True,
            **options,
        )
        self.client.username_pw_set(name, password)
        # A dropped connection stays dropped: the tests reconnect when they mean to.
        self.client.reconnect_delay_set(min_delay=120, max_delay=120)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1)
        self.messages: asyncio.Queue[MQTTMessage] = asyncio.Queue()
        self.connected: asyncio.Future[tuple[ConnectFlags, ReasonCode]] = self.loop.create_future()
        self.disconnected: asyncio.Future[ReasonCode] = self.loop.create_future()
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    # The network thread's callbacks: each hands over to the loop.

    def _soon(self, callback: Any, *args: Any) -> None:
        self.loop.call_soon_threadsafe(callback, *args)

    @staticmethod
    def _resolve(future: asyncio.Future[Any], value: Any) -> None:
        if not future.done():
            future.set_result(value)

    def _on_connect(self, c: Client, u: Any, flags: ConnectFlags, rc: ReasonCode, p: Any) -> None:
        self._soon(self._resolve, self.connected, (flags, rc))

    def _on_disconnect(
        self, c: Client, u: Any, flags: DisconnectFlags, rc: ReasonCode, p: Any
    ) -> None:
        self._soon(self._resolve, self.disconnected, rc)

    def _on_message(self, c: Client, u: Any, message: MQTTMessage) -> None:
        self._soon(self.messages.put_nowait, message)

    def _on_subscribe(self, c: Client, u: Any, mid: int, codes: list[ReasonCode], p: Any) -> None:
        self._soon(self._done, mid, codes)

    def _on_publish(self, c: Client, u: Any, mid: int, rc: ReasonCode, p: Any) -> None:
        self._soon(self._done, mid, rc)

    def _done(self, mid: int, value: Any) -> None:
        future = self.waiting.pop(mid, None)
        if future is not None:
            self._resolve(future, value)

    def _wait_for(self, mid: int) -> asyncio.Future[Any]:
        # Registered on the loop right after paho gave the mid, before any callback
        # for it can run on the loop: call_soon_threadsafe queues behind this.
        future: asyncio.Future[Any] = self.loop.create_future()
        self.waiting[mid] = future
        return future

    # What a test awaits.

    async def connect(self) -> ConnectFlags:
        """Connect and start the network thread; the CONNACK's flags (refused: fails)."""
        flags, rc = await self.connect_answer()
        assert not rc.is_failure, f"refused: {rc}"
        return flags

    async def connect_answer(self) -> tuple[ConnectFlags, ReasonCode]:
        properties = None
        if self.version == V5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if self.session_expiry is not None:
                properties.SessionExpiryInterval = self.session_expiry
            await asyncio.to_thread(
                self.client.connect,
                "127.0.0.1",
                self.port,
                clean_start=self.clean,
                properties=properties,
            )
        else:
            await asyncio.to_thread(self.client.connect, "127.0.0.1", self.port)
        self.client.loop_start()
        return await asyncio.wait_for(asyncio.shield(self.connected), WAIT)

    async def subscribe(self, topic: str, qos: int) -> list[ReasonCode]:
        result, mid = self.client.subscribe(topic, qos)
        assert result == 0, result
        assert mid is not None
        codes: list[ReasonCode] = await asyncio.wait_for(self._wait_for(mid), WAIT)
        return codes

    async def publish(
        self,
        topic: str,
        payload: str,
        qos: int,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> ReasonCode:
        """Publish; once the QoS flow is over, the reason the server gave (v5)."""
        info = self.client.publish(topic, payload, qos, retain, properties)
        assert info.rc == 0, info.rc
        rc: ReasonCode = await asyncio.wait_for(self._wait_for(info.mid), WAIT)
        return rc

    async def message(self) -> MQTTMessage:
        """The next message, acknowledged as its QoS asks."""
        message = await asyncio.wait_for(self.messages.get(), WAIT)
        if message.qos:
            self.client.ack(message.mid, message.qos)
        return message

    async def text(self) -> str:
        return (await self.message()).payload.decode()

    async def texts(self, count: int) -> list[str]:
        return [await self.text() for _ in range(count)]

    async def quiet(self, seconds: float = 0.3) -> None:
        """Nothing more arrives for a while."""
        try:
            message = await asyncio.wait_for(self.messages.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {message.topic}: {message.payload!r}")

    async def cut(self) -> None:
        """Drop the connection without DISCONNECT, as a network failure does."""
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await asyncio.wait_for(asyncio.shield(self.disconnected), WAIT)

    async def disconnect(self) -> None:
        """DISCONNECT, and the network thread stopped."""
        if self.client.is_connected():
            self.client.disconnect()
            await asyncio.wait_for(asyncio.shield(self.disconnected), WAIT)
        await self.stop()

    async def stop(self) -> None:
        await asyncio.wait_for(asyncio.to_thread(self.client.loop_stop), WAIT)


@asynccontextmanager
async def paho(port: int, name: str, **options: Any) -> AsyncIterator[Paho]:
    """A connected paho client, disconnected and stopped at the end of the block."""
    client = Paho(port, name, **options)
    try:
        yield client
    finally:
        try:
            await client.disconnect()
        finally:
            client.client.loop_stop()  # no-op once stopped


async def lobby(server: TestServer, *members: str) -> HomerClient:
    """alice over WebSocket, in a new public room ``lobby`` with ``members``."""
    alice = await server.client("alice")
    await alice.create("lobby")
    for name in members:
        member = await server.client(name)
        await member.join("lobby")
        await member.close()
    return alice


# paho-mqtt, both versions.


@VERSIONS
async def test_paho_publishes_at_every_qos_and_meets_websocket_users(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    alice = await lobby(server, "bob")
    async with paho(port, "bob", version=version) as bob:
        flags = await bob.connect()
        assert not flags.session_present
        codes = await bob.subscribe("rooms/lobby", 2)
        assert [c.value for c in codes] == [2]

        for qos in (0, 1, 2):
            rc = await bob.publish("rooms/lobby", f"at qos {qos}", qos)
            assert not rc.is_failure, rc
            # bob's own message comes back, as MQTT does, at the lower QoS.
            echoed = await bob.message()
            assert (echoed.topic, echoed.payload, echoed.qos) == (
                "rooms/lobby",
                f"at qos {qos}".encode(),
                qos,
            )
            # ... and alice, over WebSocket, sees it from bob.
            seen = await next_message(alice, "lobby", timeout=WAIT)
            assert (seen.sender, seen.body["text"]) == ("bob", f"at qos {qos}")

        # What alice says reaches bob, at the subscription's QoS (as if published at 2).
        await alice.send("lobby", "hello from the web")
        heard = await bob.message()
        assert (heard.topic, heard.payload, heard.qos) == ("rooms/lobby", b"hello from the web", 2)
        if version == V5:
            user = dict(heard.properties.UserProperty)  # type: ignore[union-attr]
            assert user["sender"] == "alice"


@VERSIONS
async def test_paho_retained_message_reaches_a_later_subscriber_until_cleared(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    await lobby(server, "bob", "carol")
    async with paho(port, "bob", version=version) as bob:
        await bob.connect()
        rc = await bob.publish("rooms/lobby", "the heating is on", 1, retain=True)
        assert not rc.is_failure, rc
    async with paho(port, "carol", version=version) as carol:
        await carol.connect()
        await carol.subscribe("rooms/lobby", 1)
        kept = await carol.message()
        assert (kept.payload, kept.retain, kept.qos) == (b"the heating is on", True, 1)
    async with paho(port, "bob", version=version) as bob:
        await bob.connect()
        rc = await bob.publish("rooms/lobby", "", 1, retain=True)
        assert not rc.is_failure, rc
    async with paho(port, "carol", version=version) as carol:
        await carol.connect()
        await carol.subscribe("rooms/lobby", 1)
        await carol.quiet()


@VERSIONS
async def test_paho_will_is_published_when_its_connection_is_cut(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    alice = await lobby(server, "bob", "carol")
    async with (
        paho(port, "carol", version=version) as carol,
        paho(port, "bob", version=version, will=("rooms/lobby", "bob's sensor went away")) as bob,
    ):
        await carol.connect()
        await carol.subscribe("rooms/lobby", 1)
        await bob.connect()
        await bob.cut()
        will = await carol.message()
        assert (will.topic, will.payload) == ("rooms/lobby", b"bob's sensor went away")
        seen = await next_message(alice, "lobby", timeout=WAIT)
        assert (seen.sender, seen.body["text"]) == ("bob", "bob's sensor went away")


@VERSIONS
async def test_paho_will_is_dropped_by_a_disconnect(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    await lobby(server, "bob", "carol")
    async with paho(port, "carol", version=version) as carol:
        await carol.connect()
        await carol.subscribe("rooms/lobby", 1)
        async with paho(port, "bob", version=version, will=("rooms/lobby", "gone")) as bob:
            await bob.connect()
        await carol.quiet()


def persistent(version: MQTTProtocolVersion) -> dict[str, Any]:
    """Options of a session kept after its connection ends, for either version."""
    if version == V5:
        return {"clean": False, "session_expiry": 3600}
    return {"clean": False}


@VERSIONS
async def test_paho_persistent_session_gets_what_it_missed_once_in_order(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    alice = await lobby(server, "bob")
    session = {"version": version, "client_id": "bob-phone", **persistent(version)}
    async with paho(port, "bob", **session) as bob:
        await bob.connect()
        await bob.subscribe("rooms/lobby", 1)
        await alice.send("lobby", "before")
        assert await bob.texts(1) == ["before"]

    missed = [f"while away {n}" for n in range(5)]
    for text in missed:
        await alice.send("lobby", text)

    async with paho(port, "bob", **session) as bob:
        flags = await bob.connect()
        assert flags.session_present
        # No SUBSCRIBE: the session kept it.
        assert await bob.texts(len(missed)) == missed
        await bob.quiet()
        await alice.send("lobby", "live again")
        assert await bob.texts(1) == ["live again"]


async def publish_with_properties(server: TestServer, port: int, qos: int) -> MQTTMessage:
    """bob publishes at QoS 2 with every MQTT 5 property a publisher may give;
    what carol, subscribed at ``qos``, receives."""
    await lobby(server, "bob", "carol")
    async with paho(port, "bob", version=V5) as bob, paho(port, "carol", version=V5) as carol:
        await bob.connect()
        await carol.connect()
        await carol.subscribe("rooms/lobby", qos)
        given = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        given.ContentType = "text/plain"
        given.ResponseTopic = "rooms/lobby"
        given.CorrelationData = b"\x01\x02"
        given.UserProperty = [("room-sensor", "hall")]
        given.MessageExpiryInterval = 3600
        assert not (await bob.publish("rooms/lobby", "21.5 C", 2, properties=given)).is_failure
        return await carol.message()


async def test_paho_v5_properties_go_through_at_the_lower_qos(
    server: TestServer, port: int
) -> None:
    """What an MQTT 5 publisher gives besides the text reaches an MQTT 5
    subscriber, with Homer's sender and seq, at the lower of the two QoS."""
    got = await publish_with_properties(server, port, 1)
    assert (got.payload, got.qos) == (b"21.5 C", 1)
    props: Any = got.properties
    assert props.PayloadFormatIndicator == 1
    assert (props.ContentType, props.ResponseTopic) == ("text/plain", "rooms/lobby")
    assert props.CorrelationData == b"\x01\x02"
    assert 0 < props.MessageExpiryInterval <= 3600
    user = dict(props.UserProperty)
    assert (user["sender"], user["room-sensor"]) == ("bob", "hall")
    assert int(user["seq"]) > 0


async def test_paho_v5_message_expiry_reaches_a_qos_0_subscriber(
    server: TestServer, port: int
) -> None:
    got = await publish_with_properties(server, port, 0)
    assert (got.payload, got.qos) == (b"21.5 C", 0)
    props: Any = got.properties
    assert props.ContentType == "text/plain"
    assert 0 < getattr(props, "MessageExpiryInterval", 0) <= 3600


async def test_paho_shared_subscription_gives_each_message_to_one_member(
    server: TestServer, port: int
) -> None:
    alice = await lobby(server, "bob")
    async with (
        paho(port, "bob", version=V5) as first,
        paho(port, "bob", version=V5) as second,
    ):
        # What either member gets, in one queue (at QoS 0: nothing to acknowledge
        # on the connection it came by).
        second.messages = first.messages
        for member in (first, second):
            await member.connect()
            codes = await member.subscribe("$share/meters/rooms/lobby", 0)
            assert [c.value for c in codes] == [0]
        sent = [f"reading {n}" for n in range(6)]
        for text in sent:
            await alice.send("lobby", text)
        got = await first.texts(len(sent))
        assert sorted(got) == sorted(sent)  # each once, to one member or the other
        await first.quiet()


@VERSIONS
async def test_paho_persistent_session_that_was_handed_nothing_yet_gets_what_it_missed(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    """As mosquitto_sub -c does: subscribe, leave before anything is said, come back."""
    alice = await lobby(server, "bob")
    session = {"version": version, "client_id": "bob-tablet", **persistent(version)}
    async with paho(port, "bob", **session) as bob:
        await bob.connect()
        await bob.subscribe("rooms/lobby", 1)
    await alice.send("lobby", "while away")

    async with paho(port, "bob", **session) as bob:
        assert (await bob.connect()).session_present
        await alice.send("lobby", "live again")  # ends the catch-up, which comes first
        got = [await bob.text()]
        while got[-1] != "live again":
            got.append(await bob.text())
        assert got == ["while away", "live again"]


async def test_paho_v5_session_with_expiry_zero_ends_with_its_connection(
    server: TestServer, port: int
) -> None:
    alice = await lobby(server, "bob")
    session = {"version": V5, "client_id": "bob-watch", "clean": False, "session_expiry": 0}
    async with paho(port, "bob", **session) as bob:
        assert not (await bob.connect()).session_present
        await bob.subscribe("rooms/lobby", 1)
    await alice.send("lobby", "while away")
    async with paho(port, "bob", **session) as bob:
        assert not (await bob.connect()).session_present
        await bob.quiet()


@VERSIONS
async def test_paho_second_connection_takes_the_session_over(
    server: TestServer, port: int, version: MQTTProtocolVersion
) -> None:
    alice = await lobby(server, "bob")
    session = {"version": version, "client_id": "bob-car", **persistent(version)}
    async with paho(port, "bob", **session) as first, paho(port, "bob", **session) as second:
        await first.connect()
        await first.subscribe("rooms/lobby", 1)
        assert (await second.connect()).session_present
        closed = await asyncio.wait_for(asyncio.shield(first.disconnected), WAIT)
        if version == V5:
            assert closed.value == 0x8E  # session taken over
        await alice.send("lobby", "to the new connection")
        assert await second.texts(1) == ["to the new connection"]
        await first.quiet()


async def test_paho_v5_direct_messages_on_users_topics(server: TestServer, port: int) -> None:
    """users/bob brings bob's direct messages, with the sender; publishing to
    users/alice sends her one; someone else's users/ topic is refused."""
    alice = await server.client("alice")
    direct = (await alice.dm("bob"))["id"]
    async with paho(port, "bob", version=V5) as bob:
        await bob.connect()
        codes = await bob.subscribe("users/bob", 1)
        assert [c.value for c in codes] == [1]
        await alice.send(direct, "psst")
        got = await bob.message()
        assert (got.topic, got.payload) == ("users/bob", b"psst")
        assert ("sender", "alice") in got.properties.UserProperty  # type: ignore[union-attr]

        assert not (await bob.publish("users/alice", "hello alice", 1)).is_failure
        seen = await next_matching(
            alice, lambda e: e.kind == "msg" and e.room == direct and e.sender == "bob", WAIT
        )
        assert seen.body["text"] == "hello alice"
        # Both ways: bob's own direct message comes back on users/bob.
        echoed = await bob.message()
        assert (echoed.topic, echoed.payload) == ("users/bob", b"hello alice")

        codes = await bob.subscribe("users/alice", 1)
        assert [c.value for c in codes] == [0x87]  # not authorized


# paho across a restart of `homer serve`.


@pytest.mark.timeout(90)
async def test_paho_persistent_session_survives_a_server_restart(tmp_path: Path) -> None:
    """bob's session (3.1.1, clean session off, QoS 1) is kept in the store: what
    alice says while he is away, before and after the server restarts, comes to
    him once, in order, when he is back."""
    alice_token = make_user(tmp_path, "alice")
    make_user(tmp_path, "bob")
    port, mqtt_port = free_port(), free_port()
    options = ("--mqtt-port", str(mqtt_port))
    session = {"version": V311, "client_id": "bob-meter", "clean": False}
    url = f"http://127.0.0.1:{port}"

    async with homer_process(tmp_path, port, *options) as process:
        await wait_until_listening(process, mqtt_port)
        alice = HomerClient(url, token=alice_token, reconnect=False)
        await alice.connect()
        try:
            await alice.create("lobby")
            async with paho(mqtt_port, "bob", password="a-good-password", **session) as bob:
                assert not (await bob.connect()).session_present
                await bob.subscribe("rooms/lobby", 1)
                await alice.send("lobby", "seen live")
                assert await bob.texts(1) == ["seen live"]
            await alice.send("lobby", "missed before the restart")
        finally:
            await alice.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0

    async with homer_process(tmp_path, port, *options) as process:
        await wait_until_listening(process, mqtt_port)
        alice = HomerClient(url, token=alice_token, reconnect=False)
        await alice.connect()
        try:
            await alice.send("lobby", "missed after the restart")
            async with paho(mqtt_port, "bob", password="a-good-password", **session) as bob:
                assert (await bob.connect()).session_present
                # A live message after the catch-up: what comes before it is the
                # catch-up, whole, with nothing twice.
                await alice.send("lobby", "live again")
                got = [await bob.text()]
                while got[-1] != "live again":
                    got.append(await bob.text())
                assert got == [
                    "missed before the restart",
                    "missed after the restart",
                    "live again",
                ]
                await bob.quiet()
        finally:
            await alice.close()


# mosquitto_pub and mosquitto_sub.

MOSQUITTO_VERSIONS = pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])


@pytest.fixture
def mosquitto() -> None:
    for binary in ("mosquitto_pub", "mosquitto_sub"):
        if shutil.which(binary) is None:
            pytest.skip(
                f"no {binary} here: scripts/mqtt-clients installs it "
                "(Debian: apt-get install mosquitto-clients)"
            )
    if shutil.which("stdbuf") is None:
        pytest.skip("no stdbuf here (Debian: coreutils), to read mosquitto_sub as it goes")


def login(port: int, name: str, version: str, password: str = PASSWORD) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(port), "-u", name, "-P", password, "-V", version]


async def run(*command: str) -> tuple[int, str, str]:
    """Run a mosquitto client to its end: its exit status, output and errors."""
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 2 * WAIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@asynccontextmanager
async def subscribed(*command: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """mosquitto_sub ``command`` (with ``-d``: it says when its SUBACK came; its
    output line-buffered, so that it says so at once), once it is subscribed;
    killed at the end of the block unless it has exited."""
    process = await asyncio.create_subprocess_exec(
        "stdbuf",
        "-oL",
        "mosquitto_sub",
        "-d",
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT):
            while b"received SUBACK" not in (line := await process.stdout.readline()):
                assert line, f"mosquitto_sub exited with {await process.wait()}"
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.usefixtures("mosquitto")
@pytest.mark.parametrize(
    ("version", "qos"), [("mqttv311", 1), ("mqttv311", 2), ("mqttv5", 1), ("mqttv5", 2)]
)
async def test_mosquitto_pub_reaches_a_websocket_user_and_mosquitto_sub(
    server: TestServer, port: int, version: str, qos: int
) -> None:
    alice = await lobby(server, "bob", "carol")
    listen = [*login(port, "carol", version), "-t", "rooms/lobby", "-q", str(qos), "-v"]
    async with subscribed(*listen, "-C", "1", "-W", str(int(WAIT))) as carol:
        said = await run(
            "mosquitto_pub",
            *login(port, "bob", version),
            *("-t", "rooms/lobby", "-q", str(qos), "-m", "hello from a shell"),
        )
        assert said == (0, "", "")
        seen = await next_message(alice, "lobby", timeout=WAIT)
        assert (seen.sender, seen.body["text"]) == ("bob", "hello from a shell")
        out, _ = await asyncio.wait_for(carol.communicate(), WAIT)
        assert carol.returncode == 0
        debug = ("Client ", "Subscribed ")
        printed = [line for line in out.decode().splitlines() if not line.startswith(debug)]
        assert printed == ["rooms/lobby hello from a shell"]


@pytest.mark.usefixtures("mosquitto")
@MOSQUITTO_VERSIONS
async def test_mosquitto_sub_receives_the_retained_message_until_it_is_cleared(
    server: TestServer, port: int, version: str
) -> None:
    alice = await lobby(server, "bob", "carol")
    publish = ["mosquitto_pub", *login(port, "bob", version), "-t", "rooms/lobby", "-q", "1"]
    assert await run(*publish, "-r", "-m", "the door is open") == (0, "", "")
    # Stored as a message of the room too.
    seen = await next_message(alice, "lobby", timeout=WAIT)
    assert seen.body["text"] == "the door is open"

    listen = ["mosquitto_sub", *login(port, "carol", version), "-t", "rooms/lobby", "-q", "1"]
    got = await run(*listen, "-C", "1", "-W", str(int(WAIT)), "-F", "%r %q %p")
    assert got == (0, "1 1 the door is open\n", "")

    # An empty retained message clears it: a new subscriber gets nothing.
    assert await run(*publish, "-r", "-n") == (0, "", "")
    status, out, _ = await run(*listen, "-C", "1", "-W", "1")
    assert (status, out) == (27, "")  # timed out, having received nothing


@pytest.mark.usefixtures("mosquitto")
async def test_mosquitto_pub_says_why_a_publish_was_refused(server: TestServer, port: int) -> None:
    """bob may not post in carol's private room. MQTT 5 says so in the PUBACK or
    PUBREC, which mosquitto_pub prints (exiting 0); MQTT 3.1.1 has no way to
    refuse, so the server closes the connection, and mosquitto_pub fails."""
    carol = await server.client("carol")
    await carol.create("secret", kind="private")
    for qos in ("1", "2"):
        topic = ["-t", "rooms/secret", "-q", qos, "-m", "let me in"]
        status, _, err = await run("mosquitto_pub", *login(port, "bob", "mqttv5"), *topic)
        assert (status, err.splitlines()[0]) == (0, "Warning: Publish 1 failed: Not authorized.")
        status, _, err = await run("mosquitto_pub", *login(port, "bob", "mqttv311"), *topic)
        assert (status, err) == (7, "Error: The connection was lost.\n")
    assert [m for m in await carol.history("secret") if m.kind == "msg"] == []


@pytest.mark.usefixtures("mosquitto")
@MOSQUITTO_VERSIONS
async def test_mosquitto_pub_with_a_wrong_password_is_refused(
    server: TestServer, port: int, version: str
) -> None:
    topic = ["-t", "rooms/lobby", "-m", "hello"]
    status, _, err = await run("mosquitto_pub", *login(port, "bob", version, "wrong"), *topic)
    assert status != 0
    assert "bad user name or password" in err.splitlines()[0].lower(), err
