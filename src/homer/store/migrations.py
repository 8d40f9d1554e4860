"""Numbered, forward-only schema migrations shipped as SQL files in the package.

A migration is a file ``NNNN_what.sql`` in an adapter's ``migrations`` folder.
Each adapter applies the ones above its recorded version, in order, each in
its own transaction, and records the number. The numbers are shared by every
adapter: migration 3 means the same schema on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "load_migrations"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """The migrations in ``package``, checked to be numbered 1, 2, 3... without a hole."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations in {package} are not numbered 1..n: {numbers}")
    return found
