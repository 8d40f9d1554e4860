"""Structured logs: plain or JSON lines, with the connection, user, room and
request ids a record carries, and never a password or a token."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

__all__ = ["RequestValues", "configure_logging"]

#: Context fields a log call may pass in ``extra``.
FIELDS = ("conn", "user", "room", "rid", "op", "path", "address")
_SECRET = re.compile(r"(?i)(token|password|secret|authorization)([\"'=:\s]+)([^\s\"',}]+)")


def _redact(text: str) -> str:
    return _SECRET.sub(r"\1\2[redacted]", text)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _redact(record.getMessage()),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = _redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        context = " ".join(
            f"{name}={record.__dict__[name]}" for name in FIELDS if record.__dict__.get(name)
        )
        line = f"{stamp} {record.levelname:<7} {record.name}: {_redact(record.getMessage())}"
        if context:
            line += f" [{context}]"
        if record.exc_info:
            line += "\n" + _redact(self.formatException(record.exc_info))
        return line


class RequestValues(logging.Filter):
    """aiohttp's own records of a request it could not parse quote the offending
    bytes (96 characters of an oversized ``Authorization`` header, say): keep the
    record, drop the quote. Its class and the client's address are what an operator
    needs; what the client sent stays with the client."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__} (its text is not logged)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(fmt: str = "plain", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else PlainFormatter())
    root = logging.getLogger("homer")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # The AMQP client's own lines repeat, less clearly, what homer.broker says about
    # the connection: in Homer's format, and only when debugging.
    for name in ("aiormq", "aio_pika"):
        library = logging.getLogger(name)
        library.handlers[:] = [handler]
        library.setLevel(logging.DEBUG if level == "debug" else logging.CRITICAL)
        library.propagate = False
    # aiohttp's lines about requests it could not handle, in Homer's format, without
    # what the request carried.
    server = logging.getLogger("aiohttp")
    server.handlers[:] = [handler]
    server.setLevel(level.upper())
    server.propagate = False
    server.filters[:] = [RequestValues()]
    for child in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.internal"):
        logging.getLogger(child).filters[:] = [RequestValues()]
