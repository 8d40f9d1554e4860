"""A bot that talks to Homer over IRC, built on the ``irc`` library: it answers
``!echo`` and ``!roll`` in rooms and in direct messages.

    python ircbot.py NAME [ROOM...]

Connects to the IRC listener at ``BOT_IRC_URL`` (default ``irc://127.0.0.1:6667``,
the port of ``homer serve --irc-port 6667``; ``ircs://HOST:PORT`` for the TLS
one), logs in as NAME with the password from ``BOT_PASSWORD`` or a prompt (sent
with ``PASS``, as any IRC client does), joins ``#ROOM`` for each ROOM (default
``lobby``; Homer creates a missing room when NAME may create rooms) and answers:

- ``!echo TEXT`` with TEXT;
- ``!roll`` or ``!roll NdM`` with N dice of M sides, rolled here: IRC has no
  way to call an operation such as the dice server's ``roll``.

A command said in a room is answered in the room; one sent privately (a direct
message in Homer) is answered privately. When the connection drops, as when
the server restarts, the bot connects again, waiting longer each time (what was
said meanwhile goes unanswered); it exits if it never got in, or if the server
refuses its password. It needs the library: ``pip install 'homer[ircbot]'``.
Nothing in it is peculiar to Homer: it runs on any IRC server.
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

import irc.client
import irc.client_aio
import irc.connection

DICE = re.compile(r"^(\d{1,2})d(\d{1,4})$")
#: The longest reply, in bytes: an IRC line, command and target included, is 512.
LONGEST = 400


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


def fit(text: str) -> str:
    """``text`` cut to :data:`LONGEST` bytes: the library refuses a longer line."""
    encoded = text.encode()
    if len(encoded) <= LONGEST:
        return text
    return encoded[: LONGEST - 3].decode(errors="ignore") + "..."


class Connection(irc.client_aio.AioConnection):
    def pass_(self, password: str) -> None:
        """``PASS`` with the password as the trailing parameter: the library sends it
        bare, which cuts a password with a space in it at the space."""
        self.send_raw(f"PASS :{password}")


class Reactor(irc.client_aio.AioReactor):
    connection_class = Connection


class IrcBot:
    """One connection; the library calls the ``on_*`` methods as lines arrive."""

    def __init__(self, name: str, password: str, rooms: list[str]) -> None:
        self.name = name
        self.password = password
        self.channels = ["#" + room.removeprefix("#") for room in rooms]
        #: Why the server refused the bot or closed the connection, when it said.
        self.problem = ""
        #: Whether the server welcomed the bot on the last connection.
        self.welcomed = False
        #: Whether the server refused the password (464): trying again will not help.
        self.refused = False

    async def run(self, url: str) -> None:
        """Connect, join and answer until the connection ends, then raise
        ``ConnectionError`` saying why (an ``OSError`` if it could not connect).
        Cancelled, it quits first."""
        where = urlsplit(url)
        if where.scheme not in ("irc", "ircs") or not where.hostname:
            raise ValueError(f"not an irc:// or ircs:// URL: {url}")
        self.problem, self.welcomed = "", False
        tls = where.scheme == "ircs"
        # The default TLS context checks the server's certificate; SSL_CERT_FILE
        # names a CA file to trust, for a server with a certificate of its own.
        factory = irc.connection.AioFactory(
            **({"ssl": ssl.create_default_context()} if tls else {})
        )
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        connection = Reactor(loop=loop).server()
        for event, handler in (
            ("welcome", self.on_welcome),
            ("join", self.on_join),
            ("pubmsg", self.on_pubmsg),
            ("privmsg", self.on_privmsg),
            ("passwdmismatch", self.on_refused),  # 464: a wrong password, or none
            ("error", self.on_error),  # ERROR: the server closes the connection
            ("nosuchchannel", self.on_cannot_join),  # 403
            ("inviteonlychan", self.on_cannot_join),  # 473
            ("bannedfromchan", self.on_cannot_join),  # 474
            ("disconnect", lambda c, e: ended.done() or ended.set_result(None)),
        ):
            connection.add_global_handler(event, handler)
        port = where.port or (6697 if tls else 6667)
        await connection.connect(
            where.hostname, port, self.name, password=self.password, connect_factory=factory
        )
        try:
            await ended
        finally:
            connection.disconnect("bye")  # does nothing once disconnected
        raise ConnectionError(self.problem or "the server closed the connection")

    def on_welcome(self, connection: Connection, event: irc.client.Event) -> None:
        self.welcomed = True
        for channel in self.channels:
            connection.join(channel)

    def on_join(self, connection: Connection, event: irc.client.Event) -> None:
        if event.source.nick == connection.get_nickname():
            print(f"{self.name} is listening in {event.target}", file=sys.stderr)

    def on_pubmsg(self, connection: Connection, event: irc.client.Event) -> None:
        reply = answer(event.source.nick, event.arguments[0])
        if reply is not None:
            connection.privmsg(event.target, fit(reply))

    def on_privmsg(self, connection: Connection, event: irc.client.Event) -> None:
        reply = answer(event.source.nick, event.arguments[0])
        if reply is not None:
            connection.privmsg(event.source.nick, fit(reply))

    def on_refused(self, connection: Connection, event: irc.client.Event) -> None:
        self.refused = True
        self.problem = event.arguments[-1]

    def on_error(self, connection: Connection, event: irc.client.Event) -> None:
        self.problem = self.problem or str(event.target)

    def on_cannot_join(self, connection: Connection, event: irc.client.Event) -> None:
        channel, reason = event.arguments[0], event.arguments[-1]
        print(f"{self.name} cannot join {channel}: {reason}", file=sys.stderr)


async def main(name: str, rooms: list[str]) -> None:
    url = os.environ.get("BOT_IRC_URL", "irc://127.0.0.1:6667")
    password = os.environ.get("BOT_PASSWORD") or getpass.getpass(f"password for {name}: ")
    bot, ever, delay = IrcBot(name, password, rooms), False, 1
    while True:
        try:
            await bot.run(url)
        except OSError as exc:  # refused, reset, closed, a failed TLS handshake...
            ever = ever or bot.welcomed
            if not ever or bot.refused:
                raise  # a wrong address or password: trying again will not help
            delay = 1 if bot.welcomed else min(2 * delay, 60)
            print(f"{name}: {exc}; connecting again in {delay} s", file=sys.stderr)
            await asyncio.sleep(delay)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(main(sys.argv[1], sys.argv[2:] or ["lobby"]))
        except (OSError, ValueError) as exc:  # no way in, or a wrong BOT_IRC_URL
            sys.exit(f"{sys.argv[1]}: {exc}")
