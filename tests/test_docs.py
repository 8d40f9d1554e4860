"""Every command in README.md and docs/tutorial/*.md runs as written, in order, on
a fresh data directory, against a real ``homer serve``.

Each page runs in a directory of its own that stands for a fresh checkout:
``examples/`` from the repository, and ``.venv`` as the page's install command
would leave it (the test's own environment; nothing is installed). The shell
and Python blocks run in one bash session per page (``set -a``, so what one
block assigns the next can use), without the environment active until a page
activates it. The documented ports 8080, 7070, 6667 (IRC) and 1884 (MQTT)
become free ports on 127.0.0.1 (``HOMER_SERVER_PORT``, ``CHAT_URL``,
``BOT_URL``, ``BOT_IRC_URL`` and ``BOT_MQTT_URL`` point there too); passwords
are hashed cheaply and the rate limits are raised, since the test types faster
than a person.

Blocks: ``sh`` (every line a command), ``console`` (``$ `` lines are commands,
the other lines what they print) and ``python`` run; other blocks do not. A
command must succeed unless the page shows it failing (``homer: error:``, an
exception), ``echo $?`` must print what the page shows, and a Homer error
answer (``{"code": ...``) may appear only where the page shows one.

An HTML comment before a block (invisible on GitHub) says what else to do:

- ``<!-- docs-test: skip REASON -->``: do not run the block (it installs, it
  is an excerpt of a file, it is interactive);
- ``<!-- docs-test: background NAME -->``: start it in the background (a
  server, a listener), wait for its first line of output, and leave it
  running until the page ends or a later ``background NAME`` replaces it;
- ``<!-- docs-test: stop NAME -->`` (alone): interrupt NAME, as Ctrl-C does;
- ``<!-- docs-test: file NAME -->``: write the block to NAME, for later
  commands to use;
- ``<!-- docs-test: start -->`` (alone): the blocks above it are not run.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "tutorial").glob("*.md"))]

#: Seconds one command, or a background block's first line, may take.
PATIENCE = 30.0
MARKER = re.compile(r"<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")
INSTALLS = re.compile(r"\bpip install\b|-m venv\b")
SHOWS_FAILURE = re.compile(r"^homer: error:|^Traceback|^[\w.]+(Error|Exception):", re.M)
HOMER_ERROR = re.compile(r'\{"code":\s*"')
RUN = frozenset({"sh", "console", "python"})
SETTINGS = {
    "HOMER_IDENTITY_PASSWORDS_TIME_COST": "1",
    "HOMER_IDENTITY_PASSWORDS_MEMORY_COST_KIB": "256",
    "HOMER_IDENTITY_PASSWORDS_PARALLELISM": "1",
    "HOMER_LIMITS_LOGINS_PER_ACCOUNT": "1000",
    "HOMER_LIMITS_LOGINS_PER_ADDRESS": "1000",
}


@dataclass
class Step:
    """A block with the marker before it, or a marker on its own."""

    line: int
    action: str  # run, skip, background, stop, file, start
    argument: str = ""
    language: str = ""
    text: str = ""


@dataclass
class Command:
    command: str
    shown: str = ""


def steps(page: Path) -> list[Step]:
    """The page's blocks and markers, in order."""
    found: list[Step] = []
    pending: tuple[str, str] | None = None
    lines = page.read_text().splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        marker = MARKER.search(line)
        fence = FENCE.match(line)
        if marker is not None:
            action, argument = marker[1], marker[2]
            if action in ("stop", "start"):
                found.append(Step(number + 1, action, argument))
            elif action in ("skip", "background", "file"):
                pending = (action, argument)
            else:
                pytest.fail(f"{page.name}:{number + 1}: unknown docs-test marker {action!r}")
        elif fence is not None:
            end = number + 1
            while not lines[end].startswith("```"):
                end += 1
            action, argument = pending or ("run", "")
            text = "\n".join(lines[number + 1 : end])
            found.append(Step(number + 1, action, argument, fence[1], text))
            pending = None
            number = end
        elif line.strip() and pending is not None and not line.startswith("<!--"):
            pytest.fail(f"{page.name}:{number + 1}: a docs-test marker not before a block")
        number += 1
    if any(step.action == "start" for step in found):
        start = max(i for i, step in enumerate(found) if step.action == "start")
        found = found[start + 1 :]
    return found


