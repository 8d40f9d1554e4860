"""Optional dependencies: a missing one is an error that says which extra to install."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from homer.errors import InvalidInput

__all__ = ["optional_dependency"]


@contextlib.contextmanager
def optional_dependency(feature: str, *, extra: str) -> Iterator[None]:
    """Turn an import under it that fails for a missing package into one line:
    :class:`InvalidInput` naming the package and ``pip install 'homer[EXTRA]'``,
    rather than a traceback. A failing import of Homer's own is a bug: it goes
    through as it is."""
    try:
        yield
    except ImportError as exc:
        missing = exc.name or ""
        if not missing or missing.partition(".")[0] == "homer":
            raise
        raise InvalidInput(
            f"{feature} needs {missing}, which is not installed: pip install 'homer[{extra}]'"
        ) from exc
