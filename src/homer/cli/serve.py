"""``homer serve``: run a node."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from homer.cli.identity import fail
from homer.config import load_config
from homer.errors import HomerError
from homer.server.app import Homer
from homer.server.logs import configure_logging
from homer.server.runner import serve as run_server

__all__ = ["serve"]


@click.command()
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="[default: 8080]")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where Homer keeps its data [default: ./homer-data].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="HOMER_CONFIG",
    help="A TOML configuration file.",
)
def serve(
    host: str | None, port: int | None, data_dir: Path | None, config_file: Path | None
) -> None:
    """Run a Homer server: WebSocket at /ws, HTTP API, web client at /.

    Stops cleanly on SIGINT or SIGTERM: in-flight writes finish, sessions are
    told to reconnect and resume, and the process exits 0.
    """
    try:
        config = load_config(
            config_file,
            overrides={
                "data_dir": str(data_dir) if data_dir else None,
                "server": {k: v for k, v in (("host", host), ("port", port)) if v is not None},
            },
        )
    except HomerError as exc:
        fail(exc.message)
    configure_logging(config.server.log_format, config.server.log_level)
    runner = asyncio.run
    if config.server.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            runner = uvloop.run
    try:
        runner(run_server(Homer(config), announce=lambda line: click.echo(line, err=True)))
    except HomerError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot listen: {exc}")
