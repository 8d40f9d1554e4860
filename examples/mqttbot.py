"""A bot that talks to Homer over MQTT, built on the ``aiomqtt`` library: it
answers ``!echo`` and ``!roll`` in rooms and in direct messages.

    python mqttbot.py NAME [ROOM...]

Connects to the MQTT listener at ``BOT_MQTT_URL`` (default
``mqtt://127.0.0.1:1884``, the port of ``homer serve --mqtt-port 1884``;
``mqtts://HOST:PORT`` for the TLS one) with MQTT 5, logs in as NAME with the
password from ``BOT_PASSWORD`` or a prompt, subscribes to ``rooms/ROOM`` for
each ROOM (default ``lobby``: that joins a public room), to ``rooms/+`` (every
room it is in) and to ``users/NAME`` (its direct messages), and answers:

- ``!echo TEXT`` with TEXT;
- ``!roll`` or ``!roll NdM`` with N dice of M sides, rolled here: MQTT has no
  way to call an operation such as the dice server's ``roll``.

A command said in a room (topic ``rooms/ROOM``) is answered in the room; one
sent in a direct message (topic ``users/NAME``) is answered to its sender
(topic ``users/SENDER``). Homer names the sender of each message in the MQTT 5
user property ``sender``. When the connection drops, as when the server
restarts, the bot connects again, waiting longer each time (what was said
meanwhile goes unanswered); it exits if it never got in, or at once if the
server refuses its login. It needs the library: ``pip install 'homer[mqttbot]'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import random
import re
import ssl
import sys
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

DICE = re.compile(r"^(\d{1,2})d(\d{1,4})$")
#: CONNACK reasons that trying again will not change: the login itself is refused.
REFUSED = {
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
}


def answer(sender: str, text: str) -> str | None:
    """The reply to one message, or ``None`` when there is nothing to say."""
    command, _, rest = text.strip().partition(" ")
    if command == "!echo":
        return rest.strip() or "(nothing to echo)"
    if command == "!roll":
        found = DICE.match(rest.strip() or "1d6")
        if found is None:
            return "usage: !roll NdM, for example !roll 2d6"
        dice, sides = int(found[1]), int(found[2])
        if not (1 <= dice <= 20 and 2 <= sides <= 1000):
            return "cannot roll: 1-20 dice of 2-1000 sides"
        values = [random.randint(1, sides) for _ in range(dice)]
        return f"{sender} rolled {dice}d{sides}: {' + '.join(map(str, values))} = {sum(values)}"
    return None


class LoginRefused(Exception):
    """The server refused the bot's CONNECT for a reason that will not go away."""


def sender_of(message: aiomqtt.Message) -> str | None:
    """The author's name: Homer's user property ``sender`` (MQTT 5)."""
    for name, value in getattr(message.properties, "UserProperty", []):
        if name == "sender":
            return str(value)
    return None


def reply_topic(me: str, topic: str, sender: str) -> str | None:
    """Where to answer a message that came on ``topic``: its room, or its sender."""
    if topic.startswith("rooms/") and topic.count("/") == 1:
        return topic
    if topic.lower() == f"users/{me.lower()}":
        return f"users/{sender}"
    return None


class MqttBot:
    def __init__(self, name: str, password: str, rooms: list[str]) -> None:
        self.name = name
        self.password = password
        self.rooms = rooms
        #: Whether the last connection got in.
        self.connected = False

    async def run(self, url: str) -> None:
        """Connect, subscribe and answer until the connection ends, then raise
        ``aiomqtt.MqttError`` saying why (``LoginRefused`` if the server refused
        the login)."""
        where = urlsplit(url)
        if where.scheme not in ("mqtt", "mqtts") or not where.hostname:
            raise ValueError(f"not an mqtt:// or mqtts:// URL: {url}")
        self.connected = False
        tls = where.scheme == "mqtts"
        client = aiomqtt.Client(
            where.hostname,
            where.port or (8883 if tls else 1884),
            username=self.name,
            password=self.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            # The default TLS context checks the server's certificate; SSL_CERT_FILE
            # names a CA file to trust, for a server with a certificate of its own.
            tls_context=ssl.create_default_context() if tls else None,
        )
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(client)
            except aiomqtt.MqttCodeError as exc:  # a refused CONNECT, with the reason
                code = exc.rc.value if isinstance(exc.rc, ReasonCode) else None
                if code in REFUSED:
                    raise LoginRefused(f"the server refused the login: {REFUSED[code]}") from None
                raise
            self.connected = True
            await self.subscribe(client)
            async for message in client.messages:
                await self.handle(client, message)

    async def subscribe(self, client: aiomqtt.Client) -> None:
        # No local: the bot's own answers do not come back to it in the rooms.
        options = SubscribeOptions(qos=1, noLocal=True)
        filters = [f"rooms/{room}" for room in self.rooms] + ["rooms/+", f"users/{self.name}"]
        granted = await client.subscribe([(topic, options) for topic in filters])
        for topic, code in zip(filters, granted, strict=True):
            if isinstance(code, ReasonCode) and code.is_failure:
                print(f"{self.name} cannot subscribe to {topic}: {code}", file=sys.stderr)
            elif topic.startswith("rooms/") and topic != "rooms/+":
                print(f"{self.name} is listening in {topic}", file=sys.stderr)

    async def handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        sender = sender_of(message)
        if sender is None or sender.lower() == self.name.lower():
            return  # its own direct messages come back on users/NAME
        topic = reply_topic(self.name, message.topic.value, sender)
        reply = answer(sender, message.payload.decode(errors="replace"))
        if topic is not None and reply is not None:
            await client.publish(topic, reply, qos=1)


async def main(name: str, rooms: list[str]) -> None:
    url = os.environ.get("BOT_MQTT_URL", "mqtt://127.0.0.1:1884")
    password = os.environ.get("BOT_PASSWORD") or getpass.getpass(f"password for {name}: ")
    bot, ever, delay = MqttBot(name, password, rooms), False, 1
    while True:
        try:
            await bot.run(url)
        except aiomqtt.MqttError as exc:  # refused, reset, closed, a failed TLS handshake...
            ever = ever or bot.connected
            if not ever:
                raise  # a wrong address: trying again will not help
            delay = 1 if bot.connected else min(2 * delay, 60)
            why = exc.__cause__ or exc  # the library's "Disconnected" names no reason
            print(f"{name}: {why}; connecting again in {delay} s", file=sys.stderr)
            await asyncio.sleep(delay)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(main(sys.argv[1], sys.argv[2:] or ["lobby"]))
        except (aiomqtt.MqttError, LoginRefused, ValueError) as exc:
            sys.exit(f"{sys.argv[1]}: {exc}")
