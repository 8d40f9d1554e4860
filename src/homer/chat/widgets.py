"""The chat screen's widgets: the room list, the message view, the input, the
status line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from rich.text import Text
from textual import events
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static, TextArea

from homer.chat.emoticons import Emoticons
from homer.chat.formatting import day_label, day_of, message_text
from homer.chat.rooms import Room

__all__ = ["ChatInput", "ConnectionState", "MessageView", "RoomList", "StatusLine"]


class ChatInput(TextArea):
    """The input line: Enter sends, Ctrl+J starts a new line (so do Alt+Enter and
    Shift+Enter, in terminals that report them apart from Enter), Up and Down walk
    through what was sent before (from the first or last line), Tab completes an
    emoticon shortcode."""

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    NEWLINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter"})

    def __init__(self, *, emoticons: Emoticons, id: str | None = None) -> None:
        super().__init__(id=id, soft_wrap=True, show_line_numbers=False, compact=True)
        self.emoticons = emoticons
        self.sent: list[str] = []
        #: Where Up/Down are in ``sent`` (``len(sent)``: the draft).
        self.recall = 0
        self.draft = ""

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            self._stop(event)
            text = self.text
            if text.strip():
                self.sent.append(text)
            self.recall = len(self.sent)
            self.draft = ""
            self.clear()
            self.post_message(self.Submitted(text))
            return
        if key in self.NEWLINE_KEYS:
            self._stop(event)
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if key == "tab":
            self._stop(event)
            self.complete_emoticon()
            return
        row, _ = self.cursor_location
        if key == "up" and row == 0 and self.sent:
            self._stop(event)
            self._recall(-1)
            return
        if key == "down" and row == self.document.line_count - 1 and self.recall < len(self.sent):
            self._stop(event)
            self._recall(+1)
            return
        await super()._on_key(event)

    @staticmethod
    def _stop(event: events.Key) -> None:
        event.stop()
        event.prevent_default()

    def _recall(self, step: int) -> None:
        if self.recall == len(self.sent):
            self.draft = self.text
        self.recall = max(0, min(len(self.sent), self.recall + step))
        text = self.sent[self.recall] if self.recall < len(self.sent) else self.draft
        self.load_text(text)
        self.move_cursor(self.document.end)

    def before_cursor(self) -> str:
        row, column = self.cursor_location
        return self.document.get_line(row)[:column]

    def complete_emoticon(self) -> bool:
        """Complete the shortcode before the cursor; whether anything changed."""
        before = self.before_cursor()
        completed = self.emoticons.complete(before)
        if completed is None or completed == before:
            return False
        row, column = self.cursor_location
        self.replace(completed, (row, 0), (row, column))
        return True


class MessageView(VerticalScroll):
    """A room's messages, oldest at the top; scrolling to the top asks for older ones."""

    class NeedOlder(Message):
        pass

    def __init__(self, *, emoticons: Emoticons, tz: tzinfo | None, id: str | None = None):
        super().__init__(id=id)
        self.emoticons = emoticons
        self.tz = tz
        self.can_focus = True

    def lines(self, room: Room | None, *, me: str = "", cached: bool = False) -> list[Static]:
        """What the view shows of ``room``: its messages with day separators and,
        before the first message from someone other than ``me`` past the read
        marker, a "new messages" line. ``cached``: said to come from the local
        copy of the history, while offline."""
        if room is None:
            return [Static(Text("Not in any room: /join ROOM or /create ROOM"), classes="notice")]
        items: list[Static] = []
        if room.more_before:
            items.append(Static(Text("↑ older messages: scroll up"), classes="notice"))
        elif room.loaded:
            items.append(Static(Text(f"The beginning of {room.label('')}"), classes="notice"))
        if cached:
            items.append(Static(Text("(cached history: offline)"), classes="notice"))
        day = None
        marked = False
        for message in room.messages:
            if message.ts is not None and day_of(message.ts, self.tz) != day:
                day = day_of(message.ts, self.tz)
                items.append(Static(Text(f"── {day_label(message.ts, self.tz)} ──"), classes="day"))
            if (
                not marked
                and room.marker is not None
                and (message.seq or 0) > room.marker
                and message.kind == "msg"
                and (message.sender or "").lower() != me.lower()
            ):
                marked = True
                items.append(Static(Text("── new messages ──"), classes="new"))
            items.append(Static(message_text(message, emoticons=self.emoticons, tz=self.tz)))
        return items

    async def show(
        self, room: Room | None, *, me: str = "", keep: str = "bottom", cached: bool = False
    ) -> None:
        """Show ``room``'s messages (see :meth:`lines`); ``keep="offset"`` holds the
        lines on screen where they were (after older ones were put above them)."""
        from_bottom = self.max_scroll_y - self.scroll_y
        await self.remove_children()
        await self.mount_all(self.lines(room, me=me, cached=cached))
        if keep == "bottom":
            self.call_after_refresh(self.scroll_end, animate=False)
        else:
            self.call_after_refresh(
                lambda: self.scroll_to(y=self.max_scroll_y - from_bottom, animate=False)
            )

    async def add_notice(self, text: str, *, classes: str = "notice") -> None:
        at_end = self.scroll_y >= self.max_scroll_y - 1
        await self.mount(Static(Text(text), classes=classes))
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)

    async def add_line(self, line: Text) -> None:
        at_end = self.scroll_y >= self.max_scroll_y - 1
        await self.mount(Static(line))
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        if new <= 0 < old or (new <= 0 and self.max_scroll_y == 0):
            self.post_message(self.NeedOlder())

    def action_scroll_up(self) -> None:
        if self.scroll_y <= 0:
            self.post_message(self.NeedOlder())
        super().action_scroll_up()

    def action_page_up(self) -> None:
        if self.scroll_y <= 0:
            self.post_message(self.NeedOlder())
        super().action_page_up()


