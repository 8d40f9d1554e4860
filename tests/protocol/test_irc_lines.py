"""IRC lines: the community's parsing and joining cases, the reader's limits however
the bytes are cut, and render then parse giving back any valid message."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homer.protocol.irc import (
    MAX_MESSAGE,
    MAX_TAGS,
    IrcError,
    IrcMessage,
    IrcSyntaxError,
    LineReader,
    LineTooLong,
    NotUtf8,
    escape_tag,
    parse,
    render,
    unescape_tag,
)

# -- parsing: cases after ircdocs/parser-tests (msg-split) ---------------------------------

#: (line, tags, source, command, params). The command comes back in upper case.
SPLIT: list[tuple[str, dict[str, str] | None, str | None, str, list[str]]] = [
    ("foo bar baz asdf", None, None, "FOO", ["bar", "baz", "asdf"]),
    (":coolguy foo bar baz asdf", None, "coolguy", "FOO", ["bar", "baz", "asdf"]),
    ("foo bar baz :asdf quux", None, None, "FOO", ["bar", "baz", "asdf quux"]),
    ("foo bar baz :", None, None, "FOO", ["bar", "baz", ""]),
    ("foo bar baz ::asdf", None, None, "FOO", ["bar", "baz", ":asdf"]),
    (":coolguy foo bar baz :asdf quux", None, "coolguy", "FOO", ["bar", "baz", "asdf quux"]),
    (":coolguy foo bar baz :  asdf quux ", None, "coolguy", "FOO", ["bar", "baz", "  asdf quux "]),
    (":coolguy PRIVMSG bar :lol :) ", None, "coolguy", "PRIVMSG", ["bar", "lol :) "]),
    (":coolguy foo bar baz :", None, "coolguy", "FOO", ["bar", "baz", ""]),
    (":coolguy foo bar baz :  ", None, "coolguy", "FOO", ["bar", "baz", "  "]),
    ("@a=b;c=32;k;rt=ql7 foo", {"a": "b", "c": "32", "k": "", "rt": "ql7"}, None, "FOO", []),
    (
        "@a=b\\\\and\\nk;c=72\\s45;d=gh\\:764 foo",
        {"a": "b\\and\nk", "c": "72 45", "d": "gh;764"},
        None,
        "FOO",
        [],
    ),
    ("@c;h=;a=b :quux ab cd", {"c": "", "h": "", "a": "b"}, "quux", "AB", ["cd"]),
    (":src JOIN #chan", None, "src", "JOIN", ["#chan"]),
    (":src JOIN :#chan", None, "src", "JOIN", ["#chan"]),
    (":src AWAY", None, "src", "AWAY", []),
    (":src AWAY ", None, "src", "AWAY", []),
    # A tab is not a space: it stays inside the source (or the parameter).
    (":cool\tguy foo bar baz", None, "cool\tguy", "FOO", ["bar", "baz"]),
    ("foo bar\tbaz", None, None, "FOO", ["bar\tbaz"]),
    ("foo b\u00a0r \u2028 :x", None, None, "FOO", ["b\u00a0r", "\u2028", "x"]),
    (
        ":coolguy!ag@net\x035w\x03ork.admin PRIVMSG foo :bar baz",
        None,
        "coolguy!ag@net\x035w\x03ork.admin",
        "PRIVMSG",
        ["foo", "bar baz"],
    ),
    (
        "@tag1=value1;tag2;vendor1/tag3=value2;vendor2/tag4= "
        ":irc.example.com COMMAND param1 param2 :param3 param3",
        {"tag1": "value1", "tag2": "", "vendor1/tag3": "value2", "vendor2/tag4": ""},
        "irc.example.com",
        "COMMAND",
        ["param1", "param2", "param3 param3"],
    ),
    ("COMMAND", None, None, "COMMAND", []),
    # Every escape, and a backslash escaped before an "s" that is not one.
    ("@foo=\\\\\\\\\\:\\\\s\\s\\r\\n COMMAND", {"foo": "\\\\;\\s \r\n"}, None, "COMMAND", []),
    # Lines from servers that put two spaces, or one at the end.
    (
        ":gravel.mozilla.org 432  #momo :Erroneous Nickname: Illegal characters",
        None,
        "gravel.mozilla.org",
        "432",
        ["#momo", "Erroneous Nickname: Illegal characters"],
    ),
    (":gravel.mozilla.org MODE #tckk +n ", None, "gravel.mozilla.org", "MODE", ["#tckk", "+n"]),
    (
        ":services.esper.net MODE #foo-bar +o foobar  ",
        None,
        "services.esper.net",
        "MODE",
        ["#foo-bar", "+o", "foobar"],
    ),
    # Unescaped a character at a time: "\\\\n" is a backslash then "n".
    ("@tag1=value\\\\ntest COMMAND", {"tag1": "value\\ntest"}, None, "COMMAND", []),
    # An unknown escape is the character; a lone backslash at the end is dropped.
    ("@tag1=value\\1 COMMAND", {"tag1": "value1"}, None, "COMMAND", []),
    ("@tag1=value1\\ COMMAND", {"tag1": "value1"}, None, "COMMAND", []),
    # The last of a repeated tag wins; a vendor's tag is another tag.
    (
        "@tag1=1;tag2=3;tag3=4;tag1=5;vendor/tag2=8 COMMAND",
        {"tag1": "5", "tag2": "3", "tag3": "4", "vendor/tag2": "8"},
        None,
        "COMMAND",
        [],
    ),
    (
        "@+draft/reply=abc;+typing=active TAGMSG #a",
        {"+draft/reply": "abc", "+typing": "active"},
        None,
        "TAGMSG",
        ["#a"],
    ),
    (":SomeOp MODE #channel :+i", None, "SomeOp", "MODE", ["#channel", "+i"]),
    (
        ":SomeOp MODE #channel +oo SomeUser :AnotherUser",
        None,
        "SomeOp",
        "MODE",
        ["#channel", "+oo", "SomeUser", "AnotherUser"],
    ),
    ("privmsg #a :caf\u00e9 \U0001f600", None, None, "PRIVMSG", ["#a", "caf\u00e9 \U0001f600"]),
    ("  PING   x  ", None, None, "PING", ["x"]),
]


@pytest.mark.parametrize(("line", "tags", "source", "command", "params"), SPLIT)
def test_lines_parse_as_the_community_tests_say(
    line: str, tags: dict[str, str] | None, source: str | None, command: str, params: list[str]
) -> None:
    assert parse(line) == IrcMessage(command, tuple(params), tags, source)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        ":src",
        ":src ",
        ": PING",
        ":only :a trailing parameter",
        "@a=b",
        "@a=b ",
        "@a=b :src",
        "@=b PING",
        "@a=b;k!y PING",
        "@a/ PING",
        "PRIV.MSG #a",
        "12 x",
        "1234 x",
        "PRIVMSG1 #a",
        "P\u00c9NG",
        "PRIVMSG #a :hi\x00there",
        "PRIVMSG #a :hi\rthere",
        "PING\r",
        "@a=\x00 PING",
    ],
)
def test_malformed_lines_raise_irc_syntax_error(line: str) -> None:
    with pytest.raises(IrcSyntaxError):
        parse(line)


@settings(max_examples=1_000, deadline=None)
@given(st.text(max_size=80) | st.text("@:; =\\/+aA1 \t\r\x00", max_size=40))
def test_any_text_parses_or_raises_irc_syntax_error(line: str) -> None:
    try:
        message = parse(line)
    except IrcSyntaxError:
        return
    assert message.command.isascii()
    assert message.command.isupper() or message.command.isdigit()
    assert all(param and " " not in param for param in message.params[:-1])


def test_param_falls_back_to_its_default() -> None:
    message = parse("KICK #a bob")
    assert (message.param(1), message.param(2), message.param(2, "-")) == ("bob", "", "-")


# -- rendering: cases after ircdocs/parser-tests (msg-join) --------------------------------

#: (command, params, source, tags, the lines that are right).
JOIN: list[tuple[str, list[str], str | None, dict[str, str] | None, set[bytes]]] = [
    ("foo", ["bar", "baz", "asdf"], None, None, {b"foo bar baz asdf"}),
    ("foo", ["bar", "baz", "asdf"], "src", None, {b":src foo bar baz asdf"}),
    ("foo", ["bar", "baz", "asdf quux"], None, None, {b"foo bar baz :asdf quux"}),
    ("foo", ["bar", "baz", ""], None, None, {b"foo bar baz :"}),
    ("foo", ["bar", "baz", ":asdf"], None, None, {b"foo bar baz ::asdf"}),
    ("foo", ["bar", "baz", "asdf quux"], "coolguy", None, {b":coolguy foo bar baz :asdf quux"}),
    ("foo", ["b\tar", "baz", "  asdf quux "], None, None, {b"foo b\tar baz :  asdf quux "}),
    ("foo", [], None, None, {b"foo"}),
    ("foo", [""], None, None, {b"foo :"}),
    ("PRIVMSG", ["#a", "caf\u00e9"], None, None, {"PRIVMSG #a caf\u00e9".encode()}),
    (
        "foo",
        [],
        None,
        {"a": "b", "c": "32", "k": "", "rt": "ql7"},
        {b"@a=b;c=32;k;rt=ql7 foo", b"@a=b;c=32;k=;rt=ql7 foo"},
    ),
    (
        "foo",
        [],
        None,
        {"a": "b\\and\nk", "c": "72 45", "d": "gh;764"},
        {b"@a=b\\\\and\\nk;c=72\\s45;d=gh\\:764 foo"},
    ),
    ("ab", ["cd"], "quux", {"c": "", "h": "", "a": "b"}, {b"@c;h;a=b :quux ab cd"}),
    ("COMMAND", [], None, {"foo": "\\\\;\\s \r\n"}, {b"@foo=\\\\\\\\\\:\\\\s\\s\\r\\n COMMAND"}),
]


@pytest.mark.parametrize(("command", "params", "source", "tags", "lines"), JOIN)
def test_lines_render_as_the_community_tests_say(
    command: str,
    params: list[str],
    source: str | None,
    tags: dict[str, str] | None,
    lines: set[bytes],
) -> None:
    wire = render(command, *params, source=source, tags=tags)
    assert wire.endswith(b"\r\n")
    assert wire[:-2] in lines


def test_the_last_parameter_is_marked_only_when_it_must_be() -> None:
    assert render("PRIVMSG", "#a", "hi") == b"PRIVMSG #a hi\r\n"
    assert render("PRIVMSG", "#a", "hi:there") == b"PRIVMSG #a hi:there\r\n"
    assert render("PRIVMSG", "#a", "hi there") == b"PRIVMSG #a :hi there\r\n"
    assert render("PRIVMSG", "#a", ":)") == b"PRIVMSG #a ::)\r\n"
    assert render("PRIVMSG", "#a", "") == b"PRIVMSG #a :\r\n"
    assert render("PRIVMSG", "#a", "a\tb") == b"PRIVMSG #a a\tb\r\n"


def test_nothing_rendered_can_end_a_line_early() -> None:
    """A CR, LF or NUL from anywhere (a parameter, the source, a tag value) never
    reaches the wire inside a line; a line ending in the last parameter becomes a
    space, which makes it trailing."""
    wire = render(
        "PRIVMSG",
        "#a\r\nQUIT",
        "hi\r\nQUIT :x\x00",
        source="n\ri\nck\x00",
        tags={"+x": "a\x00b\r\nc", "y": "\x00"},
    )
    assert wire == b"@+x=ab\\r\\nc;y= :n i ck  PRIVMSG #a  QUIT :hi  QUIT :x \r\n"
    assert render("PRIVMSG", "#a", "one\ntwo") == b"PRIVMSG #a :one two\r\n"


_ANY_TEXT = st.text(st.characters(blacklist_categories=["Cs"]) | st.sampled_from("\r\n\x00 :"))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_ANY_TEXT, max_size=4),
    st.none() | _ANY_TEXT,
    st.none() | st.dictionaries(st.sampled_from(["a", "+b", "v.example/c"]), _ANY_TEXT),
)
def test_whatever_the_values_a_rendered_line_is_one_line(
    params: list[str], source: str | None, tags: dict[str, str] | None
) -> None:
    wire = render("PRIVMSG", *params, source=source, tags=tags)
    assert wire.endswith(b"\r\n")
    assert not any(byte in wire[:-2] for byte in b"\r\n\x00")
    # Bad values may spoil this line (see render), never the next.
    line, after = LineReader().feed(wire + b"PING x\r\n")
    assert after == "PING x"
    if isinstance(line, str):
        with contextlib.suppress(IrcSyntaxError):
            parse(line)


def test_tag_values_escape_and_unescape() -> None:
    assert escape_tag("a;b c\\d\re\nf") == "a\\:b\\sc\\\\d\\re\\nf"
    assert unescape_tag("a\\:b\\sc\\\\d\\re\\nf") == "a;b c\\d\re\nf"
    assert escape_tag("nul\x00") == "nul"
    assert unescape_tag("plain") == "plain"
    assert unescape_tag("\\a\\b\\") == "ab"
    assert unescape_tag("\\\\") == "\\"
    assert unescape_tag("\\\\\\") == "\\"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_unescape_undoes_escape(value: str) -> None:
    assert unescape_tag(escape_tag(value)) == value.replace("\x00", "")


# -- render then parse gives back the message ----------------------------------------------

#: A middle parameter: no space, not empty, no leading ":", nothing that ends a line.
_MIDDLE = st.text(
    st.characters(blacklist_characters=" \r\n\x00", blacklist_categories=["Cs"]), min_size=1
).filter(lambda text: not text.startswith(":"))
_TRAILING = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]))
#: Tag values: anything, and often the characters that must be escaped.
_TAG_VALUE = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])) | (
    st.text(";: \\\r\nsrn\u00e9")
)
_TAG_KEY = st.from_regex(r"\+?([a-z0-9.-]{1,8}/)?[A-Za-z0-9-]{1,8}", fullmatch=True)
_MESSAGES = st.builds(
    IrcMessage,
    command=st.from_regex(r"[A-Z]{1,12}|[0-9]{3}", fullmatch=True),
    params=st.lists(_MIDDLE, max_size=4).flatmap(
        lambda middle: st.just(()) | _TRAILING.map(lambda last: (*middle, last))
    ),
    tags=st.none() | st.dictionaries(_TAG_KEY, _TAG_VALUE, min_size=1, max_size=4),
    source=st.none() | _MIDDLE,
)


@settings(max_examples=300, deadline=None)
@given(_MESSAGES)
def test_render_then_parse_gives_the_message_back(message: IrcMessage) -> None:
    wire = render(message.command, *message.params, source=message.source, tags=message.tags)
    assert wire.endswith(b"\r\n")
    assert not any(byte in wire[:-2] for byte in b"\r\n\x00")
    assert parse(wire[:-2].decode()) == message
    # And through a reader: the same line, unless it is past the limits.
    (line,) = LineReader().feed(wire)
    assert line == wire[:-2].decode() or isinstance(line, LineTooLong)


# -- the reader ----------------------------------------------------------------------------


def feed_bytewise(data: bytes) -> list[str | IrcError]:
    """Everything out of ``data`` fed a byte at a time, checking the reader's limit."""
    reader = LineReader()
    out: list[str | IrcError] = []
    for index in range(len(data)):
        out += reader.feed(data[index : index + 1])
        assert len(reader._pending) <= reader.limit
    return out


