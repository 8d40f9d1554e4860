"""What the queues raise, under Homer's one root::

    HomerError
    └── QueueError                      every queue error
        ├── QueueNotFound   not_found   no queue of that name in the file
        ├── QueueExists     conflict    created before with other settings
        ├── QueueFull       conflict    at capacity, and its policy is to refuse
        ├── UnknownReceipt  not_found   acknowledged, released, taken again or dropped
        ├── InvalidItem     invalid     not bytes, str or (push_json) JSON; also a TypeError
        ├── InvalidArgument invalid     a bad name, capacity, policy, timeout; also a ValueError
        ├── QueueClosed     unavailable the file was closed
        └── QueueFileError  unavailable SQLite failed or the file is not a queue file

Every error leaves the file as it was: the operation did not happen.
"""

from __future__ import annotations

from homer.errors import (
    Conflict,
    ErrorCode,
    HomerError,
    InvalidInput,
    NotFound,
    StoreError,
)

__all__ = [
    "InvalidArgument",
    "InvalidItem",
    "QueueClosed",
    "QueueError",
    "QueueExists",
    "QueueFileError",
    "QueueFull",
    "QueueNotFound",
    "UnknownReceipt",
]


class QueueError(HomerError):
    """Root of the queues' errors."""


class QueueNotFound(QueueError, NotFound):
    """No queue of this name exists in the file (never created, or destroyed)."""


class QueueExists(QueueError, Conflict):
    """``create`` named a queue that exists with another capacity, policy or timeout."""


class QueueFull(QueueError, Conflict):
    """The queue holds its capacity and refuses more; the item was not stored."""


class UnknownReceipt(QueueError, NotFound):
    """The receipt holds nothing any more: its item was acknowledged or released,
    taken again after its visibility timeout, dropped, or its queue destroyed."""


class InvalidItem(QueueError, InvalidInput, TypeError):
    """An item that cannot be stored: not bytes or str (or, for ``push_json``, not
    JSON). Also a ``TypeError``."""


class InvalidArgument(QueueError, InvalidInput, ValueError):
    """A queue name, capacity, overflow policy, timeout or receipt that makes no
    sense. Also a ``ValueError``."""


class QueueClosed(QueueError):
    """The queue file was closed; open it again to go on."""

    code = ErrorCode.UNAVAILABLE


class QueueFileError(QueueError, StoreError):
    """SQLite failed (a disk error, a lock held longer than the timeout) or the
    file is not a queue file, or one written by a newer Homer."""