class RoomList(Static):
    """The rooms, then the DMs, each with its unread count; the room on screen marked."""

    def show(
        self, rooms: list[Room], *, current: str | None, me: str, presence: dict[str, str]
    ) -> None:
        text = Text()
        text.append("Rooms\n", style="bold underline")
        in_dms = False
        for number, room in enumerate(rooms, start=1):
            if room.is_dm and not in_dms:
                in_dms = True
                text.append("\nDirect messages\n", style="bold underline")
            marker = "▶ " if room.id == current else "  "
            style = "reverse" if room.id == current else ("bold" if room.unread else "")
            label = room.label(me)
            if room.is_dm:
                other = room.other_user(me) or ""
                label = ("● " if presence.get(other.lower()) == "online" else "○ ") + label
            shortcut = f"{number} " if number <= 9 else "  "
            text.append(marker + shortcut, style="dim")
            text.append(label, style=style)
            if room.unread and room.id != current:
                text.append(f" ({room.unread})", style="bold yellow")
            text.append("\n")
        self.update(text)


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """What the status line says of the connection.

    ``state`` is ``connecting``, ``online``, ``reconnecting`` or ``offline``;
    ``queued`` counts messages waiting to be sent (shown when offline, as
    "offline, N queued").
    """

    state: str = "connecting"
    queued: int = 0

    def describe(self) -> str:
        if self.state == "offline":
            return f"offline, {self.queued} queued" if self.queued else "offline"
        if self.state in ("connecting", "reconnecting"):
            return self.state + "…"
        return self.state


class StatusLine(Static):
    """The connection's state, who you are, where, and the room on screen."""

    def show(self, connection: ConnectionState, *, who: str, room: str, topic: str) -> None:
        colours = {"online": "green", "offline": "red"}
        text = Text()
        text.append("● ", style=colours.get(connection.state, "yellow"))
        text.append(connection.describe(), style="bold")
        if who:
            text.append(f"  {who}")
        if room:
            text.append(f"  {room}", style="bold")
        if topic:
            text.append(f" — {topic}")
        self.update(text)
