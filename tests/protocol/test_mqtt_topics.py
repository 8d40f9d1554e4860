"""MQTT topic names and filters: the specification's examples of validity and matching."""

from __future__ import annotations

import pytest

from homer.protocol.mqtt_topics import matches, split_shared, valid_filter, valid_topic


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("sport/tennis/player1", True),
        ("/", True),
        ("/finance", True),
        ("$SYS/broker", True),
        ("caf\u00e9", True),
        ("", False),
        ("sport/+", False),
        ("sport/#", False),
        ("a\0b", False),
        ("a" * 65_535, True),
        ("a" * 65_536, False),
        ("\u00e9" * 32_768, False),  # two bytes each: one past the limit
        ("\ud800", False),
    ],
)
def test_topic_names(name: str, valid: bool) -> None:
    assert valid_topic(name) is valid


@pytest.mark.parametrize(
    ("filter", "valid"),
    [
        ("sport/tennis/player1/#", True),
        ("sport/#", True),
        ("#", True),
        ("+", True),
        ("+/tennis/#", True),
        ("sport/+/player1", True),
        ("/+", True),
        ("+/+", True),
        ("sport/tennis#", False),
        ("sport/tennis/#/ranking", False),
        ("sport+", False),
        ("sport/+x", False),
        ("", False),
        ("a\0", False),
        ("$share/group/sport/#", True),
        ("$share/g/+", True),
        ("$share//sport", False),
        ("$share/g+/sport", False),
        ("$share/g#/sport", False),
        ("$share/group", False),
        ("$share/group/", False),
        ("$share/group/a/#/b", False),
        ("$share", True),
    ],
)
def test_topic_filters(filter: str, valid: bool) -> None:
    assert valid_filter(filter) is valid


@pytest.mark.parametrize(
    ("filter", "topic", "matched"),
    [
        # 4.7.1.2: the multi-level wildcard, its parent level included.
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/#", "sport", True),
        ("#", "sport/tennis", True),
        ("sport/tennis/player1/#", "sport/tennis/player2", False),
        # 4.7.1.3: the single-level wildcard.
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player2", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("+/tennis/#", "sport/tennis/player1", True),
        # 4.7.2: names starting with $ are not matched by a leading wildcard.
        ("#", "$SYS/monitor/Clients", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/monitor/Clients", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        # Exact names, case and all.
        ("sport", "sport", True),
        ("Sport", "sport", False),
        ("sport", "sport/", False),
        # 4.8.2: a shared subscription matches as the filter after its group.
        ("$share/consumer1/sport/tennis/+", "sport/tennis/player1", True),
        ("$share/consumer1/sport/tennis/+", "sport/golf/player1", False),
        ("$share/g/#", "$SYS/x", False),
    ],
)
def test_matching(filter: str, topic: str, matched: bool) -> None:
    assert matches(filter, topic) is matched


def test_shared_subscriptions_split_into_group_and_filter() -> None:
    assert split_shared("$share/consumer1/sport/tennis/+") == ("consumer1", "sport/tennis/+")
    assert split_shared("sport/tennis/+") == (None, "sport/tennis/+")
    assert split_shared("$share/group") == (None, "$share/group")
    assert split_shared("$SHARE/g/a") == (None, "$SHARE/g/a")
