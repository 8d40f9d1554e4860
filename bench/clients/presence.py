"""The lean client (``bench/clients/lean.py``) counting the presence it hears.

Every Homer connection counts the presence frames it receives (``presence``,
one change, and ``presences``, several) and the changes in them (each carries
one ``"status":``), found by the bytes they start with, never decoded, so that
thousands of connections hearing thousands of changes cost the client little.

Commands added to ``lean.py``'s:

* ``presence_reset()``: the counts back to zero.
* ``presence_counts()``: ``frames``, ``changes`` and ``bytes`` over every
  connection, ``max_frames`` on any one, and ``conns``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lean

#: Both presence events start so: ``{"op":"presence",`` and ``{"op":"presences",``.
PRESENCE = b'{"op":"presence'
STATUS = b'"status":'


class PresenceConn(lean.Conn):
    __slots__ = ("presence_bytes", "presence_changes", "presence_frames")

    def __init__(self, worker: lean.Worker, kind: str) -> None:
        super().__init__(worker, kind)
        self.presence_frames = 0
        self.presence_changes = 0
        self.presence_bytes = 0

    def _homer_text(self, payload: bytes) -> None:
        if payload.startswith(PRESENCE):
            self.presence_frames += 1
            self.presence_changes += payload.count(STATUS)
            self.presence_bytes += len(payload)
            return
        super()._homer_text(payload)


class PresenceWorker(lean.Worker):
    def make_conn(self, kind: str) -> lean.Conn:
        return PresenceConn(self, kind)

    def _presence_conns(self) -> list[PresenceConn]:
        return [c for c in self.conns if isinstance(c, PresenceConn)]

    def cmd_presence_reset(self) -> dict[str, Any]:
        conns = self._presence_conns()
        for conn in conns:
            conn.presence_frames = conn.presence_changes = conn.presence_bytes = 0
        return {"conns": len(conns)}

    def cmd_presence_counts(self) -> dict[str, Any]:
        conns = self._presence_conns()
        return {
            "conns": len(conns),
            "frames": sum(c.presence_frames for c in conns),
            "changes": sum(c.presence_changes for c in conns),
            "bytes": sum(c.presence_bytes for c in conns),
            "max_frames": max((c.presence_frames for c in conns), default=0),
            "closed": sum(1 for c in conns if c.closed),
        }


if __name__ == "__main__":
    lean.run(PresenceWorker)
