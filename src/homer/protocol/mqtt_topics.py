"""MQTT topic names and filters: which are valid, and which filter matches which name.

A topic name is what a PUBLISH goes to (``sport/tennis/player1``); a filter is what a
SUBSCRIBE asks for, where ``+`` stands for one level and a final ``#`` for any number
of levels, none included (``sport/#`` matches ``sport``). A filter starting with a
wildcard does not match a name starting with ``$`` (``$SYS/...``): those are the
server's, and a client must ask for them by name. ``$share/<group>/<filter>`` is an
MQTT 5 shared subscription: the filter after the group is what is matched.
"""

from __future__ import annotations

from typing import Final

__all__ = ["matches", "split_shared", "valid_filter", "valid_topic"]

#: The most bytes a UTF-8 string holds on the wire (its length is two bytes).
_MAX_BYTES: Final = 65_535
_SHARE: Final = "$share/"


def _short_enough(text: str) -> bool:
    """Whether ``text`` fits an MQTT string (and can be UTF-8 at all)."""
    if text.isascii():  # most names: no encoding needed to know
        return len(text) <= _MAX_BYTES
    try:
        return len(text.encode()) <= _MAX_BYTES
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot carry
        return False


def valid_topic(name: str) -> bool:
    """Whether ``name`` may be published to: not empty, no wildcard, no NUL (no MQTT
    string may hold one), and short enough for the wire."""
    return (
        bool(name)
        and "+" not in name
        and "#" not in name
        and "\0" not in name
        and _short_enough(name)
    )


def split_shared(filter: str) -> tuple[str | None, str]:
    """``(group, filter)`` for ``$share/group/filter``, ``(None, filter)`` otherwise
    (also for ``$share/group`` with nothing after it, which shares nothing)."""
    if filter.startswith(_SHARE):
        group, slash, rest = filter[len(_SHARE) :].partition("/")
        if slash:
            return group, rest
    return None, filter


def valid_filter(filter: str) -> bool:
    """Whether ``filter`` may be subscribed to: ``#`` alone in the last level, ``+``
    alone in its level, and for a shared subscription a group of at least one
    character without ``+``, ``#`` or ``/`` followed by a valid filter."""
    if not filter or "\0" in filter or not _short_enough(filter):
        return False
    if filter.startswith(_SHARE):
        group, rest = split_shared(filter)
        if not group or "+" in group or "#" in group:
            return False
        filter = rest
        if not filter:
            return False
    if "+" not in filter and "#" not in filter:
        return True
    levels = filter.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            return False
        if "+" in level and level != "+":
            return False
    return True


def matches(filter: str, topic: str) -> bool:
    """Whether a message published to ``topic`` goes to a subscription to ``filter``
    (both taken as valid; a shared filter matches as the filter after its group)."""
    _, filter = split_shared(filter)
    if topic.startswith("$") and filter[:1] in ("+", "#"):
        return False
    if "+" not in filter and "#" not in filter:
        return filter == topic
    names = topic.split("/")
    for index, level in enumerate(filter.split("/")):
        if level == "#":
            return True
        if index >= len(names) or (level != "+" and level != names[index]):
            return False
    return len(filter.split("/")) == len(names)
