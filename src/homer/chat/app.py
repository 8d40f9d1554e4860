"""``homer chat``: the Textual application.

:class:`ChatApp` logs in (or shows the login form), then keeps one
:class:`~homer.client.HomerClient` session: the rooms on the left, the room's
messages in the middle, the input at the bottom, the connection's state on the
status line. It speaks to the server only through the client SDK.

The status line shows :class:`~homer.chat.widgets.ConnectionState`; the app sets
it from the SDK's connection (``connecting``, ``online``, ``reconnecting``,
``offline``) through :meth:`ChatApp.set_connection`, the one place a local
outbox will report ``offline`` with its number of queued messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import aiohttp
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Static

from homer.chat import commands
from homer.chat.acting import carry_out
from homer.chat.credentials import SavedLogin, TokenStore
from homer.chat.emoticons import Emoticons
from homer.chat.formatting import KEYS_HELP, day_label, day_of, envelopes, message_text
from homer.chat.rooms import Room, Rooms
from homer.chat.screens import LoginForm, LoginRequested, LoginScreen, RoomSwitcher
from homer.chat.widgets import ChatInput, ConnectionState, MessageView, RoomList, StatusLine
from homer.client import ClientError, ConnectionLost, HomerClient
from homer.errors import HomerError
from homer.protocol.envelope import Envelope

__all__ = ["ChatApp"]

log = logging.getLogger("homer.chat")

W = TypeVar("W", bound=Widget)

#: Messages asked for at a time: when a room opens, and for each step back.
PAGE = 50
#: Seconds between two ``typing`` signals while the user types.
TYPING_INTERVAL = 3.0
#: The DMs whose other person's status is asked for at the start.
MAX_DM_STATUSES = 50
#: What refresh waits for: this share of the token's remaining life.
REFRESH_AT = 0.8


class ChatApp(App[None]):
    """The terminal chat client.

    ``url`` is the server; ``name`` and ``password`` log in (``register=True``
    makes the account first); ``token`` connects with a token; with none of
    them the saved login for ``url`` is tried, then the login form is shown.
    ``tokens`` keeps logins for the next start (``None``: nothing is saved).
    ``emoticons`` adds shortcodes to the built-in table; ``tz`` is the zone of
    the timestamps (the local one by default); ``client_options`` go to
    :class:`~homer.client.HomerClient`.
    """

    TITLE = "Homer chat"
    CSS = """
    #main { height: 1fr; }
    #rooms { width: 26; border-right: solid $primary; padding: 0 1; height: 100%; }
    #centre { width: 1fr; }
    #messages { height: 1fr; padding: 0 1; }
    #messages > .day { color: $text-muted; text-align: center; }
    #messages > .new { color: $error; text-align: center; }
    #messages > .notice { color: $text-muted; }
    #messages > .error { color: $error; }
    #typing { height: 1; padding: 0 1; color: $text-muted; }
    #completions { height: auto; max-height: 1; padding: 0 1; color: $accent; }
    #input { height: auto; max-height: 6; border-top: solid $primary; }
    #status { height: 1; background: $boost; padding: 0 1; }
    #login { width: 60; height: auto; border: round $primary; padding: 1 2; }
    LoginScreen { align: center middle; }
    #login-buttons { height: auto; margin-top: 1; }
    #login-buttons Button { margin-right: 2; }
    #login-error { color: $error; margin-top: 1; }
    RoomSwitcher { align: center middle; }
    #switcher { width: 50; height: 16; border: round $accent; background: $surface; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next_room", "Next room", priority=True),
        Binding("ctrl+p", "previous_room", "Previous room", priority=True),
        Binding("ctrl+k", "switch_room", "Find a room", priority=True),
        Binding("pageup", "older", "Older messages", show=False, priority=True),
        Binding("pagedown", "newer", "Newer messages", show=False, priority=True),
        *(
            Binding(f"alt+{n}", f"go_to({n})", f"Room {n}", show=False, priority=True)
            for n in range(1, 10)
        ),
    ]

    def __init__(
        self,
        url: str | None = None,
        *,
        name: str | None = None,
        password: str | None = None,
        token: str | None = None,
        register: bool = False,
        tokens: TokenStore | None = None,
        emoticons: Mapping[str, str] | None = None,
        tz: tzinfo | None = None,
        clock: Callable[[], float] = time.time,
        client_options: Mapping[str, Any] | None = None,
        state_dir: Path | bool | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.start_name = name
        self.start_password = password
        self.start_token = token
        self.start_register = register
        self.tokens = tokens
        self.emoticons = Emoticons(emoticons or {})
        self.tz = tz
        self.clock = clock
        self.client_options = dict(client_options or {})
        #: Where the client keeps unread messages, history and its outbox (``True``:
        #: the user's data directory; ``None``: nothing kept, no offline mode).
        self.state_dir = state_dir
        #: Started offline: the session's start is finished once a connection is up.
        self.started_offline = False
        #: The account the session's client is for (its name), when known.
        self.account: str | None = None
        self.client: HomerClient | None = None
        self.me = ""
        self.rooms = Rooms()
        self.current: str | None = None
        self.presence: dict[str, str] = {}
        self.connection = ConnectionState()
        self.expires_at: float | None = None
        #: Server time minus this machine's (typing signals carry server times).
        self.skew = 0.0
        self.last_typing = 0.0
        self.loading_older = False
        #: Set once a session is up and its first room is on screen (for tests).
        self.ready = asyncio.Event()

    # -- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield RoomList(id="rooms")
            with Vertical(id="centre"):
                yield MessageView(emoticons=self.emoticons, tz=self.tz, id="messages")
                yield Static("", id="typing")
                yield Static("", id="completions")
                yield ChatInput(emoticons=self.emoticons, id="input")
        yield StatusLine(id="status")

    def part(self, selector: str, kind: type[W]) -> W:
        """A widget of the chat screen, whatever screen is on top (the login form,
        the room switcher). While the app closes, its screens and their widgets go
        away: whatever wanted to show something then (a worker, a timer's last tick)
        stops there, as if cancelled."""
        try:
            return self.screen_stack[0].query_one(selector, kind)
        except (IndexError, NoMatches):
            raise asyncio.CancelledError from None

    @property
    def view(self) -> MessageView:
        return self.part("#messages", MessageView)

    @property
    def input(self) -> ChatInput:
        return self.part("#input", ChatInput)

    def on_mount(self) -> None:
        self.refresh_status()
        self.set_interval(0.5, self.watch_connection)
        self.set_interval(1.0, self.refresh_typing)
        self.start()

    # -- logging in -----------------------------------------------------------------

    def new_client(self, url: str, *, account: str | None, **login: Any) -> HomerClient:
        """A client for ``url`` with these credentials (``token``, or ``name`` and
        ``password``), keeping its state per account when there is a state dir."""
        options = dict(self.client_options)
        self.account = account
        if self.state_dir is not None and account:
            options.update(state_dir=self.state_dir, account=account)
        return HomerClient(url, **login, **options)

    @work(exclusive=True, group="session")
    async def start(self) -> None:
        url = self.url
        if self.start_token and url:
            client = self.new_client(url, account=self.start_name, token=self.start_token)
            await self.connect(client)
            return
        if self.start_name and self.start_password and url:
            form = LoginForm(url, self.start_name, self.start_password, self.start_register)
            await self.log_in(form)
            return
        if url and self.tokens is not None:
            saved = await asyncio.to_thread(self.tokens.load, url, self.start_name)
            if saved is not None and saved.usable(self.clock()):
                client = self.new_client(url, account=saved.name, token=saved.token)
                error = await self.connect(client)
                if error is None:
                    return
                self.show_login(url=url, name=saved.name, error=f"Log in again ({error}).")
                return
        self.show_login(url=url or "", name=self.start_name or "")

    def show_login(self, *, url: str, name: str = "", error: str = "") -> None:
        screen = self.screen
        if isinstance(screen, LoginScreen):
            screen.show_error(error)
            return
        self.push_screen(LoginScreen(url=url, name=name, error=error))

    @on(LoginRequested)
    def login_requested(self, event: LoginRequested) -> None:
        self.log_in_worker(event.form)

    @work(exclusive=True, group="session")
    async def log_in_worker(self, form: LoginForm) -> None:
        await self.log_in(form)

    async def log_in(self, form: LoginForm) -> None:
        client = self.new_client(
            form.url, account=form.name, name=form.name, password=form.password
        )
        if form.register:
            try:
                await client.register(form.name, form.password)
            except ClientError as exc:
                await client.close()
                self.show_login(url=form.url, name=form.name, error=exc.message)
                return
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                await client.close()
                self.show_login(url=form.url, name=form.name, error=unreachable(form.url, exc))
                return
        error = await self.connect(client)
        if error is not None:
            self.show_login(url=form.url, name=form.name, error=error)

    async def connect(self, client: HomerClient) -> str | None:
        """Connect ``client`` and make it the session; the reason it failed, or ``None``."""
        self.set_connection(ConnectionState("connecting"))
        try:
            welcome = await client.start()
        except ClientError as exc:
            await client.close()
            self.set_connection(ConnectionState("offline"))
            return exc.message or exc.wire_code
        except (aiohttp.ClientError, OSError, ConnectionLost, ValueError) as exc:
            await client.close()
            self.set_connection(ConnectionState("offline"))
            return unreachable(client.base_url, exc)
        if not welcome:  # no node answers: what is kept here, and the outbox
            return await self.start_offline(client)
        self.client = client
        self.url = client.base_url
        self.me = str(welcome["user"]["name"])
        self.expires_at = welcome.get("expires_at")
        self.skew = float(welcome.get("server_time", self.clock())) - self.clock()
        if isinstance(self.screen, LoginScreen):
            self.pop_screen()
        self.set_connection(ConnectionState("online"))
        for info in welcome.get("rooms", []):
            self.rooms.add(info)
        await self.save_login()
        self.pump_events()
        self.keep_token_fresh()
        self.load_presence()
        ordered = self.rooms.ordered(self.me)
        await self.open_room(ordered[0].id if ordered else None)
        if not ordered:
            await self.view.add_notice(KEYS_HELP)
        self.input.focus()
        self.ready.set()
        return None

    async def start_offline(self, client: HomerClient) -> str | None:
        """Open the session from what the client keeps on disk (rooms, their latest
        messages, unread counts); ``reconnected`` finishes the start later."""
        keeper = client.keeper
        rooms = list(client.positions)
        if keeper is None or not rooms:  # nothing kept from before: nothing to show
            await client.close()
            self.set_connection(ConnectionState("offline"))
            return unreachable(client.base_url, ConnectionLost("no answer"))
        self.client, self.url, self.started_offline = client, client.base_url, True
        self.me = self.account or ""
        unread = await client.unread_counts()
        for room in rooms:
            self.rooms.add({"id": room, "unread": unread.get(room, 0)})
        if isinstance(self.screen, LoginScreen):
            self.pop_screen()
        self.set_connection(ConnectionState("offline", queued=keeper.queued))
        self.pump_events()
        ordered = self.rooms.ordered(self.me)
        await self.open_room(ordered[0].id if ordered else None)
        self.input.focus()
        self.ready.set()
        return None

    async def finish_start(self) -> None:
        """Online at last after starting offline: who we are, and what the start
        would have done."""
        client = self.client
        if client is None or not self.started_offline or not client.welcome:
            return
        self.started_offline = False
        welcome = client.welcome
        self.me = str(welcome["user"]["name"])
        self.expires_at = welcome.get("expires_at")
        for room in self.rooms.ordered(self.me):
            room.loaded = False  # the server's history, not the copy kept here
        await self.save_login()
        self.keep_token_fresh()
        self.load_presence()
        await self.open_room(self.current)

    async def save_login(self) -> None:
        client = self.client
        if self.tokens is None or client is None or client.token is None:
            return
        login = SavedLogin(client.base_url, self.me, client.token, self.expires_at)
        try:
            await asyncio.to_thread(self.tokens.save, login)
        except OSError as exc:
            await self.view.add_notice(f"could not keep the login: {exc}", classes="error")

    @work(group="refresh", exclusive=True)
    async def keep_token_fresh(self) -> None:
        """Refresh the token at :data:`REFRESH_AT` of its remaining life, and keep it."""
        while self.client is not None and self.expires_at is not None:
            wait = max(1.0, (self.expires_at - self.clock()) * REFRESH_AT)
            await asyncio.sleep(wait)
            try:
                answer = await self.client.request("refresh")
            except HomerError as exc:
                log.info("token refresh failed: %s", exc)
                await asyncio.sleep(min(30.0, wait))
                continue
            self.expires_at = answer.get("expires_at")
            await self.save_login()

    @work(group="presence", exclusive=True)
    async def load_presence(self) -> None:
        """The status of the people in the DMs now (presence events tell only changes)."""
        client = self.client
        for room in [r for r in self.rooms.ordered(self.me) if r.is_dm][:MAX_DM_STATUSES]:
            if client is None:
                return
            try:
                answer = await client.request("members", room=room.id)
            except HomerError as exc:
                log.debug("no members for %s: %s", room.id, exc)
                continue
            for member in answer.get("members", []):
                self.presence.setdefault(str(member["name"]).lower(), str(member["status"]))
        self.refresh_rooms()

    # -- the connection -------------------------------------------------------------

    def set_connection(self, connection: ConnectionState) -> None:
        """What the status line says of the connection (see the module's docstring)."""
        self.connection = connection
        self.refresh_status()

    def watch_connection(self) -> None:
        client = self.client
        if client is None or client.keeper is not None or self.connection.state == "offline":
            return  # a client that keeps state says so itself (status events)
        state = "online" if client.transport is not None else "reconnecting"
        if state != self.connection.state:
            self.set_connection(ConnectionState(state))

    def refresh_status(self) -> None:
        room = self.rooms.get(self.current) if self.current else None
        self.part("#status", StatusLine).show(
            self.connection,
            who=f"{self.me} @ {self.url}" if self.me else "",
            room=room.label(self.me) if room else "",
            topic=room.topic if room else "",
        )

    def refresh_rooms(self) -> None:
        self.part("#rooms", RoomList).show(
            self.rooms.ordered(self.me), current=self.current, me=self.me, presence=self.presence
        )

    def refresh_typing(self) -> None:
        room = self.rooms.get(self.current) if self.current else None
        names = room.typists(self.clock() + self.skew, self.me) if room else []
        if not names:
            text = ""
        elif len(names) == 1:
            text = f"{names[0]} is typing…"
        else:
            text = f"{', '.join(names[:-1])} and {names[-1]} are typing…"
        self.part("#typing", Static).update(Text(text))

    # -- events ---------------------------------------------------------------------

    @work(group="events", exclusive=True)
    async def pump_events(self) -> None:
        client = self.client
        assert client is not None
        async for event in client:
            try:
                await self.handle(event)
            except HomerError as exc:
                await self.view.add_notice(f"{event.op}: {exc.message}", classes="error")
            except NoMatches:
                return  # the chat screen's widgets are gone: the app is closing
            except (KeyError, TypeError, ValueError) as exc:
                # A malformed event from the server costs that event, not the session.
                log.warning("could not handle %r: %r", event, exc)
                await self.view.add_notice(f"a {event.op} event was unreadable", classes="error")

    async def handle(self, event: Envelope) -> None:
        op, room_id = event.op, event.room
        room = self.rooms.get(room_id) if room_id else None
        if op == "msg" and room is not None:
            await self.live_message(room, event)
        elif op == "joined" and room_id:
            self.rooms.add(event.body or {"id": room_id})
            self.refresh_rooms()
        elif op == "left" and room_id:
            label = room.label(self.me) if room is not None else f"#{room_id}"
            self.rooms.remove(room_id)
            if room_id == self.current:
                ordered = self.rooms.ordered(self.me)
                await self.open_room(ordered[0].id if ordered else None)
            self.refresh_rooms()
            reason = (event.body or {}).get("reason")
            if reason in ("kick", "ban"):
                verb = "removed from" if reason == "kick" else "banned from"
                await self.view.add_notice(f"You were {verb} {label}.", classes="error")
        elif op == "unread" and room is not None:
            body = event.body or {}
            room.read = max(room.read, int(body.get("read", 0)))
            room.unread = int(body.get("unread", 0))
            self.refresh_rooms()
        elif op == "presence" and event.sender:
            status = str((event.body or {}).get("status", ""))
            self.presence[event.sender.lower()] = status
            self.refresh_rooms()
        elif op == "typing" and room is not None and event.sender:
            room.typing[event.sender] = float((event.body or {}).get("until", 0))
            self.refresh_typing()
        elif op == "invited" and room_id:
            await self.view.add_notice(
                f"{event.sender} invited you to #{room_id}: /join {room_id} to go in"
            )
        elif op == "broadcast":
            text = str((event.body or {}).get("text", ""))
            await self.view.add_notice(f"[broadcast] {event.sender}: {text}")
        elif op == "purged" and room is not None:
            room.messages, room.loaded, room.more_before = [], False, False
            if room.id == self.current:
                await self.open_room(room.id)
        elif op == "status":
            body = event.body or {}
            self.set_connection(ConnectionState(str(body["status"]), int(body["queued"])))
        elif op == "reconnected":
            self.set_connection(ConnectionState("online", self.connection.queued))
            await self.reload_rooms()
            await self.finish_start()
        elif op == "disconnected":
            self.set_connection(ConnectionState("offline"))
            reason = str((event.body or {}).get("message", "the connection is closed"))
            await self.view.add_notice(f"offline: {reason}", classes="error")

    async def live_message(self, room: Room, message: Envelope) -> None:
        if message.sender:
            room.typing.pop(message.sender, None)
        previous = room.messages[-1] if room.messages else None
        if not room.add_live(message):
            return
        mine = (message.sender or "").lower() == self.me.lower()
        if room.id != self.current:
            if message.kind == "msg" and not mine:
                room.unread += 1
                self.refresh_rooms()
            return
        if message.ts is not None and (
            previous is None
            or previous.ts is None
            or day_of(previous.ts, self.tz) != day_of(message.ts, self.tz)
        ):
            await self.view.add_notice(f"── {day_label(message.ts, self.tz)} ──", classes="day")
        await self.view.add_line(message_text(message, emoticons=self.emoticons, tz=self.tz))
        self.refresh_typing()
        self.read_later(room)

    async def reload_rooms(self) -> None:
        """After a reconnect: the rooms as the server has them now."""
        client = self.client
        if client is None:
            return
        answer = await client.request("rooms")
        for info in answer.get("rooms", []):
            if info.get("id") in self.rooms:
                # The missed messages come again as events and are counted then.
                info = {k: v for k, v in info.items() if k not in ("unread", "read")}
            self.rooms.add(info)
        self.refresh_rooms()

    # -- rooms ----------------------------------------------------------------------

    async def go(self, room_id: str) -> None:
        """Show ``room_id``, unless it is on screen already (its new-messages line stays)
        or another screen (the login form, the switcher) is on top."""
        if room_id != self.current and self.screen is self.screen_stack[0]:
            await self.guarded(self.open_room(room_id))

    async def open_room(self, room_id: str | None) -> None:
        self.current = room_id
        room = self.rooms.get(room_id) if room_id else None
        if room is not None and self.client is not None:
            room.marker = room.read
            if self.client.transport is None and self.client.keeper is not None:
                # Offline: the copy kept here, fetched from the server once back.
                room.loaded, room.messages = False, []
                room.add_older(await self.client.cached(room.id, PAGE), more=False)
                await self.view.show(room, me=self.me, cached=True)
                self.refresh_rooms()
                self.refresh_status()
                return
            if not room.loaded:
                room.loaded, room.messages = True, []
                try:
                    answer = await self.client.request("history", room=room.id, limit=PAGE)
                except HomerError:
                    room.loaded = False
                    raise
                room.add_older(envelopes(answer), more=bool(answer.get("more")))
        await self.view.show(room, me=self.me)
        self.refresh_rooms()
        self.refresh_status()
        self.refresh_typing()
        if room is not None:
            await self.mark_read(room)

    def read_later(self, room: Room) -> None:
        """Move the read marker without holding up the next event: a burst of
        messages makes one ``read`` at a time, the last one covering the rest."""
        self.run_worker(self.read_quietly(room), group=f"read:{room.id}", exclusive=True)

    async def read_quietly(self, room: Room) -> None:
        try:
            await self.mark_read(room)
        except ClientError as exc:  # the room was left meanwhile: no marker to move
            log.debug("read marker of %s not moved: %s", room.id, exc)

    async def mark_read(self, room: Room) -> None:
        client = self.client
        if client is None or room.last_seq <= room.read:
            room.unread = 0
            return
        room.read, room.unread = room.last_seq, 0
        self.refresh_rooms()
        if client.keeper is not None:  # through the outbox, online or not
            await client.read_room(room.id)
            return
        with contextlib.suppress(ConnectionLost):  # the next open marks it again
            await client.read(room.id, room.last_seq)

    @on(MessageView.NeedOlder)
    async def need_older(self) -> None:
        await self.load_older()

    async def load_older(self) -> None:
        room = self.rooms.get(self.current) if self.current else None
        if room is None or self.client is None or not room.more_before or self.loading_older:
            return
        self.loading_older = True
        try:
            first = room.messages[0].seq if room.messages else room.last_seq + 1
            answer = await self.client.request("history", room=room.id, before=first, limit=PAGE)
            room.add_older(envelopes(answer), more=bool(answer.get("more")))
            await self.view.show(room, me=self.me, keep="offset")
        finally:
            self.loading_older = False

    def action_older(self) -> None:
        view = self.view
        if view.scroll_y <= 0:
            self.run_worker(self.load_older(), group="older", exclusive=True)
        view.scroll_page_up(animate=False)

    def action_newer(self) -> None:
        self.view.scroll_page_down(animate=False)

    async def action_next_room(self) -> None:
        await self.step_room(+1)

    async def action_previous_room(self) -> None:
        await self.step_room(-1)

    async def step_room(self, step: int) -> None:
        room = self.rooms.neighbour(self.current, step, self.me)
        if room is not None:
            await self.go(room.id)

    async def action_go_to(self, number: int) -> None:
        ordered = self.rooms.ordered(self.me)
        if 1 <= number <= len(ordered):
            await self.go(ordered[number - 1].id)

    def action_switch_room(self) -> None:
        if self.client is None or isinstance(self.screen, RoomSwitcher | LoginScreen):
            return
        labels = {room.id: room.label(self.me) for room in self.rooms.ordered(self.me)}

        async def chosen(room_id: str | None) -> None:
            if room_id is not None:
                await self.go(room_id)
            self.input.focus()

        self.push_screen(RoomSwitcher(labels), chosen)

    # -- input ----------------------------------------------------------------------

    @on(ChatInput.Changed, "#input")
    def typed(self) -> None:
        text = self.input.text
        names = self.input.emoticons.completions(self.input.before_cursor())
        hint = "  ".join(f":{n}: {self.emoticons.table[n]}" for n in names[:8])
        self.part("#completions", Static).update(Text(hint))
        now = self.clock()
        if (
            text.strip()
            and not text.startswith("/")
            and self.current is not None
            and self.client is not None
            and now - self.last_typing >= TYPING_INTERVAL
        ):
            self.last_typing = now
            self.signal_typing(self.current)

    @work(group="typing")
    async def signal_typing(self, room: str) -> None:
        if self.client is None:
            return
        try:
            await self.client.request("typing", room=room)
        except HomerError as exc:  # a hint only: nothing to tell the user
            log.debug("typing signal refused: %s", exc)

    @on(ChatInput.Submitted)
    def submitted(self, event: ChatInput.Submitted) -> None:
        self.last_typing = 0.0
        if not event.text.strip():
            return
        self.run_worker(self.guarded(self.perform(event.text)), group="input")

    async def guarded(self, job: Any) -> None:
        """Run ``job``; what goes wrong is said in the message view, never a crash."""
        try:
            await job
        except commands.CommandError as exc:
            await self.view.add_notice(str(exc), classes="error")
        except ClientError as exc:
            await self.view.add_notice(f"refused: {exc.message or exc.wire_code}", classes="error")
        except (ConnectionLost, aiohttp.ClientError, OSError) as exc:
            await self.view.add_notice(f"not sent, no connection: {exc}", classes="error")

    async def perform(self, text: str) -> None:
        await carry_out(self, text)

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()


def unreachable(url: str, exc: BaseException) -> str:
    return f"cannot reach {url}: {exc or type(exc).__name__}"
