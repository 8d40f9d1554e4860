"""How messages look: one line of text per stored message, day separators, the
"new messages" line. Everything a user wrote becomes plain text (a
:class:`rich.text.Text`), never markup: ``[bold]x[/]`` shows as typed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import msgspec
from rich.text import Text

from homer.chat.emoticons import Emoticons
from homer.protocol.envelope import Envelope

__all__ = ["KEYS_HELP", "day_label", "envelopes", "local_zone", "message_text", "time_label"]

#: ``data`` of a message written with ``/me``: shown as ``* name action``.
ACTION = {"me": True}


def local(ts: float, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(ts, tz) if tz is not None else datetime.fromtimestamp(ts)


def time_label(ts: float, tz: tzinfo | None) -> str:
    return local(ts, tz).strftime("%H:%M")


def day_label(ts: float, tz: tzinfo | None) -> str:
    moment = local(ts, tz)
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def day_of(ts: float, tz: tzinfo | None) -> str:
    return local(ts, tz).date().isoformat()


def message_text(message: Envelope, *, emoticons: Emoticons, tz: tzinfo | None) -> Text:
    """One stored message as a line: time, who, what (shortcodes expanded)."""
    line = Text(time_label(message.ts or 0.0, tz) + " ", style="dim")
    sender = message.sender or "(deleted user)"
    body = message.body if isinstance(message.body, dict) else {}
    kind = message.kind or "msg"
    if kind == "msg" and "redacted" in body:
        line.append(f"{sender}: (message deleted)", style="dim")
        return line
    if kind == "msg":
        text = emoticons.expand(str(body.get("text", "")))
        if body.get("edits"):
            text += " (edited)"
        if body.get("data") == ACTION:
            line.append(f"* {sender} ", style="italic magenta")
            line.append(text, style="italic")
        else:
            line.append(sender, style="bold cyan")
            line.append(": ")
            line.append(text)
        return line
    target = str(body.get("user", ""))
    notices = {
        "join": f"→ {sender} joined",
        "leave": f"← {sender} left",
        "kick": f"{sender} removed {target}",
        "ban": f"{sender} banned {target}",
        "invite": f"{sender} invited {target}",
        "topic": f"{sender} set the topic: {body.get('topic', '')}",
        # Changes to earlier messages: a transcript shows them as they come.
        "edit": f"{sender} edited a message: {emoticons.expand(str(body.get('text', '')))}",
        "redact": f"{sender} deleted a message",
        "react": f"{sender} reacted {emoticons.expand(str(body.get('key', '')))}",
        "unreact": f"{sender} took back {emoticons.expand(str(body.get('key', '')))}",
    }
    line.append(notices.get(kind, f"{sender}: ({kind})"), style="dim")
    return line


KEYS_HELP = (
    "Keys: Enter send · Ctrl+J (or Alt+Enter) new line · Up/Down input history · "
    "Tab complete :emoticon: · Ctrl+N/Ctrl+P next/previous room · Alt+1..9 room by number · "
    "Ctrl+K find a room · "
    "PageUp older messages · Ctrl+Q quit"
)


def envelopes(answer: Mapping[str, Any]) -> list[Envelope]:
    return [msgspec.convert(m, Envelope) for m in answer.get("messages", [])]


def local_zone() -> tzinfo | None:
    return datetime.now().astimezone().tzinfo
