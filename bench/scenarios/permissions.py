"""Permission checks: ``Authorizer.can`` on one core, against the floor it sits on.

Every operation on the server asks ``can(user, permission)``. The baseline is
the least any cache can do: one dict lookup and one set membership test,
measured in the same run. Users are spread over a three-level group tree and
checked round-robin, half allowed and half denied. The target is 500,000
checks per second.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from homer.identity.accounts import User
from homer.identity.permissions import Actor, Authorizer, PermissionSet, requires
from homer.store.records import GroupRecord

from .common import Record, rate, record

SCENARIO = "permission_check"


def _users(count: int) -> list[User]:
    return [
        User(
            id=f"user-{i}",
            name=f"user{i}",
            group_id=("g-base", "g-staff", "g-admin")[i % 3],
            attributes={},
            grants=frozenset({"broadcast.send"}) if i % 7 == 0 else frozenset(),
            denies=frozenset({"room.post"}) if i % 11 == 0 else frozenset(),
            created_at=0.0,
            updated_at=0.0,
            version=1,
        )
        for i in range(count)
    ]


def run(quick: bool) -> list[Record]:
    rounds = 5 if quick else 9
    count = 20_000 if quick else 200_000
    authorizer = Authorizer(
        PermissionSet(),
        [
            GroupRecord("g-base", "base", frozenset({"room.post", "room.create"})),
            GroupRecord("g-staff", "staff", frozenset({"room.moderate"}), parent_id="g-base"),
            GroupRecord("g-admin", "admin", frozenset({"admin.users"}), parent_id="g-staff"),
        ],
    )
    users = _users(1_000)
    checks = [(user, ("room.post", "admin.users")[i % 2]) for i, user in enumerate(users)]
    floor_sets = {user.id: authorizer.effective(user) for user in users}
    size = len(checks)

    def cycle(check: Callable[[Any, str], bool]) -> Callable[[int], None]:
        def loop(n: int) -> None:
            for i in range(n):
                user, permission = checks[i % size]
                check(user, permission)

        return loop

    can = cycle(authorizer.can)
    floor = cycle(lambda user, permission: permission in floor_sets[user.id])

    @requires("room.post")
    def guarded(actor: Actor) -> None:
        return None

    actors = [
        Actor(user, authorizer, user.name) for user in users if authorizer.can(user, "room.post")
    ]

    def guard(n: int) -> None:
        for i in range(n):
            guarded(actors[i % len(actors)])

    for _ in range(2):  # warm the cache and the interpreter
        can(size)
        floor(size)
    can_rates: list[float] = []
    floor_rates: list[float] = []
    guard_rates: list[float] = []
    for _ in range(rounds):  # interleaved, so drift in machine load hits each alike
        can_rates.append(rate(can, count, 1) * count)
        floor_rates.append(rate(floor, count, 1) * count)
        guard_rates.append(rate(guard, count, 1) * count)
    can_rate = statistics.median(can_rates)
    floor_rate = statistics.median(floor_rates)
    return [
        record(SCENARIO, "homer", "checks_per_second", round(can_rate), "checks/s"),
        record(SCENARIO, "dict+set floor", "checks_per_second", round(floor_rate), "checks/s"),
        record(SCENARIO, "homer", "ratio_vs_floor", round(can_rate / floor_rate, 2), "x"),
        record(
            SCENARIO,
            "homer",
            "guarded_calls_per_second",
            round(statistics.median(guard_rates)),
            "calls/s",
        ),
    ]
