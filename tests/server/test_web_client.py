"""The web client: one self-contained page served at ``/``."""

from __future__ import annotations

import asyncio
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
