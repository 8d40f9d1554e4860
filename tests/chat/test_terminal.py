"""Two ``homer chat`` processes in real terminals (tmux), chatting through a
live ``homer serve`` on 127.0.0.1, which stops for a while and comes back:
what a person at each keyboard would see.

The tmux server has a socket of its own (``tmux -L``), and only it is killed at
the end. Every wait is for something on screen, with a generous timeout.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server.test_process import CHEAP, free_port, homer_process

TMUX = shutil.which("tmux")
PATIENCE = 60.0

pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="needs tmux"),
    pytest.mark.timeout(300),
]


class Terminals:
    """A private tmux server: one window per ``homer chat``."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, check=False
        )

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        assignments = [f"{key}={value}" for key, value in env.items()]
        line = shlex.join(["env", *assignments, *command])
        started = self.tmux("new-session", "-d", "-s", name, "-x", "110", "-y", "30", line)
        assert started.returncode == 0, started.stderr

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", name).stdout

    def type(self, name: str, text: str) -> None:
        self.tmux("send-keys", "-t", name, "-l", text)
        self.tmux("send-keys", "-t", name, "Enter")

    def running(self, name: str) -> bool:
        return self.tmux("has-session", "-t", name).returncode == 0

    async def until(self, condition: Callable[[], bool], name: str, what: str) -> None:
        try:
            async with asyncio.timeout(PATIENCE):
                while True:
                    if condition():
                        return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"{name}: {what}; the screen:\n{self.screen(name)}") from None

    async def until_shown(self, name: str, text: str) -> None:
        await self.until(lambda: text in self.screen(name), name, f"never showed {text!r}")


@pytest.fixture
def terminals() -> Iterator[Terminals]:
    terminals = Terminals(f"homer-chat-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield terminals
    finally:
        terminals.tmux("kill-server")
        # tmux leaves its socket file behind: this one is ours alone.
        directory = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        socket = directory / terminals.socket
        socket.unlink(missing_ok=True)


async def test_two_people_chat_in_real_terminals(tmp_path: Path, terminals: Terminals) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # alice has emoticons of her own; bob has the built-in ones only.
    (tmp_path / "config-alice").mkdir()
    (tmp_path / "config-alice" / "emoticons.toml").write_text(
        '[emoticons]\ncoffee = "c[_]"\n', encoding="utf-8"
    )
    async with homer_process(tmp_path / "server", port):
        for name in ("alice", "bob"):
            env = {
                **CHEAP,
                "HOMER_CHAT_NAME": name,
                "HOMER_CHAT_PASSWORD": f"{name}-password",
                "HOMER_CHAT_CONFIG_DIR": str(tmp_path / f"config-{name}"),
                "HOMER_CHAT_STATE_DIR": str(tmp_path / f"state-{name}"),
                "PYTHONPATH": os.pathsep.join(sys.path),
                "TERM": "xterm-256color",
            }
            terminals.start(name, [sys.executable, "-m", "homer", "chat", url, "--register"], env)
        await terminals.until_shown("alice", "● online")
        await terminals.until_shown("bob", "● online")

        terminals.type("alice", "/create lobby")
        await terminals.until_shown("alice", "#lobby")
        terminals.type("bob", "/join lobby")
        await terminals.until_shown("bob", "#lobby")
        await terminals.until_shown("alice", "→ bob joined")

        terminals.type("alice", "hello bob :wave:")
        await terminals.until_shown("bob", "alice: hello bob (^_^)/")
        terminals.type("bob", "hi [bold]alice[/] :coffee:?")
        await terminals.until_shown("alice", "bob: hi [bold]alice[/] c[_]?")
        await terminals.until_shown("bob", "bob: hi [bold]alice[/] :coffee:?")

    # The server goes away; alice writes anyway, into her outbox.
    await terminals.until_shown("alice", "● offline")
    await terminals.until_shown("bob", "● offline")
    for i in range(3):
        terminals.type("alice", f"written offline {i}")
    await terminals.until_shown("alice", "offline, 3 queued")

    async with homer_process(tmp_path / "server", port):
        await terminals.until_shown("alice", "● online")
        await terminals.until_shown("bob", "alice: written offline 2")
        await terminals.until(
            lambda: "queued" not in terminals.screen("alice"), "alice", "still queued"
        )
        screen = terminals.screen("bob")
        assert [screen.count(f"alice: written offline {i}") for i in range(3)] == [1, 1, 1]
        assert screen.index("offline 0") < screen.index("offline 1") < screen.index("offline 2")

        terminals.type("bob", "/quit")
        await terminals.until(lambda: not terminals.running("bob"), "bob", "did not quit")

    # The login was kept for the next start, owner-only.
    kept = list((tmp_path / "config-alice" / "tokens").glob("*.json"))
    assert len(kept) == 1
    assert kept[0].stat().st_mode & 0o777 == 0o600
    assert "alice-password" not in kept[0].read_text()
