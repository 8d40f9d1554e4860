"""Security events: failed and throttled logins, refused sign-ups, refused
password work, password changes and token revocations.

Each is counted by kind for whoever listens (the node's Prometheus metrics,
``homer_security_events_total{kind=...}``) and written to the audit log
(``homer audit``). Password changes and revocations are already written in
the transaction of the change itself, so they are only counted here. Kinds a
client can repeat at no cost to itself (a refusal before any hashing) are
written once a minute per actor and target, with the count of the ones
folded in, so a flood cannot turn into a flood of writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homer.clock import Clock, system_clock
from homer.store.ports import AuditLog
from homer.store.records import AuditEvent

__all__ = ["KINDS", "SecurityEvents"]

#: Every kind, with what it means.
KINDS: Mapping[str, str] = {
    "login.failed": "a wrong password, or a name nobody has",
    "login.throttled": "a login refused by a rate limit before any hashing",
    "registration.refused": "a sign-up refused: an invalid field or a name taken",
    "registration.throttled": "a sign-up refused by the per-address rate limit",
    "hashing.refused": "password work refused: the address had too much queued",
    "user.passwd": "a password changed or set",
    "token.revoke": "one token revoked",
    "token.revoke_all": "every token of a user revoked",
}

#: Kinds written at most once per minute per (kind, actor, target).
_COALESCED = frozenset({"login.throttled", "registration.throttled", "hashing.refused"})
_WINDOW = 60.0
_MAX_KEYS = 10_000


class SecurityEvents:
    def __init__(self, log: AuditLog | None, *, clock: Clock = system_clock) -> None:
        self.log = log
        self.clock = clock
        self._listeners: list[Callable[[str], None]] = []
        #: (kind, actor, target) -> (when last written, how many folded in since)
        self._recent: dict[tuple[str, str, str], tuple[float, int]] = {}

    def listen(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(kind)`` on every event, as it happens."""
        self._listeners.append(listener)

    def count(self, kind: str) -> None:
        """Tell the listeners of an event the audit log already holds."""
        if kind not in KINDS:
            raise ValueError(f"unknown security event kind {kind!r}")
        for listener in self._listeners:
            listener(kind)

    async def record(
        self, kind: str, *, actor: str, target: str, detail: Mapping[str, Any] | None = None
    ) -> None:
        """Count the event and write it to the audit log."""
        self.count(kind)
        if self.log is None:
            return
        now = self.clock()
        details = dict(detail or {})
        if kind in _COALESCED:
            key = (kind, actor, target)
            last = self._recent.get(key)
            if last is not None and now - last[0] < _WINDOW:
                self._recent[key] = (last[0], last[1] + 1)
                return
            if len(self._recent) >= _MAX_KEYS:
                self._recent = {k: v for k, v in self._recent.items() if now - v[0] < _WINDOW}
                if len(self._recent) >= _MAX_KEYS:
                    self._recent.clear()
            self._recent[key] = (now, 0)
            if last is not None and last[1]:
                details["repeated"] = last[1]
        event = AuditEvent(
            actor=actor[:200], action=kind, target=target[:200], at=now, detail=details
        )
        await self.log.record_audit([event])
