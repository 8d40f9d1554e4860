"""What the networked scenarios share: servers and client processes, started and always stopped.

* :class:`HomerServer`: ``homer serve`` as its own process (uvloop, the default),
  on a fresh copy of a prepared data directory, limits raised for a benchmark.
* :class:`ASGIHomerServer`: the same Homer as an ASGI application
  (``homer.asgi_app``) mounted in Starlette under uvicorn
  (``bench/baselines/asgi_server.py``), WebSocket at ``/chat/ws``.
* :class:`SocketIOServer`: the python-socketio baseline
  (``bench/baselines/socketio_server.py``), also its own process, also on uvloop.
* :class:`MosquittoServer`: the Mosquitto baseline, ``mosquitto`` (or
  ``$BENCH_MOSQUITTO``) with a config file written into the lab's temp dir: its own
  listener on a free port of 127.0.0.1, anonymous, no persistence, its log on
  stderr; :class:`MqttClient` is a lean client that also speaks MQTT 3.1.1
  (``bench/clients/mqtt.py``).
* :class:`Client`: lean client processes (``bench/clients/lean.py``) driven over
  stdin/stdout, each holding many connections; :class:`TransportClient` is one
  that also speaks Homer's other transports (``bench/clients/transports.py``),
  :class:`IrcClient` one that also speaks IRC (``bench/clients/irc.py``).
* :func:`homer_template`: a data directory with users, rooms, memberships and
  never-expiring tokens, built once per benchmark run through Homer's own API;
  :func:`rooms_template`, one with given rooms, each with its own members.

Everything listens on 127.0.0.1 on a port the kernel picks (``--port 0``; for
Mosquitto, which cannot be told that, one the kernel picked a moment before); every
process started here is stopped by its pid in :meth:`Lab.close`, and every temp
directory removed. Mosquitto is also told to die with the benchmark's process
(``PR_SET_PDEATHSIG``), should that be killed before it can close its lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import pwd
import resource
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

BENCH = Path(__file__).resolve().parent.parent
LEAN_CLIENT = BENCH / "clients" / "lean.py"
TRANSPORT_CLIENT = BENCH / "clients" / "transports.py"
MQTT_CLIENT = BENCH / "clients" / "mqtt.py"
IRC_CLIENT = BENCH / "clients" / "irc.py"
SOCKETIO_SERVER = BENCH / "baselines" / "socketio_server.py"
ASGI_SERVER = BENCH / "baselines" / "asgi_server.py"
PYTHON = sys.executable
#: Local source addresses for client sockets: all loopback, each with its own ports.
SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]

HOMER_ENV = {
    "HOMER_IDENTITY_PASSWORDS_TIME_COST": "1",
    "HOMER_IDENTITY_PASSWORDS_MEMORY_COST_KIB": "256",
    "HOMER_IDENTITY_PASSWORDS_PARALLELISM": "1",
    "HOMER_LIMITS_RATE": "1000000",
    "HOMER_LIMITS_BURST": "1000000",
    "HOMER_LIMITS_USER_RATE": "1000000",
    "HOMER_LIMITS_USER_BURST": "1000000",
    "HOMER_LIMITS_MAX_CONNECTIONS_PER_USER": "100000",
    "HOMER_LIMITS_MAX_CONNECTIONS_PER_ADDRESS": "0",
    "HOMER_LIMITS_MAX_ROOMS_PER_USER": "1000000",
    "HOMER_SERVER_WEB_CLIENT": "0",
    "HOMER_SERVER_LOG_LEVEL": "warning",
}


_VERBOSE = bool(os.environ.get("BENCH_VERBOSE"))
_T0 = time.monotonic()


def log(message: str) -> None:
    """Progress on stderr with ``BENCH_VERBOSE=1`` (where a scenario spends its time)."""
    if _VERBOSE:
        print(f"  [{time.monotonic() - _T0:7.2f}] {message}", file=sys.stderr, flush=True)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


# -- processes ----------------------------------------------------------------------


def _wait_for_line(path: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    name = path.name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if needle in line:
                return line
        if proc.poll() is not None:
            raise RuntimeError(f"{name}: exited {proc.returncode}: {text[-2000:]}")
        time.sleep(0.02)
    raise RuntimeError(f"{name}: did not say {needle!r} within {timeout} s")


def _stop(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM this process (by its pid), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5.0)


class Server:
    """A server process: its CPU time and memory, read with psutil."""

    system = ""
    proc: subprocess.Popen[bytes]
    log: Path
    _ps: psutil.Process
    host = "127.0.0.1"
    port = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        """User + system CPU seconds of the whole process (every thread)."""
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        return int(self._ps.memory_info().rss)

    def settle(self, quiet: float = 0.01, period: float = 0.1, max_wait: float = 20.0) -> float:
        """Wait until the server uses under ``quiet`` CPU seconds per ``period``
        twice in a row (bounded); return the seconds waited."""
        started = time.monotonic()
        calm = 0
        last = self.cpu()
        while time.monotonic() - started < max_wait:
            time.sleep(period)
            now = self.cpu()
            calm = calm + 1 if now - last < quiet else 0
            last = now
            if calm >= 2:
                break
        return time.monotonic() - started

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _launch(
        self,
        argv: list[str],
        log: Path,
        ready: str,
        port_of: Callable[[str], int],
        env: dict[str, str] | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        """Start ``argv`` with its output in ``log``; wait for the line holding ``ready``
        and read the port from it (``port_of``); stop the process if that fails."""
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=preexec_fn,
            )
        try:
            self.port = port_of(_wait_for_line(log, ready, self.proc, 30.0))
            self._ps = psutil.Process(self.proc.pid)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        _stop(self.proc)


class HomerServer(Server):
    system = "homer"
    #: The raw TCP port, when the server was started with ``tcp=True``.
    tcp_port: int | None = None
    #: The IRC port, when the server was started with ``irc=True``.
    irc_port: int | None = None
    #: The MQTT port, when the server was started with ``mqtt=True``.
    mqtt_port: int | None = None

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        env: dict[str, str] | None = None,
        launcher: list[str] | None = None,
        *,
        tcp: bool = False,
        irc: bool = False,
        mqtt: bool = False,
    ) -> None:
        environ = {**os.environ, **HOMER_ENV, **(env or {})}
        #: What runs ``homer``: a wrapper script for diagnosis may stand in, also
        #: through ``BENCH_HOMER_LAUNCHER`` (e.g. "python probe.py").
        launcher = (
            launcher
            or os.environ.get("BENCH_HOMER_LAUNCHER", "").split()
            or [PYTHON, "-m", "homer"]
        )
        argv = [*launcher, "serve", "--host", "127.0.0.1", "--port", "0"]
        if tcp:
            argv += ["--tcp-port", "0"]
        if irc:
            argv += ["--irc-port", "0"]
        if mqtt:
            argv += ["--mqtt-port", "0"]
        self._launch(
            [*argv, "--data-dir", str(data_dir)], log, "listening on http://", self._ports, environ
        )

    def _ports(self, line: str) -> int:
        """The HTTP port from ``homer serve``'s announcement; the raw TCP, IRC and MQTT
        ports too, if any (``..., raw TCP on 127.0.0.1:PORT, IRC on 127.0.0.1:PORT, MQTT
        on 127.0.0.1:PORT); data in ...``)."""

        def port_after(words: str) -> int | None:
            if words not in line:
                return None
            where = line.split(words, 1)[1].split(")", 1)[0].split(",", 1)[0]
            return int(where.rsplit(":", 1)[1])

        self.tcp_port = port_after("raw TCP on ")
        self.irc_port = port_after(", IRC on ")
        self.mqtt_port = port_after(", MQTT on ")
        return int(line.split("listening on http://", 1)[1].split()[0].rsplit(":", 1)[1])

    def metrics(self) -> dict[str, float]:
        """The node's Prometheus counters (``/metrics``), name -> value."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    found[name] = float(value)
        return found