def commands(step: Step) -> Iterator[Command]:
    """The shell commands of a block, each with the output the page shows for it."""
    if step.language == "sh":
        for line in step.text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                yield Command(line)
        return
    current: Command | None = None
    continued = False
    for line in step.text.splitlines():
        if continued and current is not None:
            current.command += "\n" + line
            continued = line.endswith("\\")
        elif line.startswith("$ "):
            if current is not None:
                yield current
            current = Command(line[2:])
            continued = line.endswith("\\")
        elif current is not None:
            current.shown += line + "\n"
    if current is not None:
        yield current


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Background:
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Page:
    """One page's bash session, directory and background processes."""

    name: str
    directory: Path
    ports: dict[str, str]
    shell: subprocess.Popen[str] = field(init=False)
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    background: dict[str, Background] = field(default_factory=dict)
    count: int = 0
    reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir()
        (self.directory / ".venv").symlink_to(sys.prefix)
        (self.directory / "examples").symlink_to(ROOT / "examples")
        bin_dir = str(Path(sys.prefix) / "bin")
        path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != bin_dir)
        url = f"http://127.0.0.1:{self.ports['8080']}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("HOMER_", "VIRTUAL_ENV"))},
            **SETTINGS,
            "PATH": path,
            "HOMER_SERVER_PORT": self.ports["8080"],
            "CHAT_URL": url,
            "BOT_URL": url,
            "BOT_IRC_URL": f"irc://127.0.0.1:{self.ports['6667']}",
            "BOT_MQTT_URL": f"mqtt://127.0.0.1:{self.ports['1884']}",
            "PYTHONUNBUFFERED": "1",
        }
        self.shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=self.directory,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.sh("set -a")

    def _read(self) -> None:
        assert self.shell.stdout is not None
        for line in self.shell.stdout:
            self.lines.put(line)

    def local(self, text: str) -> str:
        """The text with the documented ports turned into the test's."""
        for documented, port in self.ports.items():
            text = re.sub(rf"\b{documented}\b", port, text)
        return text

    def sh(self, command: str) -> tuple[int, str]:
        """Run ``command`` in the session; its status and output."""
        self.count += 1
        done = f"__docs_test_done_{self.count}__"
        assert self.shell.stdin is not None
        self.shell.stdin.write(
            f"{{\n{command}\n}} </dev/null\n"
            f"__rc=$?; printf '\\n%s %s\\n' {done} $__rc; (exit $__rc)\n"
        )
        self.shell.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"{self.name}: no end to `{command}` within {PATIENCE} s")
            if line.startswith(done):
                return int(line.split()[1]), "".join(output)[:-1]  # the printf's newline
            output.append(line)

    def environment(self) -> dict[str, str]:
        """The session's exported variables, for a process started beside it."""
        _, printed = self.sh("env -0")
        pairs = (item.partition("=") for item in printed.split("\0") if "=" in item)
        return {name: value for name, _, value in pairs}

    def start(self, name: str, command: str, where: str) -> str | None:
        """Start ``command`` in the background and wait for its first line; what
        went wrong, if anything."""
        self.stop(name)
        log = self.directory.parent / f"{self.directory.name}-{name}-{self.count}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=self.directory,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, to interrupt as Ctrl-C would
            )
        self.background[name] = Background(process, log)
        deadline = time.monotonic() + PATIENCE
        while not log.read_bytes().strip():
            if process.poll() is not None:
                return f"{where}: `{command}` exited with {process.returncode}, silent"
            if time.monotonic() > deadline:
                return f"{where}: `{command}` printed nothing within {PATIENCE} s"
            time.sleep(0.05)
        if process.poll() not in (None, 0) or SHOWS_FAILURE.search(log.read_text()):
            return f"{where}: `{command}` failed:\n{log.read_text()}"
        return None

    def stop(self, name: str) -> None:
        running = self.background.pop(name, None)
        if running is None or running.process.poll() is not None:
            return
        os.killpg(running.process.pid, signal.SIGINT)
        try:
            running.process.wait(PATIENCE)
        except subprocess.TimeoutExpired:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait(PATIENCE)

    def close(self) -> None:
        for name in list(self.background):
            self.stop(name)
        if self.shell.stdin is not None:
            self.shell.stdin.close()
        try:
            self.shell.wait(PATIENCE)
        except subprocess.TimeoutExpired:
            self.shell.kill()
            self.shell.wait(PATIENCE)
        self.reader.join(PATIENCE)
        if self.shell.stdout is not None:
            self.shell.stdout.close()


def check(where: str, command: Command, status: int, output: str) -> str | None:
    """What is wrong with a command's outcome, if anything."""
    if command.command.strip() == "echo $?":
        if output.strip() != command.shown.strip():
            return f"{where}: `echo $?` printed {output}"
        return None
    if status != 0 and SHOWS_FAILURE.search(command.shown) is None:
        return f"{where}: `{command.command}` exited {status}:\n{output}"
    if HOMER_ERROR.search(output) and not HOMER_ERROR.search(command.shown):
        return f"{where}: `{command.command}` answered an error:\n{output}"
    return None


def run_page(page: Path, directory: Path) -> None:
    """Run the page's blocks; fail with every command that did not do as shown."""
    session = Page(
        page.name, directory, {port: str(free_port()) for port in ("8080", "7070", "6667", "1884")}
    )
    wrong: list[str] = []
    blocks = directory.parent / f"{directory.name}-blocks"
    blocks.mkdir()
    try:
        for step in steps(page):
            where = f"{page.name}:{step.line}"
            if step.action == "stop":
                session.stop(step.argument)
                continue
            if step.action == "file":
                (directory / step.argument).write_text(session.local(step.text) + "\n")
                continue
            if step.action == "skip" or step.language not in RUN:
                continue
            if INSTALLS.search(step.text):
                pytest.fail(f"{where}: a block that installs needs a docs-test skip marker")
            if step.language == "python":
                script = blocks / f"line-{step.line}.py"
                script.write_text(session.local(step.text) + "\n")
                run = [Command(f"python3 {shlex.quote(str(script))}")]
            else:
                run = [Command(session.local(c.command), c.shown) for c in commands(step)]
            if step.action == "background":
                problem = session.start(step.argument, "\n".join(c.command for c in run), where)
                wrong += [problem] if problem else []
                continue
            for command in run:
                status, output = session.sh(command.command)
                problem = check(where, command, status, output)
                wrong += [problem] if problem else []
    finally:
        session.close()
    if wrong:
        pytest.fail(f"{len(wrong)} command(s) not as the page shows:\n\n" + "\n\n".join(wrong))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_page_runs_as_written(page: Path, tmp_path: Path) -> None:
    run_page(page, tmp_path / page.stem)
