"""``homer serve``: run a node."""

from __future__ import annotations

import asyncio
import logging

import click
import msgspec

from homer.cli.identity import common_options, fail
from homer.config import HomerConfig, with_backends
from homer.errors import HomerError
from homer.server.app import Homer
from homer.server.logs import configure_logging
from homer.server.runner import serve as run_server

__all__ = ["serve"]

log = logging.getLogger("homer.serve")


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
@common_options
def serve(
    config: HomerConfig,
    host: str | None,
    port: int | None,
    tcp_port: int | None,
    store: str | None,
    broker: str | None,
) -> None:
    """Run a Homer server: WebSocket at /ws, HTTP API, web client at /.

    The HTTP API is REST (described at /api/openapi.json), runs any
    operation at /api/ops/{op} and streams events (Server-Sent Events at
    /api/events, long-poll queues at /api/queues); --tcp-port adds raw TCP.
    TLS comes from server.tls_cert and server.tls_key in the configuration.

    One node runs on SQLite and an in-process broker. Several nodes share a
    PostgreSQL store (--store) and a RabbitMQ broker (--broker).

    Stops cleanly on SIGINT or SIGTERM: in-flight writes finish, sessions are
    told to reconnect and resume, and the process exits 0.
    """
    flags = {
        k: v for k, v in (("host", host), ("port", port), ("tcp_port", tcp_port)) if v is not None
    }
    config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, **flags))
    config = with_backends(config, store=store, broker=broker)
    configure_logging(config.server.log_format, config.server.log_level)
    runner = asyncio.run
    if config.server.uvloop:
        try:
            import uvloop
        except ImportError:
            log.info("uvloop is not installed: running on asyncio's own event loop")
        else:
            runner = uvloop.run
    try:
        runner(run_server(Homer(config), announce=lambda line: click.echo(line, err=True)))
    except HomerError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot listen: {exc}")
