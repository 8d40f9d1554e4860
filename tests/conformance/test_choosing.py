"""How a client picks its transport, and the sans-I/O parts of the transports,
without a network."""

from __future__ import annotations

import pytest

from homer.client import ClientError, HomerClient
from homer.client.links import ClientHello, ServerAddress, check_framing, server_address
from homer.protocol.cursor import encode_cursor


@pytest.mark.parametrize(
    ("url", "transport", "expected"),
    [
        ("ws://h:1", None, ServerAddress(transport="websocket", url="http://h:1")),
        ("wss://h:1/ws", None, ServerAddress(transport="websocket", url="https://h:1")),
        ("http://h:1/", None, ServerAddress(transport="websocket", url="http://h:1")),
        ("https://h:1/chat", None, ServerAddress(transport="websocket", url="https://h:1/chat")),
        ("http://h:1", "sse", ServerAddress(transport="sse", url="http://h:1")),
        ("https://h:1", "longpoll", ServerAddress(transport="longpoll", url="https://h:1")),
        ("ws://h:1/ws", "longpoll", ServerAddress(transport="longpoll", url="http://h:1")),
        ("tcp://h:7070", None, ServerAddress(transport="tcp", url="tcp://h:7070")),
        ("tcps://h:7070", "tcp", ServerAddress(transport="tcp", url="tcps://h:7070")),
        ("TCP://[::1]:7070", None, ServerAddress(transport="tcp", url="tcp://[::1]:7070")),
    ],
)
def test_the_scheme_or_the_option_picks_the_transport(
    url: str, transport: str | None, expected: ServerAddress
) -> None:
    assert server_address(url, transport=transport) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "transport", "says"),
    [
        ("h:1", None, "give a ws, wss, http, https, tcp or tcps URL"),
        ("ftp://h:1", None, "give a ws"),
        ("http://h:1", "tcp", "raw TCP has its own port"),
        ("tcp://h:1", "sse", "raw TCP has its own port"),
        ("tcp://h", None, "tcp://host:port"),
        ("tcp://h:1/path", None, "tcp://host:port"),
        ("http://h:1", "carrier-pigeon", "unknown transport"),
    ],
)
def test_a_url_no_transport_can_take_is_refused(url: str, transport: str | None, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        server_address(url, transport=transport)  # type: ignore[arg-type]


def test_framing_defaults_to_the_codec_and_must_carry_it() -> None:
    assert check_framing("json", None) == "lines"
    assert check_framing("msgpack", None) == "length"
    assert check_framing("json", "length") == "length"
    with pytest.raises(ValueError, match="binary: use the 'length' framing"):
        check_framing("msgpack", "lines")
    with pytest.raises(ValueError, match="unknown framing .smoke.: choose lines or length"):
        check_framing("json", "smoke")
    with pytest.raises(ValueError, match="binary"):
        HomerClient("tcp://h:1", token="t", codec="msgpack", framing="lines")
    with pytest.raises(ValueError, match="unknown transport"):
        HomerClient("http://h:1", token="t", transport="pigeon")  # type: ignore[arg-type]


async def test_a_tcp_client_needs_http_url_for_the_http_api() -> None:
    client = HomerClient("tcp://127.0.0.1:1", name="ann", password="secret")
    assert client.urls == ["tcp://127.0.0.1:1"]
    with pytest.raises(ClientError, match="give http_url="):
        await client.login()
    await client.close()


def test_positions_travel_as_a_hello_and_as_a_cursor() -> None:
    hello = ClientHello("tok", "me", {"lobby": (1, 42), "plans": (2, 7)})
    assert hello.request("r") == {
        "op": "hello",
        "rid": "r",
        "token": "tok",
        "client": "me",
        "resume": {"lobby": {"epoch": 1, "seq": 42}, "plans": {"epoch": 2, "seq": 7}},
    }
    assert hello.cursor() == "lobby~1~42,plans~2~7"
    assert encode_cursor({}) == ""
    assert "resume" not in ClientHello("tok").request(1)
