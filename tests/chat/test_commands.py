"""Slash commands are parsed without a terminal: every command, and the
messages for unknown commands and bad arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from homer.chat.commands import (
    HELP,
    CommandError,
    Create,
    Dm,
    Help,
    History,
    Invite,
    Join,
    Leave,
    Me,
    Quit,
    Say,
    Topic,
    Who,
    parse,
    parse_time,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", Say("hello")),
        ("  two\nlines ", Say("  two\nlines ")),
        ("//not a command", Say("/not a command")),
        ("/join lobby", Join("lobby")),
        ("/join #lobby", Join("lobby")),
        ("/JOIN lobby", Join("lobby")),
        ("/leave", Leave()),
        ("/create plans", Create("plans", "public")),
        ("/create plans private", Create("plans", "private")),
        ("/create news ANNOUNCE", Create("news", "announce")),
        ("/invite bob", Invite("bob")),
        ("/dm @bob", Dm("bob")),
        ("/who", Who()),
        ("/me waves at everyone", Me("waves at everyone")),
        ("/topic be nice", Topic("be nice")),
        ("/history 2h", History(NOW - 7200)),
        ("/history 1h30m 30m", History(NOW - 5400, NOW - 1800)),
        ("/history 2026-12-06T10:00 2026-12-06T11:00", History(NOW - 7200, NOW - 3600)),
        ("/quit", Quit()),
        ("/help", Help()),
    ],
)
def test_parses(text: str, expected: object) -> None:
    assert parse(text, now=NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/frobnicate", "unknown command /frobnicate: /help lists them"),
        ("/join", "usage: /join ROOM"),
        ("/join a b", "usage: /join ROOM"),
        ("/leave now", "/leave takes no arguments (usage: /leave)"),
        ("/create", "usage: /create ROOM [private|announce]"),
        ("/create x secret", "a room is public, private or announce, not 'secret'"),
        ("/invite", "usage: /invite USER"),
        ("/me", "usage: /me ACTION"),
        ("/topic", "usage: /topic TEXT"),
        ("/history", "usage: /history SINCE [UNTIL]"),
        ("/history 1h 2h", "the window ends before it starts: give SINCE before UNTIL"),
        ("/history yesterday", "'yesterday' is not a time"),
    ],
)
def test_refuses_with_a_message(text: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text, now=NOW)
    assert str(caught.value).startswith(message)


def test_iso_times_without_a_zone_are_in_the_given_zone() -> None:
    zone = timezone(timedelta(hours=2))
    assert parse_time("2026-12-06T14:00", now=NOW, tz=zone) == NOW
    assert parse_time("2026-12-06T12:00+00:00", now=NOW, tz=zone) == NOW
    assert parse_time("now", now=NOW) == NOW


def test_help_covers_every_command() -> None:
    assert set(HELP) == {
        "join", "leave", "create", "invite", "dm", "who", "me", "topic", "history", "quit", "help",
    }  # fmt: skip
