"""The session state machine, driven by a manual clock: no sockets, no sleeping."""

from __future__ import annotations

import re

import pytest

from homer.clock import ManualClock
from homer.protocol import lifecycle as module
from homer.protocol.lifecycle import (
    NEVER,
    NOTHING_DUE,
    CloseCode,
    Lifecycle,
    LifecycleError,
    State,
    Timeouts,
)

TIMEOUTS = Timeouts(heartbeat=20.0, heartbeat_timeout=10.0, handshake_timeout=10.0)


def fresh(clock: ManualClock) -> Lifecycle:
    return Lifecycle(clock(), timeouts=TIMEOUTS)


def test_a_connection_awaits_hello_then_opens_closes_and_ends() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    assert lifecycle.state is State.AWAITING_HELLO
    assert not lifecycle.ended
    lifecycle.opened(expires_at=clock() + 60)
    assert lifecycle.state is State.OPEN
    assert lifecycle.expires_at == clock() + 60
    lifecycle.renewed(expires_at=clock() + 120)
    assert lifecycle.expires_at == clock() + 120
    lifecycle.closing(CloseCode.GOING_AWAY, "bye")
    assert lifecycle.state is State.CLOSING
    assert lifecycle.ended
    assert lifecycle.closed_with is not None
    assert (lifecycle.closed_with.code, lifecycle.closed_with.reason) == (1001, "bye")
    lifecycle.closed()
    assert lifecycle.state is State.CLOSED
    assert lifecycle.ended


@pytest.mark.parametrize(
    ("steps", "illegal"),
    [
        (["opened"], "opened"),  # a second hello
        ([], "renewed"),  # a refresh before any session
        (["closing"], "closing"),  # closing twice
        (["closed"], "closing"),  # closing what is gone
        (["closed"], "closed"),  # lost twice
    ],
)
def test_an_illegal_step_raises_at_once_and_changes_nothing(steps: list[str], illegal: str) -> None:
    lifecycle = fresh(ManualClock())
    for step in steps:
        take(lifecycle, step)
    before = lifecycle.state
    with pytest.raises(LifecycleError, match=illegal):
        take(lifecycle, illegal)
    assert lifecycle.state is before


def take(lifecycle: Lifecycle, step: str) -> None:
    if step == "opened":
        lifecycle.opened(expires_at=None)
    elif step == "renewed":
        lifecycle.renewed(expires_at=None)
    elif step == "closing":
        lifecycle.closing(CloseCode.NORMAL, "done")
    else:
        lifecycle.closed()


@pytest.mark.parametrize("end", ["closing", "closed"])
def test_a_hello_that_finishes_after_the_end_changes_nothing(end: str) -> None:
    lifecycle = fresh(ManualClock())
    take(lifecycle, end)
    state = lifecycle.state
    lifecycle.opened(expires_at=None)
    lifecycle.renewed(expires_at=None)
    assert lifecycle.state is state
    assert lifecycle.ended


def test_without_hello_in_time_the_connection_is_closed_with_4001() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    clock.advance(10.0)
    assert lifecycle.tick(clock()) is NOTHING_DUE  # not past the timeout yet
    clock.advance(0.5)
    due = lifecycle.tick(clock())
    assert due.close is not None
    assert (due.close.code, due.close.reason) == (4001, "no hello with a token in time")
    assert not due.ping
    assert lifecycle.state is State.AWAITING_HELLO  # the transport closes, then says so


def test_bytes_do_not_buy_time_before_hello() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    for _ in range(11):
        clock.advance(1.0)
        lifecycle.received(clock())
    due = lifecycle.tick(clock())
    assert due.close is not None
    assert due.close.code == CloseCode.UNAUTHENTICATED


def test_an_open_session_is_pinged_after_silence_and_closed_without_an_answer() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    lifecycle.opened(expires_at=None)
    clock.advance(20.0)
    assert lifecycle.tick(clock()) is NOTHING_DUE  # silent for exactly heartbeat: not yet
    clock.advance(1.0)
    assert lifecycle.tick(clock()).ping
    clock.advance(10.0)
    assert lifecycle.tick(clock()) is NOTHING_DUE  # one ping per silence; not late yet
    clock.advance(1.0)
    due = lifecycle.tick(clock())
    assert due.close is not None
    assert (due.close.code, due.close.reason) == (1001, "no answer to heartbeats")


def test_an_answer_to_a_ping_starts_the_next_silence() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    lifecycle.opened(expires_at=None)
    clock.advance(21.0)
    assert lifecycle.tick(clock()).ping
    clock.advance(5.0)
    lifecycle.received(clock())
    clock.advance(20.0)
    assert lifecycle.tick(clock()) is NOTHING_DUE
    clock.advance(1.0)
    assert lifecycle.tick(clock()).ping  # the next ping, after the next silence


def test_a_session_closes_when_its_token_expires_and_a_refresh_moves_that() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    lifecycle.opened(expires_at=clock() + 5.0)
    clock.advance(4.0)
    lifecycle.received(clock())
    assert lifecycle.tick(clock()) is NOTHING_DUE
    lifecycle.renewed(expires_at=clock() + 5.0)
    clock.advance(4.0)
    lifecycle.received(clock())
    assert lifecycle.tick(clock()) is NOTHING_DUE
    clock.advance(1.0)
    due = lifecycle.tick(clock())
    assert due.close is not None
    assert (due.close.code, due.close.reason) == (4001, "token expired: refresh and reconnect")


def test_a_ping_and_a_close_can_fall_due_together() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    lifecycle.opened(expires_at=clock() + 30.0)
    clock.advance(30.0)
    due = lifecycle.tick(clock())
    assert due.ping
    assert due.close is not None
    assert due.close.reason.startswith("token expired")


def test_nothing_falls_due_once_ended() -> None:
    clock = ManualClock()
    lifecycle = fresh(clock)
    lifecycle.closing(CloseCode.TOO_SLOW, "too slow")
    clock.advance(1000.0)
    assert lifecycle.tick(clock()) is NOTHING_DUE


def test_a_lifecycle_nobody_sweeps_never_times_out() -> None:
    clock = ManualClock()
    lifecycle = Lifecycle(clock(), timeouts=NEVER)
    lifecycle.opened(expires_at=None)
    clock.advance(1e9)
    assert lifecycle.tick(clock()) is NOTHING_DUE


def test_the_table_in_the_docstring_is_the_table_the_machine_keeps() -> None:
    row = re.compile(r"^\s+([A-Z_]+)\s+(\w+)\(.*?\)\s+([A-Z_]+)$")
    documented = {
        (State[m[1]], m[2], State[m[3]])
        for line in (module.__doc__ or "").splitlines()
        if (m := row.match(line))
    }
    kept = {(state, step.value, to) for (state, step), to in module._TRANSITIONS.items()}
    assert documented == kept
