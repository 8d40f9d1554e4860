"""Configuration: defaults, then a TOML file, then ``HOMER_...`` environment
variables, then command-line flags; each later source wins.

Every setting has an environment name made of its path in the file, upper
case, joined by ``_``: ``[tokens] ttl`` is ``HOMER_TOKENS_TTL``, the top-level
``data_dir`` is ``HOMER_DATA_DIR``. Lists in the environment are
comma-separated. docs/reference/configuration.md lists every setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from homer.errors import InvalidInput

__all__ = [
    "AttributeSpec",
    "FilesConfig",
    "GroupSpec",
    "HomerConfig",
    "IdentityConfig",
    "LimitsConfig",
    "PasswordConfig",
    "ServerConfig",
    "SessionConfig",
    "TokenConfig",
    "load_config",
    "with_backends",
]


class AttributeSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A user attribute declared in the configuration file."""

    type: Literal["string", "integer", "number", "boolean", "email", "any"] = "string"
    required: bool = False
    default: Any = msgspec.UNSET
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    choices: list[Any] | None = None
    description: str = ""


class GroupSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    permissions: list[str] = []
    parent: str | None = None


class PasswordConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """argon2id cost; the defaults are RFC 9106's second recommendation."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4
    #: Threads that hash; each hash holds ``memory_cost_kib`` while it runs.
    workers: int = 2
    #: Hashes one client address may have queued or running at once; past it the
    #: request is refused at once (``rate_limited``). Addresses are served in turn.
    per_client: int = 4


def _default_groups() -> dict[str, GroupSpec]:
    return {
        "users": GroupSpec(permissions=["room.create", "room.mention_all", "room.post"]),
        "admins": GroupSpec(
            permissions=[
                "admin.audit",
                "admin.groups",
                "admin.tokens",
                "admin.users",
                "broadcast.send",
                "room.announce",
                "room.moderate",
            ],
            parent="users",
        ),
    }


def _default_attributes() -> dict[str, AttributeSpec]:
    return {
        "display_name": AttributeSpec(max_length=64, description="the name shown to others"),
        "email": AttributeSpec(type="email", description="contact address"),
    }


class IdentityConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: The group new users join.
    default_group: str = "users"
    #: Permission names the application adds to Homer's built-in ones.
    permissions: list[str] = []
    #: Groups created at start-up if they do not exist (never changed if they do).
    groups: dict[str, GroupSpec] = msgspec.field(default_factory=_default_groups)
    #: The user schema; an application in Python may pass a ``UserSchema`` instead.
    attributes: dict[str, AttributeSpec] = msgspec.field(default_factory=_default_attributes)
    #: Whether ``POST /api/register`` is open to anyone.
    open_registration: bool = True
    passwords: PasswordConfig = PasswordConfig()
    #: New passwords: at least this many characters (and at most 1024), no control
    #: characters, not only spaces.
    password_min_length: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 8
    #: The least zxcvbn strength estimate (0-4) a new password must reach; 0: none.
    password_min_score: Annotated[int, msgspec.Meta(ge=0, le=4)] = 2
    #: Refuse the 30,000 most common passwords, whatever the case.
    password_refuse_common: bool = True
    #: Which mixes of scripts a new user name may have (Unicode TS #39): ``single``
    #: (one script), ``highly_restrictive`` (one, or Latin with Han and Japanese kana,
    #: Bopomofo or Hangul) or ``any``. Look-alike names are refused whatever this says.
    name_scripts: Literal["single", "highly_restrictive", "any"] = "highly_restrictive"


class TokenConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: ``jwt`` (signed, readable by the holder) or ``aesgcm`` (encrypted).
    format: Literal["jwt", "aesgcm"] = "jwt"
    #: For ``jwt``: HS256 with a shared secret, or EdDSA / RS256 with a key pair.
    algorithm: Literal["HS256", "EdDSA", "RS256"] = "HS256"
    #: Secret for HS256 and aesgcm; relative paths are under the data dir. Created if missing.
    secret_file: str = "token-secret.key"
    #: PEM private key for EdDSA / RS256 (relative to the data dir).
    private_key_file: str | None = None
    #: Extra verification keys, ``kid = path``: old keys during a rotation, or the public
    #: keys of another backend that mints tokens (EdDSA / RS256 PEM, or a raw secret file).
    verify_keys: dict[str, str] = {}
    #: The key id written in new tokens.
    key_id: str = "k1"
    #: Lifetime in seconds; 0 means tokens do not expire.
    ttl: float = 1800.0
    #: User fields a token carries besides its subject (the user id).
    fields: list[str] = msgspec.field(default_factory=lambda: ["name"])
    #: The audience claim: a token issued for another purpose is refused.
    purpose: str = "homer"
    #: Give a guest identity to a missing or invalid token instead of refusing it.
    guest: bool = False


class SessionConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    #: Default lifetime of a server-side session, in seconds; 0 means none.
    ttl: float = 86_400.0


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Limits and back-pressure; every one answers with a clear error, never a hang."""

    #: Largest incoming frame (one request), in bytes; past it: ``too_large``.
    max_frame: int = 65_536
    #: Largest message text, in characters.
    max_text: int = 8_000
    #: Largest encoded structured payload of a message, in bytes.
    max_data: int = 16_384
    #: Requests per second per connection, and the burst allowed above it.
    rate: float = 20.0
    burst: int = 60
    #: Requests per second per user, over all their connections on one node.
    user_rate: float = 50.0
    user_burst: int = 150
    max_rooms_per_user: int = 1_000
    max_connections_per_user: int = 20
    #: Connections (WebSocket, raw TCP, SSE streams, long-poll queues) from one client
    #: address on one node; 0: no cap. Behind a proxy every client shares its address.
    max_connections_per_address: int = 1_000
    #: Bytes queued for one connection before it counts as too slow and is closed
    #: (it resumes from its last sequence number when it reconnects).
    send_queue: int = 1_048_576
    #: Seconds a closing connection has to take what waits for it and its close frame
    #: before its socket is cut (a reader that stopped reading never gets them).
    close_grace: float = 5.0
    #: Events a long-poll queue holds unpolled before it counts as too slow and is
    #: dropped (its bytes are bounded by ``send_queue``).
    queue_events: int = 1_000
    #: Seconds a long-poll queue lives without a poll before it is collected.
    queue_idle: float = 60.0
    #: Seconds of silence before the server pings a connection, and then seconds
    #: to wait for any answer before it is taken as dead (half-open detection).
    heartbeat: float = 20.0
    heartbeat_timeout: float = 10.0
    #: Seconds a new connection has to finish its handshake and ``hello``.
    handshake_timeout: float = 10.0
    #: Most messages one history request returns.
    history_limit: int = 500
    #: Most messages replayed per room on resume; past it the answer is "not recovered".
    resume_limit: int = 1_000
    #: Seconds a typing signal lasts.
    typing_ttl: float = 5.0
    #: Seconds a room event that arrived ahead of a missing one waits for it before
    #: the node reads the missing one from the store (several nodes only).
    reorder_wait: float = 0.2
    #: Seconds over which presence changes of one user are coalesced.
    presence_delay: float = 1.0
    #: Password attempts a minute for one account from one client address (strict),
    #: and from one client address over every account (loose).
    logins_per_account: int = 10
    logins_per_address: int = 60
    #: Password attempts a minute for one account over every address. Once spent it
    #: refuses only addresses that never logged into the account (the owner's known
    #: devices still get in): guessing from many addresses is slowed, and nobody can
    #: lock an account out by its name.
    logins_per_account_total: int = 100
    #: Sign-ups a minute from one client address, and the burst allowed above it.
    registrations_per_address: float = 3.0
    registration_burst: int = 5