def kinds(out: list[str | IrcError]) -> list[str | type[IrcError]]:
    """Lines, and errors by their type (exceptions do not compare equal)."""
    return [item if isinstance(item, str) else type(item) for item in out]


STREAM = (
    b"PING a\r\n"
    b"\r\n"
    b"   \n"
    b"@label=x;+draft/reply=1 :me PRIVMSG #a :caf\xc3\xa9 \xf0\x9f\x98\x80\r\n"
    b"PRIVMSG #a :" + b"x" * 600 + b"\r\n"
    b"NICK \xff\xfe\n"
    b"@" + b"t" * MAX_TAGS + b" PING\r\n"
    b"PONG b\n"
)
STREAM_LINES: list[str | type[IrcError]] = [
    "PING a",
    "@label=x;+draft/reply=1 :me PRIVMSG #a :caf\u00e9 \U0001f600",
    LineTooLong,
    NotUtf8,
    LineTooLong,
    "PONG b",
]


def test_lines_come_out_the_same_at_once_or_a_byte_at_a_time() -> None:
    assert kinds(LineReader().feed(STREAM)) == STREAM_LINES
    assert kinds(feed_bytewise(STREAM)) == STREAM_LINES


def test_lines_come_out_the_same_cut_anywhere_in_two() -> None:
    for at in range(len(STREAM) + 1):
        reader = LineReader()
        assert kinds(reader.feed(STREAM[:at]) + reader.feed(STREAM[at:])) == STREAM_LINES


