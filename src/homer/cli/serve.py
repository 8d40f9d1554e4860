"""``homer serve``: run a node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import click
import msgspec

from homer.cli.identity import common_options, fail
from homer.config import HomerConfig, with_backends
from homer.core.app import Homer
from homer.errors import HomerError
from homer.node.logs import configure_logging
from homer.node.runner import serve as run_server
from homer.store.factory import sqlite_path

__all__ = ["serve"]

log = logging.getLogger("homer.serve")

#: The database file and the files SQLite keeps beside it.
_SQLITE_ENDINGS = ("", "-wal", "-shm", "-journal")


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="[default: 8080]")
@click.option(
    "--tcp-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also listen for raw TCP (JSON lines, e.g. with nc; or length-prefixed frames).",
)
@click.option(
    "--irc-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also listen for IRC clients (irssi, weechat, bots): #room is a room.",
)
@click.option(
    "--ircs-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also listen for IRC over TLS, with server.tls_cert and server.tls_key.",
)
@click.option(
    "--mqtt-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also listen for MQTT 3.1.1 and 5 clients: rooms/<room> is a room.",
)
@click.option(
    "--mqtts-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Also listen for MQTT over TLS, with server.tls_cert and server.tls_key.",
)
@click.option(
    "--store",
    default=None,
    metavar="URL",
    help="sqlite (default), sqlite:///path.db or postgresql://user@host:port/db.",
)
@click.option(
    "--broker",
    default=None,
    metavar="URL",
    help="inprocess (default, one node) or amqp://user:pass@host:port/vhost (RabbitMQ).",
)
@click.option(
    "--blob",
    default=None,
    metavar="URL",
    help="Where shared files go: file (default, in the data directory), file:///dir"
    " or s3://bucket[/prefix]?endpoint=URL.",
)
@common_options
def serve(
    config: HomerConfig,
    host: str | None,
    port: int | None,
    tcp_port: int | None,
    irc_port: int | None,
    ircs_port: int | None,
    mqtt_port: int | None,
    mqtts_port: int | None,
    store: str | None,
    broker: str | None,
    blob: str | None,
) -> None:
    """Run a Homer server: WebSocket at /ws, HTTP API, web client at /.

    The HTTP API is REST (described at /api/openapi.json), runs any
    operation at /api/ops/{op} and streams events (Server-Sent Events at
    /api/events, long-poll queues at /api/queues); --tcp-port adds raw TCP,
    --irc-port and --ircs-port IRC (docs/topics/irc.md), --mqtt-port and
    --mqtts-port MQTT (docs/topics/mqtt.md).
    TLS comes from server.tls_cert and server.tls_key in the configuration.

    One node runs on SQLite and an in-process broker, with files in its data
    directory. Several nodes share a PostgreSQL store (--store), a RabbitMQ
    broker (--broker) and an S3 bucket for files (--blob).

    Stops cleanly on SIGINT or SIGTERM: in-flight writes finish, sessions are
    told to reconnect and resume, and the process exits 0.
    """
    given = {
        "host": host,
        "port": port,
        "tcp_port": tcp_port,
        "irc_port": irc_port,
        "ircs_port": ircs_port,
        "mqtt_port": mqtt_port,
        "mqtts_port": mqtts_port,
    }
    flags = {k: v for k, v in given.items() if v is not None}
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, **flags))
    config = with_backends(config, store=store, broker=broker, blob=blob)
    configure_logging(config.server.log_format, config.server.log_level)
    runner = asyncio.run
    if config.server.uvloop:
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed: running on asyncio's own event loop")
        else:
            runner = uvloop.run
    leftovers = _would_create(config)
    started = False

    def announce(line: str) -> None:
        nonlocal started
        started = True
        click.echo(line, err=True)

    try:
        runner(run_server(Homer(config), announce=announce))
    except (HomerError, OSError) as exc:
        if not started:  # a server that never ran leaves nothing behind
            _remove(leftovers)
        fail(exc.message if isinstance(exc, HomerError) else f"cannot listen: {exc}")


def _would_create(config: HomerConfig) -> list[Path]:
    """What starting may create that is not there yet: files first, then the
    directories holding them, deepest first."""
    files = [config.under_data_dir(config.tokens.secret_file)]
    database = sqlite_path(config)
    if database is not None and not database.exists():  # never touch an existing one's log
        files += [database.with_name(database.name + end) for end in _SQLITE_ENDINGS]
    directories = [config.data_path, *config.data_path.parents]
    for path in files:
        directories += [path.parent, *path.parent.parents]
    missing_dirs = sorted(
        {d for d in directories if not d.exists()}, key=lambda d: len(d.parts), reverse=True
    )
    return [f for f in files if not f.exists()] + missing_dirs


def _remove(paths: list[Path]) -> None:
    """Remove what :func:`_would_create` listed; a directory something else now
    uses is not empty and stays."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
