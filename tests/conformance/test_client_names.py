"""The client SDK's names: each one it exports exists, and none of its modules or
public classes shares a name with a different thing elsewhere in Homer, so that a
reader never wonders which one is meant."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import homer

PACKAGE = Path(homer.__file__).parent
CLIENT = PACKAGE / "client"

#: Names the client shares with the rest of Homer because they are the same thing.
SAME_THING = {
    "errors": "the SDK's branch of the one exception tree, rooted in homer.errors",
    "Position": "a room's (epoch, seq), which the server reads back as its Position",
}


def names(path: Path) -> set[str]:
    """The module's name (its package's, for ``__init__``) and its public classes."""
    found = {path.parent.name if path.stem == "__init__" else path.stem}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found.update(
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    )
    return found


def test_client_names_are_its_own() -> None:
    client = {path: names(path) for path in CLIENT.rglob("*.py")}
    elsewhere: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if CLIENT not in path.parents:
            for name in names(path):
                elsewhere.setdefault(name, []).append(str(path.relative_to(PACKAGE)))
    shared = {
        f"{path.relative_to(PACKAGE)}: {name} (also {', '.join(sorted(elsewhere[name]))})"
        for path, found in client.items()
        for name in found
        if name in elsewhere and name not in SAME_THING
    }
    assert not shared


@pytest.mark.parametrize(
    "module",
    [
        "homer.client",
        "homer.client.errors",
        "homer.client.links",
        "homer.client.links.addresses",
        "homer.client.links.base",
        "homer.client.links.over_http",
        "homer.client.links.streams",
    ],
)
def test_what_a_client_module_exports_exists(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in loaded.__all__:
        assert hasattr(loaded, name), f"{module}.{name}"