def test_a_line_at_the_limits_is_taken_and_one_byte_more_is_refused_once() -> None:
    content = MAX_MESSAGE - 2
    tags = "@" + "k" * (MAX_TAGS - 2) + " "
    fits = [
        "P" * content,
        tags + "P" * content,
        tags + "PRIVMSG #a :" + "x" * (content - 12),
    ]
    for line in fits:
        for ending in (b"\r\n", b"\n"):
            data = line.encode() + ending
            assert kinds(LineReader().feed(data)) == [line]
            assert kinds(feed_bytewise(data)) == [line]
    too_long = [
        "P" * (content + 1),
        tags + "P" * (content + 1),
        "@k" + "k" * (MAX_TAGS - 2) + " PING",
        "@" + "k" * MAX_TAGS,
        " " * (content + 1),
        "PRIVMSG #a :" + "\u00e9" * 250,  # 512 bytes in 262 characters
    ]
    for line in too_long:
        for ending in (b"\r\n", b"\n"):
            data = line.encode() + ending + b"PING next\r\n"
            assert kinds(LineReader().feed(data)) == [LineTooLong, "PING next"]
            assert kinds(feed_bytewise(data)) == [LineTooLong, "PING next"]


def test_a_line_that_never_ends_is_refused_early_and_skipped_to_its_end() -> None:
    reader = LineReader()
    # 511 bytes may yet be 510 and a "\r"; 512 cannot.
    assert reader.feed(b"PRIVMSG #a :" + b"x" * (MAX_MESSAGE - 13)) == []
    assert kinds(reader.feed(b"x")) == [LineTooLong]
    assert len(reader._pending) == 0
    for _ in range(100):
        assert reader.feed(b"y" * 1000) == []
        assert len(reader._pending) == 0
    assert kinds(reader.feed(b"z\r\nPING x\r\n")) == ["PING x"]


