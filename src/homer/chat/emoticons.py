"""Emoticon shortcodes (``:shrug:``) and the text art they stand for.

Messages travel as their author typed them; a shortcode is replaced by its art
only when a message is shown. :data:`KAOMOJI` is the built-in table; an
application passes more to :class:`~homer.chat.app.ChatApp`, and a user adds
or overrides entries in ``emoticons.toml`` in the configuration directory
(:func:`homer.chat.paths.config_dir`)::

    [emoticons]
    coffee = "c[_]"
    shrug = "¯\\\\_(ツ)_/¯"

A name is 1-32 of ``a-z``, ``0-9``, ``_``, ``+`` and ``-``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "KAOMOJI",
    "EmoticonError",
    "Emoticons",
    "load_emoticons_file",
]

#: The built-in table: shortcode name → text art.
KAOMOJI: Mapping[str, str] = {
    "shrug": "¯\\_(ツ)_/¯",
    "tableflip": "(╯°□°)╯︵ ┻━┻",
    "unflip": "┬─┬ノ( º _ ºノ)",
    "lenny": "( ͡° ͜ʖ ͡°)",
    "happy": "(^_^)",
    "joy": "(≧▽≦)",
    "smile": "(◕‿◕)",
    "grin": "(＾▽＾)",
    "wink": "(^_~)",
    "sad": "(╥_╥)",
    "cry": "(ಥ﹏ಥ)",
    "angry": "(╬ Ò﹏Ó)",
    "rage": "ヽ(`Д´)ﾉ",
    "disapprove": "ಠ_ಠ",
    "surprised": "(⊙_⊙)",
    "confused": "(・_・;)",
    "sweat": "(^_^;)",
    "love": "(♥‿♥)",
    "hug": "(づ｡◕‿‿◕｡)づ",
    "kiss": "(づ￣ ³￣)づ",
    "wave": "(^_^)/",
    "bye": "(´・ω・)ﾉ",
    "cheer": "\\(^o^)/",
    "dance": "ヾ(⌐■_■)ノ♪",
    "cool": "(⌐■_■)",
    "sleepy": "(－_－) zzZ",
    "thinking": "(・・?)",
    "facepalm": "(－‸ლ)",
    "bear": "ʕ•ᴥ•ʔ",
    "cat": "(=^･ω･^=)",
    "dog": "▼・ᴥ・▼",
    "fish": "<゜)))彡",
    "sparkles": "(ﾉ◕ヮ◕)ﾉ*:･ﾟ✧",
    "yay": "٩(◕‿◕)۶",
    "flex": "ᕦ(ò_óˇ)ᕤ",
    "bow": "m(_ _)m",
    "run": "ε=ε=┌( >_<)┘",
    "peace": "✌(◕‿-)✌",
    "meh": "(￣ー￣)",
    "shy": "(⁄ ⁄•⁄ω⁄•⁄ ⁄)",
    "worried": "(´･_･`)",
    "party": "ヽ(^o^)ノ",
}

NAME = re.compile(r"[a-z0-9_+-]{1,32}")
SHORTCODE = re.compile(r":([a-z0-9_+-]{1,32}):")
#: A shortcode being typed: a colon, then part of a name, up to the cursor.
PARTIAL = re.compile(r"(?:^|(?<=\s)):([a-z0-9_+-]*)$")


class EmoticonError(ValueError):
    """An emoticon table (a file or an application's mapping) is malformed."""


class Emoticons:
    """A table of shortcodes: expands them in text and completes partial ones."""

    def __init__(self, *tables: Mapping[str, str]) -> None:
        merged: dict[str, str] = {}
        for table in (KAOMOJI, *tables):
            for name, art in table.items():
                if not isinstance(name, str) or NAME.fullmatch(name) is None:
                    raise EmoticonError(f"{name!r} is not an emoticon name (a-z, 0-9, _, +, -)")
                if not isinstance(art, str) or not art:
                    raise EmoticonError(f"the emoticon {name!r} needs some text")
                merged[name] = art
        self.table: Mapping[str, str] = merged

    def expand(self, text: str) -> str:
        """``text`` with every known ``:name:`` replaced by its art; unknown ones stay."""
        return SHORTCODE.sub(lambda m: self.table.get(m[1], m[0]), text)

    def completions(self, before_cursor: str) -> list[str]:
        """The names that complete the shortcode being typed at the end of
        ``before_cursor`` (empty when none is being typed), sorted."""
        match = PARTIAL.search(before_cursor)
        if match is None:
            return []
        start = match[1]
        return sorted(name for name in self.table if name.startswith(start))

    def complete(self, before_cursor: str) -> str | None:
        """What ``before_cursor`` becomes when its partial shortcode is completed:
        the full ``:name:`` when one name fits, the longest common start of the names
        when several do (``None`` when nothing is typed or nothing fits)."""
        names = self.completions(before_cursor)
        match = PARTIAL.search(before_cursor)
        if not names or match is None:
            return None
        head = before_cursor[: match.start(1) - 1]
        if len(names) == 1:
            return f"{head}:{names[0]}:"
        common = names[0]
        for name in names[1:]:
            while not name.startswith(common):
                common = common[:-1]
        return f"{head}:{common}"


def load_emoticons_file(path: Path) -> dict[str, str]:
    """The ``[emoticons]`` table of a TOML file (empty when the file does not exist);
    :class:`EmoticonError` when it cannot be read as one."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EmoticonError(f"{path}: {exc}") from exc
    table = data.get("emoticons", {})
    if not isinstance(table, dict):
        raise EmoticonError(f'{path}: [emoticons] must be a table of name = "art"')
    Emoticons(table)  # checks the names and the art
    return {str(k): str(v) for k, v in table.items()}
