"""One conformance suite for every Store adapter.

Subclass :class:`StoreConformance` in a test module and provide a ``store``
fixture that yields an opened, empty store::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        async def store(self, tmp_path):
            store = MyStore(...)
            await store.open()
            yield store
            await store.close()

The embedded SQLite adapter and every later adapter run these same tests
unchanged; an adapter that passes them can replace another.
"""

from __future__ import annotations

from homer.testing.store_conformance_accounts import AccountConformance
from homer.testing.store_conformance_changes import ChangeConformance
from homer.testing.store_conformance_files import FileConformance
from homer.testing.store_conformance_rooms import RoomConformance
from homer.testing.store_conformance_unread import UnreadConformance
from homer.testing.store_kit import make_group, make_member, make_room, make_user, new_message

__all__ = [
    "StoreConformance",
    "make_group",
    "make_member",
    "make_room",
    "make_user",
    "new_message",
]


class StoreConformance(
    AccountConformance, RoomConformance, UnreadConformance, ChangeConformance, FileConformance
):
    """What every Store adapter must do. Needs a ``store`` fixture (opened, empty)."""
