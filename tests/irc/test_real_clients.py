"""Real IRC clients, Debian's irssi and weechat, in a terminal (tmux): they register
and show the user's room, what is typed reaches a WebSocket user, what that user
says shows in the client, and what was said while the client was away shows when
it comes back.

``scripts/irc-clients`` installs the clients; without one (or without tmux) its
tests skip, saying why. Each client runs on a tmux server of its own, with its own
home directory, and knows no server but the one under test.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from homer.client import HomerClient
from homer.testing.server import PASSWORD, TestServer
from homer.testing.transport_conformance import next_message

#: How long a client may take to show something, on a loaded machine.
WITHIN = 20.0
#: How often the screen is read while waiting.
POLL = 0.2
WIDTH, HEIGHT = 200, 50


class Terminal:
    """A client in a detached tmux session, on a tmux server (socket) of its own
    so that nothing else's sessions are touched: typed into, read from the screen."""

    def __init__(self, name: str) -> None:
        self.socket = f"homer-{name}-{secrets.token_hex(4)}"
        self.session = name
        #: Where tmux put the socket: removed at the end (tmux leaves it behind).
        self.socket_paths: set[str] = set()

    async def tmux(self, *args: str, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            "tmux",
            "-L",
            self.socket,
            "-f",
            "/dev/null",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if check and process.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {err.decode().strip()}")
        return out.decode()

    async def start(self, command: list[str], home: Path) -> None:
        env = ["env", f"HOME={home}", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"]
        await self.tmux(
            "new-session", "-d", "-s", self.session, "-x", str(WIDTH), "-y", str(HEIGHT),
            *env, *command,
        )  # fmt: skip
        where = await self.tmux("display-message", "-p", "#{socket_path}", check=False)
        if where.strip():
            self.socket_paths.add(where.strip())

    async def running(self) -> bool:
        return "\n" in await self.tmux("list-sessions", "-F", "#{session_name}", check=False)

    async def type(self, text: str) -> None:
        """Type ``text`` (literally, no key names) and press Enter."""
        await self.tmux("send-keys", "-t", self.session, "-l", text)
        await self.tmux("send-keys", "-t", self.session, "Enter")

    async def screen(self) -> str:
        return await self.tmux("capture-pane", "-p", "-J", "-t", self.session, check=False)

    async def shows(self, *patterns: str, within: float = WITHIN) -> str:
        """The screen once every pattern (a regular expression) is on it."""
        wanted = [re.compile(p) for p in patterns]
        deadline = asyncio.get_running_loop().time() + within
        while True:
            screen = await self.screen()
            if all(w.search(screen) for w in wanted):
                return screen
            if asyncio.get_running_loop().time() > deadline:
                missing = [w.pattern for w in wanted if not w.search(screen)]
                raise AssertionError(f"not on screen within {within} s: {missing}\n{screen}")
            await asyncio.sleep(POLL)

    async def gone(self, within: float = WITHIN) -> None:
        """Wait until the client has exited (its session ends with it)."""
        deadline = asyncio.get_running_loop().time() + within
        while await self.running():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the client did not exit:\n{await self.screen()}")
            await asyncio.sleep(POLL)

    async def close(self) -> None:
        await self.tmux("kill-server", check=False)
        for path in self.socket_paths:
            await asyncio.to_thread(Path(path).unlink, missing_ok=True)


class Irssi:
    """irssi with a config of its own: no networks, no command queue (irssi sends
    a command every 2.2 s after the first few otherwise), and every channel in the
    one window, so the screen shows what happens and typing goes to the channel."""

    name = "irssi"

    def __init__(self, base: Path, port: int) -> None:
        self.home = base / self.name
        self.home.mkdir()
        self.port = port
        (self.home / "config").write_text(
            "settings = {\n"
            '  core = { real_name = "Alice"; user_name = "alice"; nick = "alice"; };\n'
            '  "irc/core" = { cmd_queue_speed = "0"; cmds_max_at_once = "100"; };\n'
            '  "fe-common/core" = { autocreate_windows = "no"; };\n'
            "};\n"
        )

    def command(self) -> list[str]:
        return [
            "irssi", f"--home={self.home}",
            "-c", "127.0.0.1", "-p", str(self.port), "-w", PASSWORD, "-n", "alice",
        ]  # fmt: skip

    @staticmethod
    def said(nick: str, text: str) -> str:
        return rf"<[@+ ]?{re.escape(nick)}> {re.escape(text)}"

    @staticmethod
    async def server_messages(shell: Terminal) -> str:
        """What the server said outside the channel: in the one window already."""
        return ""


class Weechat:
    """weechat with the irc plugin only (no scripts, nothing fetched), one server
    on the plain port without TLS, logging in with SASL PLAIN, sending what is
    typed at once; started again, it connects with what it saved when it quit."""

    name = "weechat"

    def __init__(self, base: Path, port: int) -> None:
        self.home = base / self.name
        self.home.mkdir()
        self.port = port
        self.started = False

    def command(self) -> list[str]:
        if self.started:  # weechat saved the server when it quit
            return ["weechat", "-d", str(self.home), "-P", "irc", "-r", "/connect homer"]
        self.started = True
        server = (
            f"/server add homer 127.0.0.1/{self.port} -notls -nicks=alice -username=alice"
            f" -realname=Alice -sasl_mechanism=plain -sasl_username=alice"
            f" -sasl_password={PASSWORD}"
        )
        settings = [
            # No pause between lines (2 s otherwise): anti_flood from weechat 4.0 on.
            "/set irc.server_default.anti_flood_prio_high 0",
            "/set irc.server_default.anti_flood_prio_low 0",
            "/set irc.server_default.anti_flood 0",
        ]
        run = ";".join([*settings, server, "/connect homer"])
        return ["weechat", "-d", str(self.home), "-P", "irc", "-r", run]

    @staticmethod
    def said(nick: str, text: str) -> str:
        return rf"[@+]?{re.escape(nick)} *\| {re.escape(text)}"

    @staticmethod
    async def server_messages(shell: Terminal) -> str:
        """What the server said outside the channel: the server's own buffer."""
        await shell.type("/buffer 1")
        return await shell.shows(r"1:server\[homer\]", "Welcome to the Homer IRC network")


Client = Irssi | Weechat
CLIENTS: dict[str, Callable[[Path, int], Client]] = {"irssi": Irssi, "weechat": Weechat}
JOINED = r"alice .*has joined #lobby"


@asynccontextmanager
async def terminal(name: str) -> AsyncIterator[Terminal]:
    shell = Terminal(name)
    try:
        yield shell
    finally:
        await shell.close()


async def until_offline(bob: HomerClient, name: str) -> None:
    """Wait until the server has let ``name``'s last connection go."""
    deadline = asyncio.get_running_loop().time() + WITHIN
    while True:
        members = await bob.request("members", room="lobby")
        status = {m["name"]: m["status"] for m in members["members"]}[name]
        if status == "offline":
            return
        assert asyncio.get_running_loop().time() < deadline, f"{name} is still {status}"
        await asyncio.sleep(POLL)


@pytest.fixture(params=sorted(CLIENTS))
def client_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    for binary in (name, "tmux"):
        if shutil.which(binary) is None:
            pytest.skip(
                f"no {binary} here: scripts/irc-clients installs it "
                f"(Debian: apt-get install {'weechat-curses' if binary == 'weechat' else binary})"
            )
    return name


async def room_for_alice(server: TestServer) -> HomerClient:
    """Bob, over WebSocket, in ``lobby``, a room alice is a member of."""
    bob = await server.client("bob")
    await bob.create("lobby")
    alice = await server.client("alice")
    await alice.join("lobby")
    await alice.close()
    return bob


async def until_read(server: TestServer, name: str, seq: int) -> None:
    """Wait until ``name``'s read marker in ``lobby`` is at ``seq`` or past it: what
    a client showed counts as read once the server has seen it go."""
    user = await server.app.identity.accounts.get(name)
    deadline = asyncio.get_running_loop().time() + WITHIN
    while True:
        rooms = await server.app.rooms.mine(user)
        read = next(info["read"] for info in rooms if info["id"] == "lobby")
        if read >= seq:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{name} read up to {read}"
        await asyncio.sleep(POLL)


async def away_and_back(
    shell: Terminal,
    irc: Client,
    server: TestServer,
    bob: HomerClient,
    missed: list[str],
    shown: int = 0,
) -> str:
    """The client quits (having shown the room up to seq ``shown``), bob says
    ``missed`` meanwhile, the client starts again: its screen once every missed
    message shows."""
    await shell.type("/quit")
    await shell.gone()
    await until_offline(bob, "alice")
    await until_read(server, "alice", shown)
    for text in missed:
        await bob.send("lobby", text)
    await shell.start(irc.command(), irc.home)
    return await shell.shows(JOINED, *(irc.said("bob", text) for text in missed))


async def test_a_real_client_chats_and_catches_up(
    client_name: str, server: TestServer, port: int, tmp_path: Path
) -> None:
    irc = CLIENTS[client_name](tmp_path, port)
    bob = await room_for_alice(server)
    async with terminal(client_name) as shell:
        # Registered, and shown the room the account is in.
        await shell.start(irc.command(), irc.home)
        await shell.shows(JOINED)

        # What is typed reaches the room, under the account's name.
        await shell.type("hello from a terminal")
        typed = await next_message(bob, "lobby", timeout=WITHIN)
        assert (typed.sender, typed.body["text"]) == ("alice", "hello from a terminal")

        # What the WebSocket user says shows, with their nick.
        said = await bob.send("lobby", "hello from the web")
        await shell.shows(irc.said("bob", "hello from the web"))

        # Away and back: what was said meanwhile shows, in order, without asking.
        missed = [f"while you were out {n}" for n in range(3)]
        screen = await away_and_back(shell, irc, server, bob, missed, shown=said["seq"])
        positions = [screen.index(text) for text in missed]
        assert positions == sorted(positions), screen
        # What the client showed before it went is not shown again.
        assert "hello from" not in screen, screen


async def test_the_catch_up_shows_nothing_the_client_cannot_read(
    client_name: str, server: TestServer, port: int, tmp_path: Path
) -> None:
    """Neither client asks for ``batch``: what it is sent must not need it."""
    irc = CLIENTS[client_name](tmp_path, port)
    bob = await room_for_alice(server)
    async with terminal(client_name) as shell:
        await shell.start(irc.command(), irc.home)
        await shell.shows(JOINED)
        screen = await away_and_back(shell, irc, server, bob, ["while you were out"])
        screen += await irc.server_messages(shell)
        assert "BATCH" not in screen, screen
