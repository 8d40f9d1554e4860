"""The token file: one per server and account, owner-only, never a password."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from homer.chat.credentials import SavedLogin, TokenStore


def test_one_owner_only_file_per_server_and_account(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    a = store.save(SavedLogin("http://127.0.0.1:8080/", "alice", "t-a", 2000.0))
    b = store.save(SavedLogin("http://127.0.0.1:8080", "bob", "t-b", None))
    c = store.save(SavedLogin("http://127.0.0.1:9090", "alice", "t-c", None))
    assert len({a, b, c}) == 3
    for path in (a, b, c):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "password" not in path.read_text()
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert store.load("http://127.0.0.1:8080", "alice") == SavedLogin(
        "http://127.0.0.1:8080", "alice", "t-a", 2000.0
    )
    assert store.load("http://127.0.0.1:9090") == SavedLogin(
        "http://127.0.0.1:9090", "alice", "t-c", None
    )
    assert store.load("http://127.0.0.1:7070") is None


def test_without_a_name_the_account_used_last(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    old = store.save(SavedLogin("http://h", "alice", "t-a"))
    store.save(SavedLogin("http://h", "bob", "t-b"))
    os.utime(old, (1, 1))
    loaded = store.load("http://h")
    assert loaded is not None
    assert loaded.name == "bob"
    store.forget("http://h", "bob")
    loaded = store.load("http://h")
    assert loaded is not None
    assert loaded.name == "alice"


def test_a_garbled_file_is_no_login(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    store.path("http://h", "alice").write_text("{not json")
    assert store.load("http://h", "alice") is None


def test_usable_until_shortly_before_it_expires() -> None:
    login = SavedLogin("http://h", "alice", "t", expires_at=1000.0)
    assert login.usable(900.0)
    assert not login.usable(990.0)
    assert SavedLogin("http://h", "alice", "t").usable(1e12)
