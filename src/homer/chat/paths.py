"""Where ``homer chat`` keeps its files: the user's configuration directory for
Homer (``platformdirs``: ``~/.config/homer`` on Linux, ``~/Library/Application
Support/homer`` on macOS, ``%LOCALAPPDATA%\\homer`` on Windows), or the
directory named by ``HOMER_CHAT_CONFIG_DIR``."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["config_dir"]

#: The environment variable that moves the configuration directory.
CONFIG_DIR_VARIABLE = "HOMER_CHAT_CONFIG_DIR"


def config_dir() -> Path:
    chosen = os.environ.get(CONFIG_DIR_VARIABLE)
    if chosen:
        return Path(chosen)
    return Path(platformdirs.user_config_dir("homer", appauthor=False))
