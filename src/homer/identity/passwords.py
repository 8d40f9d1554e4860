"""Password hashing with argon2id, off the event loop, in constant time.

Hashing costs tens to hundreds of milliseconds of CPU by design, so it runs
in a small bounded thread pool (argon2 releases the GIL). A login for an
unknown name verifies against a dummy hash made with the same parameters,
so it costs the same time and cannot tell names apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from homer.errors import ValidationFailed

__all__ = ["Argon2Params", "Passwords"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters. The defaults are RFC 9106's second recommendation
    (64 MiB, 3 passes); tests may pass :meth:`cheap`, production must not."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4

    @classmethod
    def cheap(cls) -> Argon2Params:
        """Fast, insecure parameters for tests and demos only."""
        return cls(time_cost=1, memory_cost_kib=256, parallelism=1)


MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 accepts more, but a megabyte "password" is an attack


class Passwords:
    """Hash and verify passwords; tells when a stored hash needs the current parameters."""

    def __init__(self, params: Argon2Params | None = None, *, workers: int = 2) -> None:
        self.params = params or Argon2Params()
        self._hasher = PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_cost_kib,
            parallelism=self.params.parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="homer-argon2")
        # Made on first use, in the hashing pool: it costs a full hash.
        self._dummy_hash: str | None = None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def check_policy(password: object) -> str:
        """The minimal policy Homer enforces; applications add theirs in front."""
        if not isinstance(password, str):
            raise ValidationFailed({"password": "must be a string"})
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ValidationFailed(
                {"password": f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"}
            )
        return password

    async def hash(self, password: str) -> str:
        self.check_policy(password)
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        """Return ``(matches, needs_rehash)``. ``stored_hash=None`` (no such user)
        costs the same and never matches."""
        return await self._run(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        if stored_hash is None and self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("homer: a password nobody has")
        target = stored_hash if stored_hash is not None else self._dummy_hash
        assert target is not None
        try:
            self._hasher.verify(target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored_hash is None:
            return False, False
        return True, self._hasher.check_needs_rehash(stored_hash)

    async def _run(self, fn: Callable[..., R], *args: object) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
