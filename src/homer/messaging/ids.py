"""Message ids: random UUIDs (version 4) without a system call each.

``uuid.uuid4()`` reads the kernel's random source on every call, which showed
up in profiles of the send path, and building a ``uuid.UUID`` to print it
costs twice the formatting below. Message ids must be unique, not secret, so
a generator seeded once from the kernel will do.
"""

from __future__ import annotations

import random

__all__ = ["message_id"]

_random = random.Random()  # seeded from os.urandom
#: The version (4) and variant (RFC 4122) bits of a random UUID.
_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_SET = (0x4 << 76) | (0x2 << 62)


def message_id() -> str:
    digits = "%032x" % ((_random.getrandbits(128) & _KEEP) | _SET)
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
