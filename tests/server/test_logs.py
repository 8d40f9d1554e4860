from __future__ import annotations

import json
import logging

from homer.node.logs import JSONFormatter, PlainFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("homer.server", logging.INFO, __file__, 1, message, (), None)
    entry.__dict__.update(extra)
    return entry


def test_json_lines_carry_the_context_and_no_secret() -> None:
    line = JSONFormatter().format(
        record("login with token=eyJhbGciOi.abc.def ok", conn=7, user="ann", room="lobby", rid=3)
    )
    entry = json.loads(line)
    assert entry["conn"] == 7
    assert entry["user"] == "ann"
    assert entry["room"] == "lobby"
    assert entry["rid"] == 3
    assert "eyJ" not in line
    assert "[redacted]" in entry["msg"]


def test_plain_lines_too() -> None:
    line = PlainFormatter().format(record('bad password: "hunter22"', user="bob"))
    assert "hunter22" not in line
    assert "user=bob" in line
