"""The pure rules of rich messaging: reaction keys, mentions in text, search
queries, folding and highlights."""

from __future__ import annotations

import pytest

from homer.errors import InvalidInput
from homer.messaging.changes import check_key
from homer.messaging.mentions import mentioned_names
from homer.store.search import Query, fold


@pytest.mark.parametrize(
    "key", ["👍", "👍🏽", "👨‍👩‍👧", "1️⃣", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🇫🇷", "❤️", ":tada:", ":+1:", ":thumbs_up-2:"]
)
def test_emoji_and_shortcodes_are_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a",
        "ok",
        "👍 ",
        " 👍",
        "a👍",
        "1",
        "é",
        "日",
        "\x00",
        "\u200b",
        "👍\n",
        ":Tada:",
        "::",
        ":" + "x" * 70 + ":",
        "👍" * 17,
        "<b>",
        5,
        None,
    ],
)
def test_anything_else_is_refused(key: object) -> None:
    with pytest.raises(InvalidInput):
        check_key(key)


def test_mentions_are_names_that_start_a_word() -> None:
    assert mentioned_names("hi @bob, @Ann. and @room! mail ann@example.com @bob") == [
        "bob",
        "Ann",
        "room",
    ]
    assert mentioned_names("@a.b-c- end @x_y") == ["a.b-c", "x_y"]
    assert mentioned_names("no mentions here") == []
    assert mentioned_names("@@double @") == []


def test_a_query_is_words_never_syntax() -> None:
    query = Query.parse('Deploy* "café" OR (NEAR x) -y')
    assert query.terms == (
        ("deploy", True),
        ("cafe", False),
        ("or", False),
        ("near", False),
        ("x", False),
        ("y", False),
    )
    assert query.fts5() == '"deploy"* "cafe" "or" "near" "x" "y"'
    assert query.tsquery() == "'deploy':* & 'cafe' & 'or' & 'near' & 'x' & 'y'"
    for empty in ("", "  ", "!!! ???", "*"):
        with pytest.raises(InvalidInput):
            Query.parse(empty)
    with pytest.raises(InvalidInput):
        Query.parse(" ".join(["w"] * 17))


def test_folding_drops_accents_and_case() -> None:
    assert fold("Café CRÈME") == "cafe creme"
    assert fold("ﬁne Straße") == "fine strasse"
    assert fold("ASCII Only") == "ascii only"


def test_highlights_are_offsets_in_the_original_text() -> None:
    text = "ﬁne Café, deployed: CAFES"
    spans = Query.parse("fine cafe deploy*").highlights(text)
    assert [text[a:b] for a, b in spans] == ["ﬁne", "Café", "deployed"]
    assert Query.parse("cafe").highlights("abc") == []
    assert Query.parse("x").highlights("x-ray X") == [(0, 1), (6, 7)]