#: A TCP port; 0 picks a free one.
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class MessagesConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Rich messaging (docs/protocol.md, "Changing messages")."""

    #: Keep the content an edit replaces, for moderators (``history_of``); off, an
    #: edit leaves nothing of what it replaced.
    keep_edits: bool = True
    #: The most results one search returns.
    search_limit: int = 50


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    #: Raw TCP (JSON lines for ``nc``, or length-prefixed frames): off unless set.
    tcp_port: Port | None = None
    #: IRC in plain text (docs/topics/irc.md): off unless set.
    irc_port: Port | None = None
    #: IRC over TLS, with ``tls_cert`` and ``tls_key``: off unless set.
    ircs_port: Port | None = None
    #: MQTT 3.1.1 and 5.0 in plain text (docs/topics/mqtt.md): off unless set.
    mqtt_port: Port | None = None
    #: MQTT over TLS, with ``tls_cert`` and ``tls_key``: off unless set.
    mqtts_port: Port | None = None
    #: TLS for every listener (HTTP, WebSocket, raw TCP): a PEM certificate chain
    #: and its private key; relative paths are under the data dir. Both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Origins of web pages, besides the pages this server serves, allowed to open a
    #: WebSocket, make requests that change something, and read answers (CORS).
    #: Empty: requests without an Origin (non-browser clients) and same-origin
    #: pages only. ``*``: any origin.
    origins: list[str] = []
    #: Host names this server answers to, besides IP addresses, ``localhost``, the
    #: ``host`` setting and ``public_url``'s host: a request naming another host in
    #: ``Host`` is refused (DNS rebinding). ``*``: any name.
    hosts: list[str] = []
    #: The URL users reach this server at, e.g. ``https://chat.example.com`` behind
    #: a proxy: its host is answered to, and its origin is this server's own.
    public_url: str | None = None
    #: ``plain`` or ``json`` log lines.
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Serve the web client at ``/``.
    web_client: bool = True
    #: Seconds to finish durable writes and say goodbye on shutdown.
    shutdown_grace: float = 10.0
    #: Use uvloop when it is installed.
    uvloop: bool = True


def _default_file_types() -> list[str]:
    return [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "application/zip",
        "audio/*",
        "video/*",
        "application/octet-stream",
    ]


class FilesConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Files shared in messages: what is accepted, and how images are handled."""

    #: Largest file, in bytes (25 MiB); past it the upload is refused as it streams.
    max_size: Annotated[int, msgspec.Meta(ge=1)] = 25 * 1024 * 1024
    #: The content types accepted, exactly or as ``type/*`` (``*/*``: anything).
    types: list[str] = msgspec.field(default_factory=_default_file_types)
    #: The longest edge of an image's thumbnail, in pixels; 0: no thumbnails.
    thumbnail: Annotated[int, msgspec.Meta(ge=0)] = 320
    #: Most pixels (width times height) an image may have: a larger one is refused
    #: before it is decoded (a small file can claim enormous dimensions).
    max_pixels: Annotated[int, msgspec.Meta(ge=1)] = 50_000_000


class IrcConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What IRC clients are told about this server (docs/topics/irc.md)."""

    #: The server's name in IRC lines (the source of numerics, hosts in masks).
    server_name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")] = "homer"
    #: The network's name (``NETWORK`` in ``RPL_ISUPPORT``).
    network: Annotated[str, msgspec.Meta(pattern=r"^[^\s,;=]{1,64}$")] = "Homer"
    #: The message of the day, shown at registration; empty: ``422 No MOTD``.
    motd: str = ""


class MqttTopicRule(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Who may use the free topics under ``prefix`` (``mqtt.free_topics``): the
    permission each direction needs; ``""``: any account; absent: nobody."""

    prefix: str
    publish: str | None = None
    subscribe: str | None = None


class MqttConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The MQTT listener (docs/topics/mqtt.md)."""

    #: Topics outside ``rooms/`` and ``users/`` as plain MQTT publish/subscribe (not
    #: stored as chat history), allowed by ``topics``; off, they are refused.
    free_topics: bool = False
    #: Permissions for the free topics, by topic prefix: the longest prefix that a
    #: topic starts with decides; a topic under none is refused.
    topics: list[MqttTopicRule] = []
    #: The longest a session outlives its connection, in seconds (a client asking
    #: for longer, or for "never", gets this; MQTT 3.1.1 clients without a clean
    #: session always get it).
    max_session_expiry: Annotated[int, msgspec.Meta(ge=0)] = 7 * 24 * 3600
    #: QoS 1 and 2 messages a client may have unacknowledged towards the server.
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 100
    #: QoS 1 and 2 messages the server has unacknowledged towards one client at most
    #: (less when the client's receive maximum is lower).
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 100
    #: Messages waiting for that window at most: past it the client is too slow
    #: and is disconnected (its session keeps its place).
    max_queued: Annotated[int, msgspec.Meta(ge=1)] = 1000
    #: Topic aliases a client may set (MQTT 5).
    topic_alias_maximum: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 10
    #: The largest packet a client may send, in bytes.
    max_packet_size: Annotated[int, msgspec.Meta(ge=64, le=268_435_455)] = 1024 * 1024
    #: The longest keep-alive a client may ask for, in seconds (0: any): a longer
    #: one, or none, is replaced by this (MQTT 5's server keep-alive).
    max_keep_alive: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    #: How often a connected persistent session's place is saved, in seconds: a
    #: crash of the server repeats at most what was sent in that time.
    save_interval: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    #: Retained messages sent for one subscription at most.
    retained_limit: Annotated[int, msgspec.Meta(ge=0)] = 1000


class HomerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    data_dir: str = "./homer-data"
    #: ``sqlite`` (a file in the data dir), ``sqlite:///path/to/file.db`` or
    #: ``postgresql://user@host:port/database``.
    store: str = "sqlite"
    #: ``NORMAL``: an ack survives a crash of the process; ``FULL``: a power loss too.
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    #: ``inprocess`` (one node) or ``amqp://user:password@host:port/vhost`` (RabbitMQ,
    #: several nodes sharing one store).
    broker: str = "inprocess"
    #: The topic exchange the nodes of one deployment share on RabbitMQ.
    broker_exchange: str = "homer"
    #: Where shared files' bytes go: ``file`` (``files/`` in the data dir),
    #: ``file:///path/to/dir`` or ``s3://bucket/prefix?endpoint=...&region=...``.
    blob: str = "file"
    messages: MessagesConfig = MessagesConfig()
    identity: IdentityConfig = IdentityConfig()
    tokens: TokenConfig = TokenConfig()
    sessions: SessionConfig = SessionConfig()
    server: ServerConfig = ServerConfig()
    irc: IrcConfig = IrcConfig()
    mqtt: MqttConfig = MqttConfig()
    limits: LimitsConfig = LimitsConfig()
    files: FilesConfig = FilesConfig()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    def under_data_dir(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.data_path / candidate


def _env_overlay(
    struct: type[msgspec.Struct],
    environ: Mapping[str, str],
    prefix: str,
    read: dict[str, str],
    path: str = "",
) -> dict[str, Any]:
    """Read ``PREFIX_FIELD`` variables for every field of ``struct``, recursively;
    ``read`` collects the setting path (``limits.rate``) of each variable read."""
    overlay: dict[str, Any] = {}
    hints = msgspec.structs.fields(struct)
    for info in hints:
        name = f"{prefix}_{info.name.upper()}"
        where = f"{path}{info.name}"
        kind = info.type
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            nested = _env_overlay(kind, environ, name, read, f"{where}.")
            if nested:
                overlay[info.name] = nested
        elif name in environ:
            overlay[info.name] = _env_value(environ[name], kind)
            read[where] = name
    return overlay


def _env_value(raw: str, kind: Any) -> Any:
    """Lists are comma-separated; booleans read yes/no, on/off, true/false, 1/0;
    numbers are converted by msgspec (lax mode)."""
    if getattr(kind, "__origin__", None) is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if kind is bool:
        return _BOOLEANS.get(raw.strip().lower(), raw)
    return raw


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True} | {
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> HomerConfig:
    """Build the configuration; raise :class:`InvalidInput` naming what is wrong.

    ``overrides`` are the command-line flags (``None`` values are ignored).
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InvalidInput(f"config file not found: {path}") from exc
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read config file {path}: {exc}") from exc
    environ = os.environ if environ is None else environ
    from_env: dict[str, str] = {}
    data = _merge(data, _env_overlay(HomerConfig, environ, "HOMER", from_env))
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    data = _merge(data, flags)
    try:
        return msgspec.convert(data, HomerConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_explain(str(exc), path, environ, from_env, flags)) from exc


def _explain(
    error: str,
    path: Path | None,
    environ: Mapping[str, str],
    from_env: Mapping[str, str],
    flags: Mapping[str, Any],
) -> str:
    """Name the source at fault: the ``HOMER_*`` variable that set the failing value
    (or its list or table), else the setting in the file."""
    reason, _, at = error.rpartition(" - at `$.")
    setting = at.rstrip("`")
    in_file = f" in {path}" if path is not None else ""
    if not reason:  # no path: the whole document is at fault
        return f"bad configuration{in_file}: {error}"
    for where, variable in from_env.items():
        if where not in flags and (
            setting == where or setting.startswith((f"{where}.", f"{where}["))
        ):
            return f"bad configuration: {variable}={environ[variable]!r}: {reason}"
    return f"bad configuration{in_file}: {setting}: {reason}"


def with_backends(
    config: HomerConfig,
    *,
    store: str | None = None,
    broker: str | None = None,
    blob: str | None = None,
) -> HomerConfig:
    """``config`` with the store, broker and file storage URLs given on the command
    line, if any."""
    flags = {
        k: v for k, v in (("store", store), ("broker", broker), ("blob", blob)) if v is not None
    }
    return msgspec.structs.replace(config, **flags) if flags else config
