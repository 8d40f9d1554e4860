"""Emoticon shortcodes: the built-in table, expansion, completion, and the
user's file that extends it."""

from __future__ import annotations

from pathlib import Path

import pytest

from homer.chat.emoticons import KAOMOJI, EmoticonError, Emoticons, load_emoticons_file
from homer.chat.formatting import message_text
from homer.protocol.envelope import Envelope


def test_the_table_has_the_documented_kaomoji() -> None:
    assert len(KAOMOJI) >= 30
    assert KAOMOJI["shrug"] == "¯\\_(ツ)_/¯"
    assert KAOMOJI["tableflip"] == "(╯°□°)╯︵ ┻━┻"
    assert KAOMOJI["lenny"] == "( ͡° ͜ʖ ͡°)"
    assert KAOMOJI["happy"] == "(^_^)"


def test_every_kaomoji_is_in_the_documentation() -> None:
    page = (Path(__file__).parents[2] / "docs" / "reference" / "chat.md").read_text()
    for name, art in KAOMOJI.items():
        assert f"`:{name}:`" in page, name
        assert art.replace("|", "\\|") in page, name


def test_expands_known_shortcodes_only() -> None:
    emoticons = Emoticons()
    assert emoticons.expand("well :shrug: :nope: :happy:") == "well ¯\\_(ツ)_/¯ :nope: (^_^)"
    assert emoticons.expand("10:30:45") == "10:30:45"


def test_completes_the_shortcode_before_the_cursor() -> None:
    emoticons = Emoticons()
    assert emoticons.completions("hi :sh") == ["shrug", "shy"]
    assert emoticons.complete("hi :sh") == "hi :sh"  # two fit: nothing more in common
    assert emoticons.complete("hi :shr") == "hi :shrug:"
    assert emoticons.complete("hi :ta") == "hi :tableflip:"
    assert emoticons.complete("no colon") is None
    assert emoticons.complete("at 10:3") is None  # a time, not a shortcode


def test_applications_and_users_add_and_override(tmp_path: Path) -> None:
    path = tmp_path / "emoticons.toml"
    path.write_text('[emoticons]\ncoffee = "c[_]"\nhappy = "(^o^)"\n', encoding="utf-8")
    emoticons = Emoticons({"bot": "[o_o]"}, load_emoticons_file(path))
    assert emoticons.expand(":coffee: :happy: :bot:") == "c[_] (^o^) [o_o]"
    assert load_emoticons_file(tmp_path / "missing.toml") == {}


@pytest.mark.parametrize(
    "text",
    ['[emoticons]\n"Bad Name" = "x"\n', '[emoticons]\nempty = ""\n', "emoticons = 3\n", "[broken"],
)
def test_a_malformed_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "emoticons.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EmoticonError):
        load_emoticons_file(path)


def test_changes_to_messages_read_as_a_transcript() -> None:
    """Edits, redactions and reactions show as lines of their own, and a message
    shows as it is now: edited, or deleted."""
    shortcodes = Emoticons()

    def shown(kind: str, **body: object) -> str:
        event = Envelope(op="msg", room="r", seq=2, sender="bob", ts=0.0, kind=kind, body=body)
        return message_text(event, emoticons=shortcodes, tz=None).plain.split(" ", 1)[1]

    smile = shortcodes.expand(":smile:")
    assert smile != ":smile:"
    assert shown("edit", target=1, text="fixed :smile:") == f"bob edited a message: fixed {smile}"
    assert shown("redact", target=1) == "bob deleted a message"
    assert shown("react", target=1, key=":tada:") == f"bob reacted {shortcodes.expand(':tada:')}"
    assert shown("unreact", target=1, key="👍") == "bob took back 👍"
    assert shown("msg", text="hello", edits=2) == "bob: hello (edited)"
    assert shown("msg", text="", redacted={"by": "u"}) == "bob: (message deleted)"
