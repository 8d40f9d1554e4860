"""Registering an IRC connection: capability negotiation, ``PASS`` or SASL PLAIN,
then the welcome and the user's rooms as joined channels."""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import TYPE_CHECKING, Any, Final, cast

from homer import __version__
from homer.core.session import CloseCode
from homer.errors import HomerError, NotFound, RateLimited
from homer.identity.schema import validate_name
from homer.protocol.irc import IrcMessage
from homer.store.records import name_key
from homer.transports.framed import StreamFormat
from homer.transports.irc_commands import (
    MONITOR_LIMIT,
    MULTILINE_BYTES,
    MULTILINE_LINES,
    command,
    enough,
)
from homer.transports.irc_history import play_back
from homer.transports.irc_lines import hostmask
from homer.transports.native import log_in

if TYPE_CHECKING:
    from homer.transports.irc import IrcPeer

__all__ = ["CAPABILITIES"]

#: What ``CAP LS`` offers, with the values of those that have one.
CAPABILITIES: Final[dict[str, str]] = {
    "account-tag": "",
    "away-notify": "",
    "batch": "",
    "cap-notify": "",
    "draft/chathistory": "",
    "draft/message-redaction": "",
    "draft/multiline": f"max-bytes={MULTILINE_BYTES},max-lines={MULTILINE_LINES}",
    "draft/read-marker": "",
    "echo-message": "",
    "extended-join": "",
    "invite-notify": "",
    "labeled-response": "",
    "message-tags": "",
    "multi-prefix": "",
    "sasl": "PLAIN",
    "server-time": "",
    "setname": "",
    "userhost-in-names": "",
}

# registration


@command("CAP")
async def cap(peer: IrcPeer, message: IrcMessage) -> None:
    sub = message.param(0).upper()
    if sub == "LS":
        if not peer.registered:
            peer.negotiating = True
        listed = " ".join(
            f"{name}={value}" if value and message.param(1) >= "302" else name
            for name, value in CAPABILITIES.items()
        )
        peer.line("CAP", peer.nick, "LS", listed, source=peer.irc.name)
    elif sub == "LIST":
        peer.line("CAP", peer.nick, "LIST", " ".join(sorted(peer.caps)), source=peer.irc.name)
    elif sub == "REQ":
        if not peer.registered:
            peer.negotiating = True
        asked = message.param(1).split()
        adding = {name for name in asked if not name.startswith("-")}
        removing = {name[1:] for name in asked if name.startswith("-")}
        if asked and (adding | removing) <= CAPABILITIES.keys() and not (removing & {"cap-notify"}):
            peer.caps |= adding
            peer.caps -= removing
            peer.fmt = cast(StreamFormat, peer.irc.format(peer.caps))
            peer.line("CAP", peer.nick, "ACK", message.param(1), source=peer.irc.name)
        else:
            peer.line("CAP", peer.nick, "NAK", message.param(1), source=peer.irc.name)
    elif sub == "END":
        if not peer.registered:
            peer.negotiating = False
            await _try_register(peer)
    else:
        peer.numeric("410", sub or "*", "Invalid CAP command")


@command("PASS")
async def pass_(peer: IrcPeer, message: IrcMessage) -> None:
    if peer.registered:
        peer.numeric("462", "You may not reregister")
    elif enough(peer, message, 1):
        peer.password = message.params[0]


@command("NICK")
async def nick(peer: IrcPeer, message: IrcMessage) -> None:
    if not message.params or not message.params[0]:
        peer.numeric("431", "No nickname given")
        return
    wanted = message.params[0]
    if peer.registered:
        if wanted != peer.nick:
            peer.numeric("432", wanted, "Your nick is your account's name")
        return
    if wanted.startswith(("#", ":", "$")) or any(c in wanted for c in ",*?!@ "):
        peer.numeric("432", wanted, "Erroneous nickname")
        return
    peer.nick = wanted
    await _try_register(peer)


@command("USER")
async def user(peer: IrcPeer, message: IrcMessage) -> None:
    if peer.registered:
        peer.numeric("462", "You may not reregister")
        return
    if not enough(peer, message, 4):
        return
    peer.username, peer.realname = message.params[0], message.params[3]
    await _try_register(peer)


@command("AUTHENTICATE")
async def authenticate(peer: IrcPeer, message: IrcMessage) -> None:
    if peer.registered or peer.account is not None:
        peer.numeric("907", "You have already authenticated using SASL")
        return
    if "sasl" not in peer.caps:
        peer.numeric("904", "SASL authentication failed")
        return
    value = message.param(0)
    if peer.sasl is None:
        if value.upper() != "PLAIN":
            peer.numeric("908", "PLAIN", "are available SASL mechanisms")
            peer.numeric("904", "SASL authentication failed")
            return
        peer.sasl, peer.sasl_buffer = "PLAIN", ""
        peer.line("AUTHENTICATE", "+")
        return
    if value == "*":
        peer.sasl = None
        peer.numeric("906", "SASL authentication aborted")
        return
    if value != "+":
        peer.sasl_buffer += value
        if len(peer.sasl_buffer) > 1600:
            peer.sasl = None
            peer.numeric("905", "SASL message too long")
            return
        if len(value) == 400:  # more to come
            return
    peer.sasl = None
    try:
        fields = base64.b64decode(peer.sasl_buffer, validate=True).decode().split("\0")
    except (binascii.Error, UnicodeDecodeError):
        fields = []
    if len(fields) != 3 or not fields[1]:
        peer.numeric("904", "SASL authentication failed")
        return
    try:
        peer.account = await log_in(peer, fields[1], fields[2])
    except RateLimited as exc:
        peer.numeric(
            "904", f"SASL authentication failed: too many attempts, wait {exc.retry_after:.0f} s"
        )
        return
    except HomerError:
        peer.numeric("904", "SASL authentication failed")
        return
    account_name = peer.account[0].name
    peer.numeric(
        "900",
        hostmask(peer.nick, peer.irc.name),
        account_name,
        f"You are now logged in as {account_name}",
    )
    peer.numeric("903", "SASL authentication successful")


