"""The token file: a login kept for the next start.

One file per server URL and account, ``tokens/<host>-<name>-<hash>.json`` in
the configuration directory (:func:`homer.chat.paths.config_dir`), readable and
writable by its owner only (0600, in a 0700 directory). It holds the URL, the
account's name, the token and when it expires; never the password. The
functions here block (they touch files): the app runs them in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SavedLogin", "TokenStore"]


@dataclass(frozen=True, slots=True)
class SavedLogin:
    url: str
    name: str
    token: str
    #: Seconds since the epoch; ``None``: the token does not expire.
    expires_at: float | None = None

    def usable(self, now: float, *, margin: float = 30.0) -> bool:
        """Whether the token is worth trying: it does not expire within ``margin``."""
        return self.expires_at is None or self.expires_at - margin > now


class TokenStore:
    """The saved logins under ``directory`` (``<config dir>/tokens``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, url: str, name: str) -> Path:
        url = normal_url(url)
        host = re.sub(r"[^A-Za-z0-9.-]+", "_", url.split("://", 1)[-1])[:40]
        digest = hashlib.sha256(f"{url}\0{name.lower()}".encode()).hexdigest()[:12]
        return self.directory / f"{host}-{name.lower()}-{digest}.json"

    def save(self, login: SavedLogin) -> Path:
        """Write ``login`` (replacing the account's previous one), owner-only."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # a directory made by someone else stays theirs
            self.directory.chmod(0o700)
        path = self.path(login.url, login.name)
        temporary = path.with_suffix(".tmp")
        data = {
            "url": normal_url(login.url),
            "name": login.name,
            "token": login.token,
            "expires_at": login.expires_at,
        }
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            if hasattr(os, "fchmod"):  # an existing file keeps its mode: make it 0600
                os.fchmod(file.fileno(), 0o600)
            json.dump(data, file)
        os.replace(temporary, path)
        return path

    def load(self, url: str, name: str | None = None) -> SavedLogin | None:
        """The login saved for ``url`` (and ``name``; without one, the account
        used last there), or ``None``."""
        url = normal_url(url)
        if name is not None:
            candidates = [self.path(url, name)]
        else:
            try:
                candidates = sorted(
                    self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True
                )
            except OSError:
                return None
        for path in candidates:
            login = read_login(path)
            if login is not None and login.url == url:
                return login
        return None

    def forget(self, url: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(url, name).unlink()


def normal_url(url: str) -> str:
    return url.strip().rstrip("/")


def read_login(path: Path) -> SavedLogin | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    url, name, token = data.get("url"), data.get("name"), data.get("token")
    expires_at = data.get("expires_at")
    if not (isinstance(url, str) and isinstance(name, str) and isinstance(token, str)):
        return None
    if expires_at is not None and not isinstance(expires_at, int | float):
        return None
    return SavedLogin(url, name, token, None if expires_at is None else float(expires_at))
