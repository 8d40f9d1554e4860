"""The screens over the chat: the login form and the room switcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from homer.chat.rooms import fuzzy_filter

__all__ = ["LoginForm", "LoginRequested", "LoginScreen", "RoomSwitcher"]


@dataclass(frozen=True, slots=True)
class LoginForm:
    url: str
    name: str
    password: str
    register: bool = False


class LoginRequested(Message):
    """The user asked to log in or register with :attr:`form`."""

    def __init__(self, form: LoginForm) -> None:
        super().__init__()
        self.form = form


class LoginScreen(Screen[None]):
    """Server URL, name, password; Log in or Register. Posts :class:`LoginRequested`
    to the app, which shows the server's refusal with :meth:`show_error`."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.quit", "Quit")]

    def __init__(self, *, url: str = "", name: str = "", error: str = "") -> None:
        super().__init__()
        self.url, self.user, self.error = url, name, error
        #: A login is on its way: the buttons wait for its answer.
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="login"):
            yield Static(Text("Homer chat: log in or register"), id="login-title")
            yield Label("Server URL")
            yield Input(self.url, placeholder="http://127.0.0.1:8080", id="url")
            yield Label("Name")
            yield Input(self.user, placeholder="your name", id="name")
            yield Label("Password")
            yield Input(placeholder="password", password=True, id="password")
            with Horizontal(id="login-buttons"):
                yield Button("Log in", variant="primary", id="login-button")
                yield Button("Register", id="register-button")
            yield Static(Text(self.error), id="login-error")

    def on_mount(self) -> None:
        empty = [i for i in self.query(Input) if not i.value]
        (empty[0] if empty else self.query_one("#password", Input)).focus()

    def show_error(self, message: str) -> None:
        self.busy = False
        self.query_one("#login-error", Static).update(Text(message))

    def form(self, *, register: bool) -> LoginForm | None:
        url = self.query_one("#url", Input).value.strip()
        name = self.query_one("#name", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not (url and name and password):
            self.show_error("Give the server's URL, a name and a password.")
            return None
        return LoginForm(url, name, password, register)

    def submit(self, *, register: bool) -> None:
        if self.busy:
            return
        form = self.form(register=register)
        if form is None:
            return
        self.busy = True
        self.query_one("#login-error", Static).update(
            Text("Registering…" if register else "Logging in…")
        )
        self.app.post_message(LoginRequested(form))

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "password" or all(i.value for i in self.query(Input)):
            self.submit(register=False)
        else:
            self.focus_next()

    @on(Button.Pressed, "#login-button")
    def log_in(self) -> None:
        self.submit(register=False)

    @on(Button.Pressed, "#register-button")
    def register(self) -> None:
        self.submit(register=True)


class RoomSwitcher(ModalScreen[str | None]):
    """Ctrl+K: type to filter the rooms (fuzzy), Enter goes there, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, labels: dict[str, str]) -> None:
        """``labels``: room id → what the list shows (``#lobby``, ``@bob``)."""
        super().__init__()
        self.labels = labels
        self.by_label = {label: room for room, label in labels.items()}

    def compose(self) -> ComposeResult:
        with Vertical(id="switcher"):
            yield Input(placeholder="Go to room…", id="switcher-query")
            yield OptionList(*self.options(""), id="switcher-options")

    def options(self, query: str) -> list[Option]:
        return [
            Option(Text(label), id=self.by_label[label])
            for label in fuzzy_filter(query.lstrip("#@"), self.labels.values())
        ]

    @on(Input.Changed)
    def filter(self, event: Input.Changed) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self.options(event.value))
        if options.option_count:
            options.highlighted = 0

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            options.highlighted = 0

    def on_key(self, event: events.Key) -> None:
        options = self.query_one(OptionList)
        if event.key in ("down", "up") and options.option_count:
            step = 1 if event.key == "down" else -1
            options.highlighted = ((options.highlighted or 0) + step) % options.option_count
            event.stop()

    @on(Input.Submitted)
    def choose(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None or not options.option_count:
            self.dismiss(None)
            return
        self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
