"""The web client: a page at ``/`` and its module, styles and icon under
``/static/``, with no inline script or style and the headers of a page that holds a
token."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from asyncio.subprocess import PIPE
from pathlib import Path

import aiohttp
import pytest

from homer.testing.server import running_homer

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S | re.I)


async def served_page(tmp_path: Path) -> tuple[int, str, str]:
    """GET / from a running server: status, content type and the page."""
    async with (
        running_homer(tmp_path) as server,
        aiohttp.ClientSession() as http,
        http.get(server.url + "/") as response,
    ):
        return response.status, response.content_type, await response.text()


async def served_script(tmp_path: Path) -> str:
    """The page's module, as served."""
    async with (
        running_homer(tmp_path) as server,
        aiohttp.ClientSession() as http,
        http.get(server.url + "/static/app.js") as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/javascript"
        return await response.text()


async def test_the_page_is_served_with_its_app(tmp_path: Path) -> None:
    status, content_type, page = await served_page(tmp_path)
    assert status == 200
    assert content_type == "text/html"
    assert page.lstrip().lower().startswith("<!doctype html>")
    for marker in (
        'id="login-form"',
        'id="login-name"',
        'id="login-password"',
        'id="register-button"',
        'id="room-list"',
        'id="join-form"',
        'id="dm-form"',
        'id="directory"',
        'id="messages"',
        'id="member-list"',
        'id="composer"',
        'id="conn"',
    ):
        assert marker in page, marker
    scripts = SCRIPT.findall(page)
    assert len(scripts) == 1
    attributes, inline = scripts[0]
    assert 'type="module"' in attributes
    assert 'src="static/app.js"' in attributes  # relative: the page may be mounted under a path
    assert not inline.strip(), "no inline script"
    code = await served_script(tmp_path)
    for needle in (
        '"api/login"',  # relative: the page may be mounted under a path
        '"api/register"',
        '+ "ws"',
        '"hello"',
        "resume",
        "sessionStorage",
    ):
        assert needle in code, needle
    # Escaping: user data goes in as text nodes, never as markup.
    assert "innerHTML" not in code
    assert "outerHTML" not in code
    assert "insertAdjacentHTML" not in code
    assert "document.write" not in code


async def test_the_page_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    async with running_homer(tmp_path) as server, aiohttp.ClientSession() as http:
        async with http.get(server.url + "/") as response:
            page, headers = await response.text(), response.headers
        texts = {"page": page}
        for name in ("app.js", "markdown.js", "emoticons.js", "app.css", "icon.svg"):
            async with http.get(f"{server.url}/static/{name}") as response:
                assert response.status == 200, name
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                texts[name] = await response.text()
                etag = response.headers["ETag"]
            async with http.get(
                f"{server.url}/static/{name}", headers={"If-None-Match": etag}
            ) as response:
                assert response.status == 304, name
        for missing in ("index.html", "nope.js", "..%2Fapp.py"):
            async with http.get(f"{server.url}/static/{missing}") as response:
                assert response.status == 404, missing
    for name, text in texts.items():
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text, re.I), name
        assert "@import" not in text, name
    assert not re.search(r"""\b(?:src|href|action)\s*=\s*["']?\s*//""", page, re.I)
    # Whatever the page references is one of its own files, named relatively.
    for found in re.finditer(r"""\b(?:src|href|action)\s*=\s*["']?([^"'\s>]*)""", page, re.I):
        assert found.group(1).startswith("static/"), found.group(0)
    # Nothing inline: the policy below would refuse it.
    assert "<style" not in page.lower()
    assert not re.search(r"\sstyle\s*=", page, re.I)
    assert not re.search(r"\son[a-z]+\s*=", page, re.I)
    policy = {
        part.split()[0]: part.split()[1:] for part in headers["Content-Security-Policy"].split("; ")
    }
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_the_script_parses(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    code = await served_script(tmp_path)
    script = tmp_path / "client.mjs"
    script.write_text(code, encoding="utf-8")
    checking = await asyncio.create_subprocess_exec(
        node, "--check", str(script), stdout=PIPE, stderr=PIPE
    )
    _, errors = await asyncio.wait_for(checking.communicate(), 60)
    assert checking.returncode == 0, errors.decode()


#: One event handler of the page's script, from its name to the end of its block.
HANDLER = r"\n    {name}\(ev\) \{{.*?\n    \}},\n"

PRESENCES_CHECK = """
const handlers = eval("({" + process.argv[process.argv.length - 1] + "})");
const members = new Map([["u1", {status: "offline"}], ["u2", {status: "offline"}],
                         ["u3", {status: "online"}]]);
const lobby = {members};
globalThis.S = {rooms: new Map([["lobby", lobby]])};
globalThis.cur = () => lobby;
let renders = 0;
globalThis.renderMembers = () => { renders += 1; };
handlers.presences({op: "presences", room: "lobby", body: {changes: [
  {uid: "u1", name: "ann", status: "online"}, {uid: "u2", name: "bob", status: "away"},
  {uid: "u9", name: "eve", status: "online"}]}});
console.log(JSON.stringify({statuses: [...members].map(([k, m]) => [k, m.status]), renders}));
"""


async def test_the_page_applies_several_presence_changes_in_one_render(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    code = await served_script(tmp_path)
    found = re.search(HANDLER.format(name="presences"), code, re.S)
    assert found, "the page handles presences events"
    running = await asyncio.create_subprocess_exec(
        node, "-e", PRESENCES_CHECK, "--", found.group(0).strip(), stdout=PIPE, stderr=PIPE
    )
    out, errors = await asyncio.wait_for(running.communicate(), 60)
    assert running.returncode == 0, errors.decode()
    assert json.loads(out) == {
        "statuses": [["u1", "online"], ["u2", "away"], ["u3", "online"]],
        "renders": 1,
    }


CHANGES_CHECK = """
const applyChange = eval("(" + process.argv[process.argv.length - 1] + ")");
globalThis.S = {me: {id: "u-me"}};
const shown = {seq: 2, body: {text: "helo"}, el: {remove() { shown.removed += 1; }}, removed: 0};
const r = {items: new Map([[2, shown]])};
const ev = (kind, uid, body, ts) => ({op: "msg", kind, uid, ts, body: {target: 2, ...body}});
applyChange(r, ev("edit", "u-bob", {text: "hello", edits: 1}, 3));
applyChange(r, ev("react", "u-me", {key: "👍", count: 1}, 4));
applyChange(r, ev("react", "u-bob", {key: "👍", count: 2}, 5));
applyChange(r, ev("unreact", "u-bob", {key: "👍", count: 1}, 6));
const edited = {...r.items.get(2).body};
applyChange(r, ev("redact", "u-bob", {reason: "oops"}, 7));
applyChange(r, ev("edit", "u-bob", {text: "back", edits: 2}, 8));  // too late: redacted
applyChange({items: new Map()}, ev("edit", "u-bob", {text: "x"}, 9));  // not shown: nothing
console.log(JSON.stringify({edited, now: r.items.get(2).body, removed: shown.removed}));
"""


async def test_the_page_applies_edits_reactions_and_redactions(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    code = await served_script(tmp_path)
    found = re.search(r"\n  function applyChange\(r, ev\) \{.*?\n  \}\n", code, re.S)
    assert found, "the page applies change events"
    source = found.group(0).strip()
    running = await asyncio.create_subprocess_exec(
        node, "-e", CHANGES_CHECK, "--", source, stdout=PIPE, stderr=PIPE
    )
    out, errors = await asyncio.wait_for(running.communicate(), 60)
    assert running.returncode == 0, errors.decode()
    assert json.loads(out) == {
        "edited": {
            "text": "hello",
            "edits": 1,
            "reactions": [{"key": "👍", "count": 1, "me": True}],
        },
        "now": {"text": "", "edits": 1, "redacted": {"by": "u-bob", "reason": "oops", "at": 7}},
        "removed": 1,
    }