class ASGIHomerServer(Server):
    system = "homer-asgi"
    #: Where Homer is mounted in the host; its WebSocket is at ``{mount}/ws``.
    mount = "/chat"

    def __init__(self, data_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        environ = {**os.environ, **HOMER_ENV, **(env or {})}
        argv = [PYTHON, str(ASGI_SERVER), "--host", "127.0.0.1", "--port", "0"]
        argv += ["--mount", self.mount, "--data-dir", str(data_dir)]
        self._launch(argv, log, "listening ", port_after_word, environ)

    @property
    def ws_path(self) -> str:
        return f"{self.mount}/ws"


class SocketIOServer(Server):
    system = "python-socketio"

    def __init__(self, secret: str, log: Path) -> None:
        argv = [PYTHON, str(SOCKETIO_SERVER), "--host", "127.0.0.1", "--port", "0"]
        # The secret as one argument even if it starts with "-".
        self._launch([*argv, f"--secret={secret}"], log, "listening ", port_after_word)


#: Where Mosquitto is (Debian's package puts it in /usr/sbin, often not on a user's
#: PATH); ``BENCH_MOSQUITTO`` may name another build.
MOSQUITTO = os.environ.get("BENCH_MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
#: Mosquitto's settings for the benchmark (``{port}`` and ``{user}`` filled in): no
#: persistence, no ``$SYS`` topics, no line per connection, Nagle off as on the other
#: servers' sockets, no cap on a client's queue (a cap would drop, not measure).
#: ``user``: the benchmark's own, so that no change of user clears the death signal.
MOSQUITTO_CONF = """\
per_listener_settings false
listener {port} 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages false
sys_interval 0
set_tcp_nodelay true
max_queued_messages 0
user {user}
"""


#: Linux's prctl, looked up here rather than in a forked child.
_PRCTL = getattr(ctypes.CDLL(None), "prctl", None)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the benchmark's process goes (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    """A port of 127.0.0.1 that the kernel just handed out and nothing holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoServer(Server):
    system = "mosquitto"

    def __init__(self, root: Path, log: Path) -> None:
        if not os.access(MOSQUITTO, os.X_OK):
            raise RuntimeError(
                f"no Mosquitto at {MOSQUITTO} (Debian: apt-get install mosquitto;"
                " or set BENCH_MOSQUITTO)"
            )
        user = pwd.getpwuid(os.geteuid()).pw_name
        for attempt in range(3):  # the free port may be taken before Mosquitto binds it
            port = free_port()
            conf = root / f"mosquitto-{port}.conf"
            conf.write_text(MOSQUITTO_CONF.format(port=port, user=user))
            try:
                self._launch(
                    [MOSQUITTO, "-c", str(conf)],
                    log,
                    " running",
                    lambda _line, port=port: port,
                    preexec_fn=_die_with_parent,
                )
            except RuntimeError:
                if attempt == 2 or "in use" not in log.read_text(errors="replace"):
                    raise
            else:
                return


def port_after_word(line: str) -> int:
    """``listening <port>``: what the baseline servers print once they accept."""
    return int(line.split()[1])


class Client:
    """One lean client process; commands are JSON lines over its stdin/stdout."""

    #: The script the process runs.
    SCRIPT = LEAN_CLIENT

    def __init__(self, log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [PYTHON, str(self.SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                bufsize=0,
            )
        self._buffer = b""
        try:
            self.receive(30.0)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def submit(self, cmd: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())

    def receive(self, timeout: float = 120.0) -> Any:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"client {self.pid} did not answer within {timeout} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise RuntimeError(
                        f"client {self.pid} exited: {self.log.read_text(errors='replace')[-2000:]}"
                    )
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"client {self.pid}: {answer['error']}")
        return answer["result"]

    def call(self, cmd: str, timeout: float = 120.0, **args: Any) -> Any:
        self.submit(cmd, **args)
        return self.receive(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(b'{"cmd": "exit"}\n')
                self.proc.stdin.close()
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                _stop(self.proc, 2.0)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class TransportClient(Client):
    """A lean client process that also speaks SSE, long-poll, raw TCP and WebSocket
    with MessagePack (``bench/clients/transports.py``)."""

    SCRIPT = TRANSPORT_CLIENT


class IrcClient(Client):
    """A transport client process that also speaks IRC (``bench/clients/irc.py``)."""

    SCRIPT = IRC_CLIENT


class MqttClient(Client):
    """A lean client process that also speaks MQTT 3.1.1 (``bench/clients/mqtt.py``)."""

    SCRIPT = MQTT_CLIENT


ClientT = TypeVar("ClientT", bound=Client)
T = TypeVar("T")


def call_all(
    clients: Sequence[Client],
    cmd: str,
    args: list[dict[str, Any]] | None = None,
    timeout: float = 120.0,
    **common: Any,
) -> list[Any]:
    """Send the same command to several clients at once (``args[i]`` for client i)."""
    for i, client in enumerate(clients):
        client.submit(cmd, **common, **(args[i] if args else {}))
    return [client.receive(timeout) for client in clients]


def open_all(
    clients: Sequence[Client],
    server: Server,
    kind: str,
    args: list[dict[str, Any]],
    sources: list[str] | None = SOURCES,
    **common: Any,
) -> list[Any]:
    """``open`` connections of ``kind`` to ``server`` from every client at once (``args[i]``
    for client i; ``common`` for all, and ``timeout`` for the answers), from ``sources``;
    raise if any failed."""
    opened = call_all(
        clients,
        "open",
        args,
        kind=kind,
        host=server.host,
        port=server.port,
        sources=sources,
        **common,
    )
    failed = sum(o["failed"] for o in opened)
    if failed:
        raise RuntimeError(f"{server.system}: {failed} connections failed: {opened}")
    return opened


def rotated(items: Sequence[T], turn: int) -> list[T]:
    """``items`` started at ``turn`` (mod its length): round ``turn``'s order of the
    systems, so that each goes first as often as the others."""
    at = turn % len(items)
    return [*items[at:], *items[:at]]


def split(items: list[Any], parts: int) -> list[list[Any]]:
    """``items`` dealt into ``parts`` contiguous slices of nearly equal length."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


@dataclass
class Lab:
    """Owns every process and temp dir of one scenario; ``close`` stops them all."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="homer-bench-")))
    servers: list[Server] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    _count: int = 0

    def __post_init__(self) -> None:
        raise_nofile()

    def _next(self, name: str) -> Path:
        self._count += 1
        return self.root / f"{self._count:02d}-{name}"

    def homer(
        self,
        template: Template,
        env: dict[str, str] | None = None,
        launcher: list[str] | None = None,
        *,
        tcp: bool = False,
        irc: bool = False,
        mqtt: bool = False,
    ) -> HomerServer:
        """``homer serve`` on a copy of ``template``; ``tcp``: raw TCP on a port of its own,
        ``irc``: IRC on another, ``mqtt``: MQTT on another."""
        data = self._next("homer-data")
        shutil.copytree(template.path, data)
        server = HomerServer(
            data, self._next("homer.log"), env, launcher, tcp=tcp, irc=irc, mqtt=mqtt
        )
        self.servers.append(server)
        return server

    def asgi(self, template: Template, env: dict[str, str] | None = None) -> ASGIHomerServer:
        """Homer through ``asgi_app`` under uvicorn, on a copy of ``template``."""
        data = self._next("asgi-data")
        shutil.copytree(template.path, data)
        server = ASGIHomerServer(data, self._next("asgi.log"), env)
        self.servers.append(server)
        return server

    def socketio(self, template: Template) -> SocketIOServer:
        server = SocketIOServer(template.secret, self._next("socketio.log"))
        self.servers.append(server)
        return server

    def mosquitto(self) -> MosquittoServer:
        """A Mosquitto of its own, configured in this lab's temp dir."""
        server = MosquittoServer(self.root, self._next("mosquitto.log"))
        self.servers.append(server)
        return server

    def client(self, cls: type[ClientT] = Client) -> ClientT:  # type: ignore[assignment]
        """A client process (``cls``: a :class:`Client` subclass runs another script)."""
        client = cls(self._next("client.log"))
        self.clients.append(client)
        return client

    def stop(self, server: Server) -> None:
        server.stop()
        with contextlib.suppress(ValueError):
            self.servers.remove(server)

    def close(self) -> None:
        keep = os.environ.get("BENCH_KEEP_LOGS")  # a directory to copy server logs into
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for server in self.servers:
                with contextlib.suppress(OSError):
                    shutil.copy(server.log, Path(keep) / f"{server.pid}-{server.log.name}")
        errors: list[BaseException] = []
        for server in self.servers:  # servers first: clients then see a clean close
            try:
                server.stop()
            except BaseException as exc:
                errors.append(exc)
        for client in self.clients:
            try:
                client.stop()
            except BaseException as exc:
                errors.append(exc)
        self.servers.clear()
        self.clients.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the prepared data directory ----------------------------------------------------------

FAN_ROOMS = {"fan1000": 1000, "fan100": 100}


@dataclass
class Template:
    """A Homer data dir to copy for each server, and tokens that work on every copy.

    Users: ``owner`` (creates the fan-out rooms and publishes to them),
    ``f0..`` (fan-out subscribers: ``f0..f999`` in ``fan1000``, ``f0..f99`` also in
    ``fan100``), ``i0..`` (in no room: idle and connect), ``s0..s49`` (senders, each
    the owner of its own room ``p<i>``). Rooms ``c<r>-<j>``: empty public rooms for
    the connect scenario to join. ``sio`` holds PyJWT HS256 tokens (same claims) for
    the Socket.IO baseline, signed with ``secret``.
    """

    path: Path
    secret: str
    homer: dict[str, list[str]]
    sio: dict[str, list[str]]
    connect_rounds: int
    connect_size: int


#: What every networked scenario needs from the template, by mode (quick, full).
SIZES = {
    True: {"fan": 1000, "idle": 2000, "connect_rounds": 3, "connect_size": 300},
    False: {"fan": 1000, "idle": 5000, "connect_rounds": 5, "connect_size": 1000},
}
SENDERS = 50

_templates: dict[bool, Template] = {}
_room_templates: dict[tuple[tuple[str, int], ...], Template] = {}
_template_root: Path | None = None


def homer_template(quick: bool) -> Template:
    """The data dir for this mode: built once per benchmark run (a few seconds)."""
    template = _templates.get(quick)
    if template is None:
        sizes = SIZES[quick]
        idle = max(sizes["idle"], sizes["connect_rounds"] * sizes["connect_size"])
        template = _templates[quick] = asyncio.run(
            _build(sizes["fan"], idle, sizes["connect_rounds"], sizes["connect_size"], SENDERS)
        )
    return template


def rooms_template(rooms: dict[str, int], *, owner_member: bool = True) -> Template:
    """A data dir with user ``owner`` and, for each room, ``count`` users of its own
    (``<room>-0`` ...) who are its members (``owner`` owns them all; without
    ``owner_member``, ``<room>-0`` owns its room and ``owner`` is in none, so a room has
    exactly its ``count`` members): a room's members are in no other room, so a
    connection in one hears nothing of the others. Tokens by group: ``owner`` and each
    room's id; ``sio`` holds the same for the Socket.IO baseline. Built once per
    benchmark run and set of rooms."""
    key = (*sorted(rooms.items()), ("owner_member", int(owner_member)))
    template = _room_templates.get(key)
    if template is None:
        template = _room_templates[key] = asyncio.run(_build_rooms(rooms, owner_member))
    return template


def _cleanup_templates() -> None:
    if _template_root is not None:
        shutil.rmtree(_template_root, ignore_errors=True)


def _template_dir() -> Path:
    global _template_root
    import atexit

    if _template_root is None:
        _template_root = Path(tempfile.mkdtemp(prefix="homer-bench-template-"))
        atexit.register(_cleanup_templates)
    return Path(tempfile.mkdtemp(dir=_template_root))


async def _template_app(path: Path) -> Any:
    """A started Homer app on ``path``, with cheap passwords and no room quota."""
    from homer.config import HomerConfig, LimitsConfig
    from homer.core.app import Homer
    from homer.identity.passwords import Argon2Params

    config = HomerConfig(data_dir=str(path), limits=LimitsConfig(max_rooms_per_user=1_000_000))
    app = Homer(config, password_params=Argon2Params.cheap())
    await app.start()
    return app


async def _owner_and_users(app: Any) -> tuple[Any, Callable[[list[str]], Any]]:
    """The ``owner`` account, and a maker of users sharing its password hash.

    Thousands of argon2 runs would only slow the set-up down; the users are the
    records and audit events ``accounts.create`` writes."""
    from homer.identity.accounts import User
    from homer.identity.permissions import SYSTEM
    from homer.store.records import AuditEvent, UserRecord

    owner = await app.identity.accounts.create(SYSTEM, "owner", "bench-password")
    stored = await app.store.user_by_id(owner.id)
    assert stored is not None

    async def one(name: str) -> Any:
        now = app.clock()
        user = UserRecord(
            id=str(uuid.uuid4()),
            name=name,
            password_hash=stored.password_hash,
            group_id=stored.group_id,
            attributes={},
            created_at=now,
            updated_at=now,
        )
        event = AuditEvent("bench", "user.create", f"user:{name}", now, {"user_id": user.id})
        await app.store.insert_user(user, event)
        return User.from_record(user)

    async def users(names: list[str]) -> list[Any]:
        made: list[Any] = []
        for start in range(0, len(names), 500):
            made += await asyncio.gather(*(one(n) for n in names[start : start + 500]))
        return made

    return owner, users


def _tokens(
    app: Any, groups: dict[str, list[Any]]
) -> tuple[str, dict[str, list[str]], dict[str, list[str]]]:
    """Never-expiring Homer tokens for every group, and PyJWT HS256 tokens with the
    same claims for the Socket.IO baseline, signed with a fresh secret (returned)."""
    import jwt

    secret = secrets.token_urlsafe(32)
    homer_tokens = {
        name: [app.identity.tokens.issue(u.token_info(), ttl=None) for u in group]
        for name, group in groups.items()
    }
    issued = int(time.time())
    sio_tokens = {
        name: [
            jwt.encode(
                {
                    "sub": u.id,
                    "name": u.name,
                    "iat": issued,
                    "aud": "homer",
                    "jti": secrets.token_urlsafe(16),
                },
                secret,
                algorithm="HS256",
            )
            for u in group
        ]
        for name, group in groups.items()
    }
    return secret, homer_tokens, sio_tokens


async def _build(fan: int, idle: int, rounds: int, size: int, senders: int) -> Template:
    from homer.store.records import RoomRecord

    path = _template_dir()
    app = await _template_app(path)
    try:
        log("template: creating users")
        owner, users = await _owner_and_users(app)
        fans = await users([f"f{i}" for i in range(fan)])
        idles = await users([f"i{i}" for i in range(idle)])
        sends = await users([f"s{i}" for i in range(senders)])
        log("template: rooms and memberships")
        for room, members in FAN_ROOMS.items():
            await app.rooms.create(
                owner, room_id=room, kind="public", name=room, topic="", meta=None
            )
            for start in range(0, min(members, fan), 200):
                await asyncio.gather(
                    *(app.rooms.join(u, room) for u in fans[start : min(start + 200, members)])
                )
        for i, user in enumerate(sends):
            await app.rooms.create(
                user, room_id=f"p{i}", kind="public", name=f"p{i}", topic="", meta=None
            )
        log("template: connect rooms")
        now = app.clock()
        for r in range(rounds):
            await asyncio.gather(
                *(
                    app.store.create_room(
                        RoomRecord(f"c{r}-{j}", "public", f"c{r}-{j}", owner.id, now), []
                    )
                    for j in range(size)
                )
            )
        log("template: tokens")
        groups = {"owner": [owner], "fan": fans, "idle": idles, "senders": sends}
        secret, homer_tokens, sio_tokens = _tokens(app, groups)
    finally:
        await app.stop()
    log("template: done")
    return Template(path, secret, homer_tokens, sio_tokens, rounds, size)


async def _build_rooms(rooms: dict[str, int], owner_member: bool = True) -> Template:
    from homer.store.records import MemberRecord, RoomRecord

    path = _template_dir()
    app = await _template_app(path)
    try:
        log(f"template: {len(rooms)} rooms, {sum(rooms.values())} members")
        owner, users = await _owner_and_users(app)
        groups: dict[str, list[Any]] = {"owner": [owner]}
        made = await users([f"{room}-{i}" for room, count in rooms.items() for i in range(count)])
        now = app.clock()
        made_rooms = []
        for room, count in rooms.items():
            members = groups[room] = made[:count]
            made = made[count:]
            head = owner if owner_member else members[0]
            # Members from the start, as a room made with them: no join announcements
            # (a thousand joins would be half a million deliveries to set up).
            made_rooms.append(
                (
                    RoomRecord(room, "public", room, head.id, now),
                    [MemberRecord(room, head.id, "owner", now)]
                    + [MemberRecord(room, u.id, "member", now) for u in members if u is not head],
                )
            )
        for start in range(0, len(made_rooms), 100):
            await asyncio.gather(
                *(app.store.create_room(r, m) for r, m in made_rooms[start : start + 100])
            )
        secret, homer_tokens, sio_tokens = _tokens(app, groups)
    finally:
        await app.stop()
    log("template: done")
    return Template(path, secret, homer_tokens, sio_tokens, 0, 0)


# -- a room with a long backlog --------------------------------------------------------

#: The backlog room's id in :func:`backlog_template`.
BACKLOG_ROOM = "backlog"

_backlog_templates: dict[tuple[int, int, int], Template] = {}


def backlog_template(messages: int, rounds: int, size: int) -> Template:
    """A data dir for the connect scenario where every connecting user has ``messages``
    unread: ``owner`` wrote them all to room ``backlog``, whose members are the users
    ``b0..`` (``rounds * size`` of them, token group ``idle``); rooms ``c<r>-<j>``,
    empty, are there to join as in :func:`homer_template`. The messages go in through
    the store in large batches (a million take a few tens of seconds). Built once per
    benchmark run and size."""
    key = (messages, rounds, size)
    template = _backlog_templates.get(key)
    if template is None:
        template = _backlog_templates[key] = asyncio.run(_build_backlog(messages, rounds, size))
    return template


async def _build_backlog(messages: int, rounds: int, size: int) -> Template:
    from homer.store.records import MemberRecord, NewMessage, RoomRecord

    path = _template_dir()
    app = await _template_app(path)
    try:
        owner, users = await _owner_and_users(app)
        readers = await users([f"b{i}" for i in range(max(rounds * size, 50))])
        now = app.clock()
        # Members from the start, as a room made with them: no join announcements.
        await app.store.create_room(
            RoomRecord(BACKLOG_ROOM, "public", BACKLOG_ROOM, owner.id, now),
            [MemberRecord(BACKLOG_ROOM, owner.id, "owner", now)]
            + [MemberRecord(BACKLOG_ROOM, user.id, "member", now) for user in readers],
        )
        log(f"template: {messages:,} messages in {BACKLOG_ROOM}")
        body = {"text": "an old message nobody has read yet"}
        for start in range(0, messages, 20_000):
            await app.store.append_messages(
                [
                    NewMessage(BACKLOG_ROOM, f"m-{n}", owner.id, f"c-{n}", "msg", now, body)
                    for n in range(start, min(start + 20_000, messages))
                ]
            )
        for r in range(rounds):
            for j in range(size):
                await app.store.create_room(
                    RoomRecord(f"c{r}-{j}", "public", f"c{r}-{j}", owner.id, now), []
                )
        secret, homer_tokens, sio_tokens = _tokens(app, {"owner": [owner], "idle": readers})
    finally:
        await app.stop()
    log("template: done")
    return Template(path, secret, homer_tokens, sio_tokens, rounds, size)
