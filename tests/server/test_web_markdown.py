"""The web client's Markdown subset and emoticons, run by Node on the module the
page loads: what a message's text becomes, and that nothing in it becomes markup
or a link to anywhere but http, https and mailto."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from homer.chat.emoticons import KAOMOJI

WEB = Path(str(resources.files("homer.web")))

RENDER = """
const { render } = await import(process.argv[1]);
const { EMOTICONS } = await import(process.argv[2]);
const h = (tag, props, ...kids) => ({ tag, props, kids });
const texts = JSON.parse(process.argv[3]);
console.log(JSON.stringify(texts.map((t) => render(h, t, EMOTICONS))));
"""


def rendered(*texts: str) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            RENDER,
            (WEB / "markdown.js").as_uri(),
            (WEB / "emoticons.js").as_uri(),
            json.dumps(texts),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(done.stdout))


def p(*kids: Any) -> dict[str, Any]:
    return {"tag": "p", "props": {}, "kids": list(kids)}


def el(tag: str, *kids: Any, **props: str) -> dict[str, Any]:
    return {"tag": tag, "props": props, "kids": list(kids)}


def a(href: str, label: str) -> dict[str, Any]:
    return el("a", label, href=href, target="_blank", rel="noopener noreferrer")


def test_the_subset_renders_as_elements() -> None:
    (formatted, blocks, links) = rendered(
        "**bold** and *it* or _it_, `co*de*`",
        "one\ntwo\n\n> quoted\n> again\n```\nx = <b>\n```",
        "see https://example.com/a_b. or [docs](https://homer.example/d?x=1)"
        " mail [me](mailto:a@b.c)",
    )
    assert formatted == [
        p(
            el("strong", "bold"),
            " and ",
            el("em", "it"),
            " or ",
            el("em", "it"),
            ", ",
            el("code", "co*de*"),
        )
    ]
    assert blocks == [
        p("one", el("br"), "two"),
        el("blockquote", p("quoted", el("br"), "again")),
        el("pre", el("code", "x = <b>")),
    ]
    assert links == [
        p(
            "see ",
            a("https://example.com/a_b", "https://example.com/a_b"),
            ". or ",
            a("https://homer.example/d?x=1", "docs"),
            " mail ",
            a("mailto:a@b.c", "me"),
        )
    ]


def test_hostile_text_stays_text() -> None:
    attacks = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "javascript:alert(1)",
        "[a](data:text/html,<script>alert(1)</script>)",
        '[a](https://example.com "x\\" onmouseover=\\"alert(1))',
        "[a](JaVaScRiPt:alert`1`)",
        "[b](javascript:void)",
        "**[x](vbscript:msgbox(1))**",
    ]
    found = rendered(*attacks)
    assert found[0] == [p("<img src=x onerror=alert(1)>")]
    assert found[1] == [p("<script>alert(1)</script>")]
    assert found[2] == [p("[x](javascript:alert(1))")]
    assert found[3] == [p("javascript:alert(1)")]

    def elements(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, str):
            return []
        return [node, *(e for kid in node["kids"] for e in elements(kid))]

    for text, blocks in zip(attacks, found, strict=True):
        made = [e for block in blocks for e in elements(block)]
        assert {e["tag"] for e in made} <= {"p", "br", "strong", "em", "code", "pre", "a"}, text
        for e in made:
            assert set(e["props"]) <= {"href", "target", "rel"}, text
            if e["tag"] == "a":
                assert e["props"]["href"].startswith(("https:", "http:", "mailto:")), text
                assert e["props"]["rel"] == "noopener noreferrer"


def test_emoticons_are_the_terminal_clients() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            "const m = await import(process.argv[1]); console.log(JSON.stringify(m.EMOTICONS));",
            (WEB / "emoticons.js").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == dict(KAOMOJI)
    (shown,) = rendered("so :shrug: but :nope: stays")
    assert shown == [p("so ", KAOMOJI["shrug"], " but :nope: stays")]