def test_an_untagged_line_is_refused_long_before_the_tags_limit() -> None:
    reader = LineReader()
    assert kinds(reader.feed(b"x" * MAX_MESSAGE)) == [LineTooLong]
    tagged = LineReader()
    assert tagged.feed(b"@" + b"k" * (MAX_TAGS - 2) + b" ") == []
    assert len(tagged._pending) == MAX_TAGS


def test_the_cr_of_a_line_at_the_limit_may_arrive_alone() -> None:
    reader = LineReader()
    assert reader.feed(b"P" * (MAX_MESSAGE - 2) + b"\r") == []
    assert reader.feed(b"\n") == ["P" * (MAX_MESSAGE - 2)]


def test_a_bad_line_costs_only_itself() -> None:
    data = b"NICK \xc3\r\nPRIVMSG #a :\x00\r\nPING \xe2\x82\xac\r\n"
    out = LineReader().feed(data)
    assert kinds(out) == [NotUtf8, "PRIVMSG #a :\x00", "PING \u20ac"]
    with pytest.raises(IrcSyntaxError):
        parse(str(out[1]))


def test_a_utf8_character_cut_between_reads_decodes() -> None:
    reader = LineReader()
    assert reader.feed(b"PING \xe2\x82") == []
    assert reader.feed(b"\xac\n") == ["PING \u20ac"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.binary(max_size=40)
        | st.sampled_from([b"\r\n", b"\n", b"\r", b" ", b"@", b":", b"\xff", b"x" * 300]),
        max_size=30,
    ),
    st.lists(st.integers(0, 1 << 16), max_size=8),
)
def test_any_bytes_cut_anywhere_give_the_same_lines_or_errors(
    parts: list[bytes], points: list[int]
) -> None:
    data = b"".join(parts)
    whole = LineReader().feed(data)
    reader = LineReader()
    marks = sorted({point % (len(data) + 1) for point in points})
    cut: list[str | IrcError] = []
    for a, b in zip([0, *marks], [*marks, len(data)], strict=True):
        cut += reader.feed(data[a:b])
        assert len(reader._pending) <= reader.limit
    assert kinds(cut) == kinds(whole)
    for line in whole:
        if isinstance(line, str):
            with contextlib.suppress(IrcSyntaxError):
                parse(line)
