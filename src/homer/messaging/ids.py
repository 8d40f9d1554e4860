"""Message ids: random UUIDs (version 4) without a system call each.

``uuid.uuid4()`` reads the kernel's random source on every call, which showed
up in profiles of the send path. Message ids must be unique, not secret, so a
generator seeded once from the kernel will do.
"""

from __future__ import annotations

import random
import uuid

__all__ = ["message_id"]

_random = random.Random()  # seeded from os.urandom


def message_id() -> str:
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))
