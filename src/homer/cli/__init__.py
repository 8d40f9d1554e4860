"""The ``homer`` command.

Exit codes: 0 success; 1 invalid input or a refused operation (one line on
stderr says what was wrong); 2 usage; ``homer token check`` also exits 3 for
an expired token and 4 for an invalid one.
"""

from __future__ import annotations

import click

from homer import __version__
from homer.cli.chat import chat
from homer.cli.data import backup, copy, restore
from homer.cli.identity import audit, group, permissions, token, user
from homer.cli.migrate import migrate
from homer.cli.serve import serve

__all__ = ["main"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="homer")
def cli() -> None:
    """Homer: an instant-messaging framework and server.

    Every command but chat takes --data-dir DIR (default ./homer-data) and
    --config FILE (a TOML file); settings also come from HOMER_* environment
    variables.
    """


cli.add_command(serve)
cli.add_command(migrate)
cli.add_command(user)
cli.add_command(group)
cli.add_command(token)
cli.add_command(audit)
cli.add_command(permissions)
cli.add_command(chat)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(copy)


def main() -> None:
    cli(prog_name="homer")
