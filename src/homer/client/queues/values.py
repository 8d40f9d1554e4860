"""What goes in and comes out of a queue, and the checks on what callers pass."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from homer.client.queues.errors import InvalidArgument, InvalidItem

__all__ = ["Delivery", "Item", "Overflow", "QueueInfo", "Receipt"]


class Overflow(StrEnum):
    """What a push does when the queue already holds its capacity."""

    #: Make room by dropping the oldest item (taken or not), then store the new one.
    DROP_OLDEST = "drop_oldest"
    #: Store nothing and raise :class:`~homer.client.queues.QueueFull`.
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue's settings and how many items it holds (taken ones included)."""

    name: str
    capacity: int
    overflow: Overflow
    #: Seconds a consumed item stays hidden before it is handed out again.
    visibility: float
    length: int


@dataclass(frozen=True, slots=True)
class Item:
    """One item, as stored: ``id`` grows with each push to its queue and is never
    reused, so it is the item's place in the queue's order."""

    id: int
    data: bytes

    @property
    def text(self) -> str:
        """The item as UTF-8 text (what ``push`` of a ``str`` stored)."""
        return self.data.decode()

    def json(self) -> Any:
        """The item as the JSON value ``push_json`` stored."""
        return json.loads(self.data)


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of one taking of one item, for ``ack`` or ``release``.

    ``attempt`` counts the takings of the item, so a receipt from before the item
    came back (its timeout passed, or it was released) holds nothing any more.
    """

    queue: str
    queue_id: int
    item_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Delivery(Item):
    """An item taken by ``consume``: hidden from other consumers until it is
    acknowledged (gone), released (back now) or its visibility timeout ends
    (back then). ``attempt`` is 1 the first time, more when handed out again."""

    receipt: Receipt
    attempt: int


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"a queue name is a non-empty str, not {name!r}")
    return name


def check_capacity(capacity: object) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
        raise InvalidArgument(f"capacity is an int above 0, not {capacity!r}")
    return capacity


def check_count(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidArgument(f"count is an int, 0 or more, not {count!r}")
    return count


def check_overflow(overflow: object) -> Overflow:
    try:
        return Overflow(overflow)  # type: ignore[arg-type]  # anything: checked here
    except ValueError:
        choices = ", ".join(repr(o.value) for o in Overflow)
        raise InvalidArgument(f"overflow is one of {choices}, not {overflow!r}") from None


def check_seconds(seconds: object, what: str) -> float:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise InvalidArgument(f"{what} is a number of seconds above 0, not {seconds!r}")
    return float(seconds)


def check_timeout(timeout: object) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout < 0
    ):
        raise InvalidArgument(f"timeout is a number of seconds, 0 or more, not {timeout!r}")
    return float(timeout)


def check_receipt(receipt: object) -> Receipt:
    if isinstance(receipt, Delivery):
        return receipt.receipt
    if isinstance(receipt, Receipt):
        return receipt
    raise InvalidArgument(f"expected a Receipt or the Delivery consume returned, not {receipt!r}")


def as_bytes(item: object) -> bytes:
    """An item's bytes: bytes-like as they are, ``str`` in UTF-8."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str):
        try:
            return item.encode()
        except UnicodeEncodeError as exc:
            raise InvalidItem(f"the str is not valid Unicode: {exc}") from None
    raise InvalidItem(
        f"an item is bytes or str, not {type(item).__name__} (push_json takes JSON values)"
    )


def json_bytes(value: object) -> bytes:
    """``value`` as compact JSON in UTF-8; what JSON cannot hold is refused, not
    turned into something else (NaN, a set, an object)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidItem(f"not a JSON value: {exc}") from None
    return as_bytes(text)
