"""The ``homer`` command.

Exit codes: 0 success; 1 invalid input or a refused operation (one line on
stderr says what was wrong); 2 usage; ``homer token check`` also exits 3 for
an expired token and 4 for an invalid one.
"""

from __future__ import annotations

import importlib

import click

from homer import __version__

__all__ = ["main"]

#: Each command, and the module that defines it: imported when the command runs
#: (or a listing of every command is asked for), so ``homer user add`` does not
#: load the server, nor ``homer serve`` the terminal client.
COMMANDS = {
    "serve": "homer.cli.serve",
    "migrate": "homer.cli.migrate",
    "user": "homer.cli.identity",
    "group": "homer.cli.identity",
    "token": "homer.cli.identity",
    "audit": "homer.cli.identity",
    "permissions": "homer.cli.identity",
    "chat": "homer.cli.chat",
    "backup": "homer.cli.data",
    "restore": "homer.cli.data",
    "copy": "homer.cli.data",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        command = getattr(importlib.import_module(where), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="homer")
def cli() -> None:
    """Homer: an instant-messaging framework and server.

    Every command but chat takes --data-dir DIR (default ./homer-data) and
    --config FILE (a TOML file); settings also come from HOMER_* environment
    variables.
    """


def main() -> None:
    cli(prog_name="homer")
