"""Full-text search queries, made the same way for every adapter.

What a user types is never handed to the database's query language (FTS5's
``MATCH`` and PostgreSQL's ``to_tsquery`` each have a syntax, and a stray quote or
operator would be an error or a different query): it is cut into words, each of
which must appear (a trailing ``*`` makes one a prefix). Both adapters index words
without stemming (SQLite's ``unicode61`` tokenizer, PostgreSQL's ``simple``
configuration), so the same query finds the same messages on either.

Accents and case do not matter: the text indexed and the words searched for are
both folded (:func:`fold`: compatibility decomposition, combining marks dropped,
case folded), so ``cafe`` finds ``Café`` on either store. Matches come back from
the database marked, in the folded text, with two private-use characters
(:data:`OPEN`, :data:`CLOSE`), and :func:`highlights` turns them into character
offsets in the message's own text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from homer.errors import InvalidInput

__all__ = ["CLOSE", "MAX_TERMS", "OPEN", "Query", "fold", "highlights"]

OPEN = "\ue000"
CLOSE = "\ue001"
#: Words one query may hold.
MAX_TERMS = 16

_WORD = re.compile(r"(\w+)(\*?)")


@dataclass(frozen=True, slots=True)
class Query:
    """A search's words, each ``(word, prefix)``."""

    terms: tuple[tuple[str, bool], ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        if not isinstance(text, str):
            raise InvalidInput("query must be a string")
        terms = tuple((m[1], bool(m[2])) for m in _WORD.finditer(fold(text)))
        if not terms:
            raise InvalidInput("the query has no words to search for")
        if len(terms) > MAX_TERMS:
            raise InvalidInput(f"a query holds at most {MAX_TERMS} words")
        return cls(terms)

    def fts5(self) -> str:
        """An FTS5 ``MATCH`` expression: every word, each quoted."""
        return " ".join(f'"{word}"' + ("*" if prefix else "") for word, prefix in self.terms)

    def tsquery(self) -> str:
        """A PostgreSQL ``to_tsquery`` expression: every word, each quoted."""
        return " & ".join(f"'{word}'" + (":*" if prefix else "") for word, prefix in self.terms)


def fold(text: str) -> str:
    """``text`` as it is indexed and searched: without accents, case folded."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _origins(text: str) -> list[int]:
    """For each character of ``fold(text)``, the index of the one of ``text`` it
    comes from."""
    if text.isascii():
        return list(range(len(text)))
    origins: list[int] = []
    for index, char in enumerate(text):
        folded = fold(char)
        origins.extend([index] * len(folded))
    return origins


def highlights(text: str, marked: str) -> list[tuple[int, int]]:
    """The ``[start, end)`` offsets in ``text`` of the matches marked in ``marked``
    (``fold(text)`` with marks around each match)."""
    origins = _origins(text)
    found: list[tuple[int, int]] = []
    start = offset = 0
    for char in marked:
        if char == OPEN:
            start = offset
        elif char == CLOSE:
            if start < offset <= len(origins):
                found.append((origins[start], origins[offset - 1] + 1))
        else:
            offset += 1
    return found
