"""The web client: one self-contained page served at ``/``."""

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
    attributes, code = scripts[0]
    assert "src" not in attributes
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
    _, _, page = await served_page(tmp_path)
    assert not re.search(r"https?://", page, re.I), "the page names an external URL"
    assert not re.search(r"""\b(?:src|href|action)\s*=\s*["']?\s*//""", page, re.I)
    # Whatever the page references is inline (the favicon is an empty data: URL).
    for found in re.finditer(r"""\b(?:src|href|action)\s*=\s*["']?([^"'\s>]*)""", page, re.I):
        assert found.group(1).startswith("data:"), found.group(0)
    assert "@import" not in page
    assert not re.search(r"url\(", page, re.I)


async def test_the_script_parses(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    _, _, page = await served_page(tmp_path)
    ((_, code),) = SCRIPT.findall(page)
    script = tmp_path / "client.js"
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
    _, _, page = await served_page(tmp_path)
    ((_, code),) = SCRIPT.findall(page)
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
    _, _, page = await served_page(tmp_path)
    ((_, code),) = SCRIPT.findall(page)
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
