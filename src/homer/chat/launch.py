"""Starting ``homer chat`` from the command line: the files under the
configuration directory, then the app."""

from __future__ import annotations

from pathlib import Path

from homer.chat.app import ChatApp
from homer.chat.credentials import TokenStore
from homer.chat.emoticons import load_emoticons_file
from homer.chat.paths import config_dir

__all__ = ["run"]


def run(
    url: str,
    *,
    name: str | None,
    password: str | None,
    token: str | None,
    register: bool,
    save: bool,
    state_dir: Path | None = None,
) -> None:
    """Run the app until the user quits; :class:`~homer.chat.emoticons.EmoticonError`
    when the user's emoticon file is malformed."""
    directory = config_dir()
    app = ChatApp(
        url,
        name=name,
        password=password,
        token=token,
        register=register,
        tokens=TokenStore(directory / "tokens") if save else None,
        emoticons=load_emoticons_file(directory / "emoticons.toml"),
        # Unread messages, history and the outbox, per server and account.
        state_dir=state_dir or True,
    )
    app.run()
