"""What the CLI says when it refuses: one line that names the field, the
environment variable or the host at fault, and a ``serve`` that fails before
starting leaves nothing behind."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_admin_cli import Homer, error_line


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that takes connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # never accepted: the handshake completes, nothing follows
        yield int(listener.getsockname()[1])


def test_a_refused_field_is_named_once(tmp_path: Path) -> None:
    homer = Homer(tmp_path / "data")
    refused = homer("user", "add", "ann", "--password-stdin", stdin="short\n", expect=1)
    assert error_line(refused) == "homer: error: password: must be 8 to 1024 characters"
    refused = homer(
        "user", "add", "a b", "--attr", "email=x", "--password-stdin", stdin="x\n", expect=1
    )
    assert error_line(refused) == (
        "homer: error: email: not an e-mail address;"
        " name: 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit;"
        " password: must be 8 to 1024 characters"
    )


@pytest.mark.parametrize(
    ("variable", "value", "command", "reason"),
    [
        ("HOMER_LIMITS_RATE", "fast", ("user", "list"), "Expected `float`, got `str`"),
        ("HOMER_SERVER_PORT", "-5", ("serve",), "Expected `int` >= 0"),
        ("HOMER_IDENTITY_PASSWORDS_WORKERS", "two", ("serve", "--port", "0"), "Expected `int`"),
    ],
)
def test_a_bad_environment_variable_is_named(
    tmp_path: Path, variable: str, value: str, command: tuple[str, ...], reason: str
) -> None:
    homer = Homer(tmp_path / "data")
    homer.env[variable] = value
    refused = error_line(homer(*command, expect=1))
    assert refused.startswith(f"homer: error: bad configuration: {variable}={value!r}: "), refused
    assert reason in refused
    assert not (tmp_path / "data").exists()


@pytest.mark.timeout(120)
def test_a_store_or_broker_that_does_not_answer_is_named(tmp_path: Path, silent_port: int) -> None:
    homer = Homer(tmp_path / "data")
    where = f"127.0.0.1:{silent_port}"
    store = homer("serve", "--port", "0", "--store", f"postgresql://u@{where}/x", expect=1)
    assert error_line(store) == (
        f"homer: error: cannot open the PostgreSQL store at postgresql://{where}/x:"
        f" {where} did not answer within 10 s"
    )
    broker = homer("serve", "--port", "0", "--broker", f"amqp://u:secret@{where}/", expect=1)
    assert error_line(broker) == (
        f"homer: error: cannot set up RabbitMQ at amqp://u:***@{where}/:"
        f" {where} did not answer within 5 s"
    )
    assert not (tmp_path / "data").exists(), "a server that never started creates nothing"


def test_serve_that_cannot_listen_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        fresh = Homer(tmp_path / "deep" / "data")
        refused = error_line(fresh("serve", "--port", port, expect=1))
        assert refused.startswith("homer: error: cannot listen: "), refused
        assert not (tmp_path / "deep").exists()
        # A data directory that was there already keeps everything in it.
        kept = Homer(tmp_path / "kept")
        kept("user", "add", "ann", "--password-stdin", stdin="a-good-password\n")
        before = sorted(p.name for p in (tmp_path / "kept").iterdir())
        kept("serve", "--port", port, expect=1)
        assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == before
        assert "ann" in kept("user", "list").stdout
