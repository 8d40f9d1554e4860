"""Full-text search queries, made the same way for every adapter.

What a user types is never handed to the database's query language (FTS5's
``MATCH`` and PostgreSQL's ``to_tsquery`` each have a syntax, and a stray quote or
operator would be an error or a different query): it is cut into words, each of
which must appear (a trailing ``*`` makes one a prefix). Both adapters index words
without stemming (SQLite's ``unicode61`` tokenizer, PostgreSQL's ``simple``
configuration), so the same query finds the same messages on either.

Accents and case do not matter: the text indexed and the words searched for are
both folded (:func:`fold`: compatibility decomposition, combining marks dropped,
case folded), so ``cafe`` finds ``Café`` on either store. Where a message matched
(:meth:`Query.highlights`) is worked out here from its text, the same way for
both stores, as character offsets in the message's own text.

Ranking: a word found in most messages (``the``, ``ok``) matches hundreds of
thousands of them, and scoring them all takes the database tens of
milliseconds. Each adapter therefore ranks the newest :data:`WINDOW` matches
in the user's rooms (BM25 on SQLite, ``ts_rank_cd`` on PostgreSQL): for rarer
words that is every match, for common ones the recent conversation, which is
what chat users look for.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from homer.errors import InvalidInput

__all__ = ["MAX_TERMS", "SEARCHABLE", "WINDOW", "Query", "filters", "fold"]

#: Words one query may hold.
MAX_TERMS = 16
#: The newest matches a search ranks.
WINDOW = 1000

_WORD = re.compile(r"(\w+)(\*?)")
#: What a query needs to find anything: a word (:meth:`Query.parse`).
SEARCHABLE = r"\w"
_TOKEN = re.compile(r"\w+")


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

    def highlights(self, text: str) -> list[tuple[int, int]]:
        """The ``[start, end)`` offsets in ``text`` of the words this query matches."""
        folded = fold(text)
        whole = {word for word, prefix in self.terms if not prefix}
        prefixes = tuple(word for word, prefix in self.terms if prefix)
        spans = [
            (m.start(), m.end())
            for m in _TOKEN.finditer(folded)
            if m[0] in whole or (prefixes and m[0].startswith(prefixes))
        ]
        if not spans or text.isascii():
            return spans
        origins = _origins(text)
        return [(origins[a], origins[b - 1] + 1) for a, b in spans]


def filters(
    room_id: str | None, sender_id: str | None, since: float | None, until: float | None
) -> list[tuple[str, str, object]]:
    """What a search asks besides the words, as (column, operator, value): the
    message's room, sender and ``ts``, each only when given."""
    given: list[tuple[str, str, object]] = [
        ("room_id", "=", room_id),
        ("sender_id", "=", sender_id),
        ("ts", ">=", since),
        ("ts", "<", until),
    ]
    return [(column, op, value) for column, op, value in given if value is not None]


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