async def _try_register(peer: IrcPeer) -> None:
    if peer.registered or peer.negotiating or peer.nick == "*" or not peer.username:
        return
    if peer.sasl is not None:
        return
    account = peer.account
    if account is None:
        if peer.password is None and peer.app.identity.tokens.guest:
            await _register_guest(peer)
            return
        if peer.password is None:
            peer.numeric("464", "Password required: PASS or SASL with your account")
            peer.close(CloseCode.UNAUTHENTICATED, "Password required")
            return
        try:
            account = await log_in(peer, peer.nick, peer.password)
        except RateLimited:
            peer.numeric("464", "Password incorrect")
            peer.close(CloseCode.UNAUTHENTICATED, "too many login attempts: wait and try again")
            return
        except HomerError:
            peer.numeric("464", "Password incorrect")
            peer.close(CloseCode.UNAUTHENTICATED, "Bad password")
            return
    _, token = account
    try:
        welcome = await peer.op("hello", token=token, client="irc")
    except HomerError as exc:
        peer.numeric("464", exc.message)
        peer.close(CloseCode.UNAUTHENTICATED, exc.message)
        return
    await _welcome(peer, welcome)


async def _register_guest(peer: IrcPeer) -> None:
    """Guest mode (``tokens.guest``): a nick that is no account's registers without
    a password, as on public networks, and may look around but not talk (Homer's
    guests cannot chat). A nick of an account, or of a guest here, gets ``433``."""
    nick = peer.nick
    try:
        validate_name(nick, "nick")
    except HomerError:
        peer.numeric("432", nick, "Erroneous nickname")
        return
    key = name_key(nick)
    taken = key in peer.irc.guests
    if not taken:
        try:
            await peer.app.identity.accounts.get(nick)
            taken = True
        except NotFound:
            pass
    if taken:
        peer.numeric("433", nick, "Nickname is already in use (log in to use an account)")
        return
    peer.irc.guests.add(key)
    peer.guest = True
    peer.lifecycle.opened(expires_at=None)
    _greet(peer, nick)
    peer.line(
        "NOTICE",
        nick,
        "You are a guest: log in with an account (PASS or SASL) to join channels and talk",
        source=peer.irc.name,
    )
    peer.release_held()


def _greet(peer: IrcPeer, name: str) -> None:
    """The welcome numerics and the message of the day."""
    irc = peer.irc
    if name != peer.nick:
        peer.line("NICK", name, source=peer.me)
        peer.nick = name
    peer.registered = True
    peer.account = None
    limits = peer.app.config.limits
    peer.numeric("001", f"Welcome to the {irc.network} IRC network, {name}")
    peer.numeric("002", f"Your host is {irc.name}, running Homer {__version__}")
    peer.numeric("003", f"This server was created {irc.created}")
    peer.numeric("004", irc.name, f"homer-{__version__}", "iB", "bimnost", "bo")
    supported = [
        "AWAYLEN=200",
        "BOT=B",
        "CASEMAPPING=ascii",
        f"CHANLIMIT=#:{limits.max_rooms_per_user}",
        "CHANMODES=b,,,imnst",
        "CHANNELLEN=65",
        "CHANTYPES=#",
        f"CHATHISTORY={limits.history_limit}",
        "MSGREFTYPES=msgid,timestamp",
        f"MONITOR={MONITOR_LIMIT}",
        f"NETWORK={irc.network}",
        "NICKLEN=64",
        "PREFIX=(o)@",
    ]
    more = [
        "TARGMAX=PRIVMSG:1,NOTICE:1,TAGMSG:1,JOIN:,PART:,NAMES:1,WHOIS:1",
        "TOPICLEN=500",
        "UTF8ONLY",
    ]
    peer.numeric("005", *supported, "are supported by this server")
    peer.numeric("005", *more, "are supported by this server")
    _motd(peer)


async def _welcome(peer: IrcPeer, welcome: dict[str, Any]) -> None:
    _greet(peer, welcome["user"]["name"])
    replay = "draft/chathistory" not in peer.caps
    for info in welcome["rooms"]:  # each room whole: JOIN, topic, names, what was missed
        room, read = str(info["id"]), int(info.get("read") or 0)
        peer.read_at[room] = read
        if peer.show_joined(info):
            await peer.after_join(room, read)
        if replay:
            with contextlib.suppress(HomerError):
                await play_back(peer, info)
    peer.release_held()
    peer.keep_token()


def _motd(peer: IrcPeer) -> None:
    motd = peer.irc.motd
    if not motd:
        peer.numeric("422", "MOTD File is missing")
        return
    peer.numeric("375", f"- {peer.irc.name} Message of the day -")
    for text in motd.splitlines():
        peer.numeric("372", f"- {text}")
    peer.numeric("376", "End of /MOTD command")


@command("PING")
async def ping(peer: IrcPeer, message: IrcMessage) -> None:
    if enough(peer, message, 1):
        peer.line("PONG", peer.irc.name, message.params[0], source=peer.irc.name)


@command("PONG")
async def pong(peer: IrcPeer, message: IrcMessage) -> None:
    """A sign of life: the lifecycle already counted it."""


@command("QUIT")
async def quit_(peer: IrcPeer, message: IrcMessage) -> None:
    peer.close(CloseCode.NORMAL, "Quit: " + message.param(0) if message.params else "Client quit")


@command("MOTD")
async def motd(peer: IrcPeer, message: IrcMessage) -> None:
    _motd(peer)
