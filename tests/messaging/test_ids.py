"""Message ids are well-formed random UUIDs, and do not repeat."""

from __future__ import annotations

import uuid

from homer.messaging.ids import message_id


def test_message_ids_are_version_4_uuids_without_repeats() -> None:
    ids = [message_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2_000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text, "canonical form: lower-case, dashed"
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
