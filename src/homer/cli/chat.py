"""``homer chat``: the terminal chat client (:mod:`homer.chat`)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["chat"]


@click.command()
@click.argument("url", default="http://127.0.0.1:8080", envvar="HOMER_CHAT_URL")
@click.option("--name", envvar="HOMER_CHAT_NAME", help="Log in as NAME (or HOMER_CHAT_NAME).")
@click.option(
    "--password",
    envvar="HOMER_CHAT_PASSWORD",
    help="The password; prefer HOMER_CHAT_PASSWORD, which other users cannot see.",
)
@click.option(
    "--token", envvar="HOMER_CHAT_TOKEN", help="Connect with a token (or HOMER_CHAT_TOKEN)."
)
@click.option(
    "--register", is_flag=True, help="Make the account first, with --name and --password."
)
@click.option("--no-save", is_flag=True, help="Do not keep the login for the next start.")
@click.option(
    "--state-dir",
    envvar="HOMER_CHAT_STATE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep unread messages, history and unsent messages here"
    " [default: the user's data directory] (or HOMER_CHAT_STATE_DIR).",
)
def chat(
    url: str,
    name: str | None,
    password: str | None,
    token: str | None,
    register: bool,
    no_save: bool,
    state_dir: Path | None,
) -> None:
    """Chat in the terminal with the Homer server at URL [default: http://127.0.0.1:8080].

    Without --name and --password (or --token) it connects with the login kept
    from the last time, or shows a login form. Keys, commands and emoticons:
    /help inside, or docs/reference/chat.md.
    """
    # Imported here so that the other commands (homer serve) do not load Textual.
    from homer.chat.emoticons import EmoticonError
    from homer.chat.launch import run

    if register and not (name and password):
        raise click.UsageError("--register needs --name and --password")
    try:
        run(
            url,
            name=name,
            password=password,
            token=token,
            register=register,
            save=not no_save,
            state_dir=state_dir,
        )
    except EmoticonError as exc:
        raise click.ClickException(str(exc)) from exc
