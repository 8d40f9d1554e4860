"""Password hashing with argon2id, off the event loop, in constant time.

Hashing costs tens to hundreds of milliseconds of CPU by design, so it runs
in a small bounded thread pool (argon2 releases the GIL). A login for an
unknown name verifies against a dummy hash made with the same parameters,
so it costs the same time and cannot tell names apart.

The pool serves clients (client addresses) in fair shares: each client has a
queue of its own, a free worker takes the next job of the next client in
turn, one client never holds every worker, and a client with ``per_client``
jobs queued or running is refused at once (``RateLimited``) rather than
queued. New hashes (sign-ups, password changes) run on threads of lower
operating-system priority (nice +10, where the system allows it) than
checks of a login, which a user waits on. A flood of sign-ups from one
address then costs another address's login little (bench/scenarios/
login_flood.py, docs/decisions/0022-login-throttling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from homer.errors import RateLimited, ValidationFailed
from homer.identity.password_policy import MAX_PASSWORD, MIN_PASSWORD, PasswordPolicy

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "Argon2Params", "FairPool", "Passwords"]

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


@dataclass(eq=False, slots=True)
class _Job:
    client: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any] = field(repr=False)
    background: bool = False


class FairPool:
    """Runs blocking jobs on ``workers`` threads of ``executor``, one client's queue
    after another's (round robin), at most ``per_client`` jobs queued or running
    per client. One client never holds every worker (at most ``workers - 1``, at
    least one): another client's job starts at once instead of waiting for one to
    end. Lives on one event loop."""

    def __init__(
        self,
        executor: Executor,
        *,
        workers: int,
        per_client: int,
        background: Executor | None = None,
    ) -> None:
        if workers < 1 or per_client < 1:
            raise ValueError("workers and per_client must be at least 1")
        self.executor = executor
        #: Where jobs run with ``background=True`` (threads of lower priority);
        #: ``workers`` counts the jobs of both.
        self.background = background or executor
        self.workers = workers
        self.per_client = per_client
        #: Clients with queued jobs, in turn order: the next job comes from the first.
        self._queues: dict[str, deque[_Job]] = {}
        #: Jobs queued or running, per client.
        self._load: dict[str, int] = {}
        self._running = 0
        #: Jobs running, per client, and the most one client may have running.
        self._busy: dict[str, int] = {}
        self.max_running = max(1, workers - 1)
        #: Called with the client of each job as a worker starts it (order of service).
        self.on_start: Callable[[str], None] | None = None

    def statistics(self) -> dict[str, int]:
        return {
            "running": self._running,
            "queued": sum(len(q) for q in self._queues.values()),
            "clients": len(self._load),
        }

    async def run(
        self, client: str, fn: Callable[..., R], *args: Any, background: bool = False
    ) -> R:
        """``fn(*args)`` in the pool, in ``client``'s turn; ``RateLimited`` at once if
        ``client`` already has ``per_client`` jobs queued or running."""
        load = self._load.get(client, 0)
        if load >= self.per_client:
            raise RateLimited("too many password checks from this address at once", 1.0)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._load[client] = load + 1
        job = _Job(client, fn, args, future, background)
        self._queues.setdefault(client, deque()).append(job)
        self._start_next()
        try:
            return await future
        finally:
            left = self._load[client] - 1
            if left:
                self._load[client] = left
            else:
                del self._load[client]

    def _start_next(self) -> None:
        while self._running < self.workers:
            client = next(
                (c for c in self._queues if self._busy.get(c, 0) < self.max_running), None
            )
            if client is None:
                return
            queue = self._queues.pop(client)
            job = queue.popleft()
            if queue:
                self._queues[client] = queue  # to the back of the line
            if job.future.done():  # its caller went away while it waited
                continue
            self._running += 1
            self._busy[client] = self._busy.get(client, 0) + 1
            if self.on_start is not None:
                self.on_start(client)
            executor = self.background if job.background else self.executor
            done = asyncio.get_running_loop().run_in_executor(executor, job.fn, *job.args)
            done.add_done_callback(functools.partial(self._finished, job))

    def _finished(self, job: _Job, result: asyncio.Future[Any]) -> None:
        self._running -= 1
        busy = self._busy[job.client] - 1
        if busy:
            self._busy[job.client] = busy
        else:
            del self._busy[job.client]
        if not job.future.done():
            if result.cancelled():
                job.future.cancel()
            elif (error := result.exception()) is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result.result())
        self._start_next()


class Passwords:
    """Hash and verify passwords; tells when a stored hash needs the current parameters."""

    def __init__(
        self,
        params: Argon2Params | None = None,
        *,
        workers: int = 2,
        per_client: int = 4,
        policy: PasswordPolicy | None = None,
    ) -> None:
        self.params = params or Argon2Params()
        #: What a new password must be (:meth:`hash_new`).
        self.policy = policy or PasswordPolicy()
        self._hasher = PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_cost_kib,
            parallelism=self.params.parallelism,
            type=Type.ID,
        )
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="homer-argon2")
        self._background = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="homer-argon2-new", initializer=_lower_priority
        )
        self.pool = FairPool(
            self._executor, workers=workers, per_client=per_client, background=self._background
        )
        # Made on first use, in the hashing pool: it costs a full hash.
        self._dummy_hash: str | None = None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._background.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def check_policy(password: object) -> str:
        """The form every password must have (8 to 1024 characters, no control
        characters, not only spaces); :meth:`hash_new` applies the whole policy."""
        return PasswordPolicy().check_form(password)

    async def hash_new(
        self, password: str, *, client: str = "", user_inputs: Sequence[str] = ()
    ) -> str:
        """The hash of a password about to be set, once it passes :attr:`policy`
        (``ValidationFailed`` on ``password`` saying why, otherwise). The strength
        estimate runs in the hashing pool in ``client``'s turn, with the hash;
        ``user_inputs`` (the name, attributes) count as easy to guess."""
        self.policy.check_form(password)
        weakness, hashed = await self.pool.run(
            client, self._judge_and_hash, password, tuple(user_inputs), background=True
        )
        if weakness is not None:
            raise ValidationFailed({"password": weakness})
        return hashed

    def _judge_and_hash(self, password: str, user_inputs: Sequence[str]) -> tuple[str | None, str]:
        weakness = self.policy.weakness(password, user_inputs)
        if weakness is not None:
            return weakness, ""
        return None, self._hasher.hash(password)

    async def hash(self, password: str, *, client: str = "", background: bool = True) -> str:
        """The hash of ``password``, computed in ``client``'s turn (a client address),
        at lower priority unless ``background=False`` (a user waits on it). Only the
        form is checked: :meth:`hash_new` for a password about to be set."""
        self.policy.check_form(password)
        return await self.pool.run(client, self._hasher.hash, password, background=background)

    async def verify(
        self, stored_hash: str | None, password: str, *, client: str = ""
    ) -> tuple[bool, bool]:
        """Return ``(matches, needs_rehash)``. ``stored_hash=None`` (no such user)
        costs the same and never matches."""
        return await self.pool.run(client, self._verify, stored_hash, password)

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


def _lower_priority() -> None:
    """Run this thread, and the threads argon2 starts from it for its lanes (they
    inherit it), at nice +10 where the system allows it (Linux: per thread)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
