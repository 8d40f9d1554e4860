"""``homer chat``: a terminal chat client on the client SDK, built with Textual.

:class:`~homer.chat.app.ChatApp` is the application;
:func:`homer.chat.launch.run` starts it from the command line's options. See
docs/reference/chat.md.
"""

from __future__ import annotations

from homer.chat.app import ChatApp

__all__ = ["ChatApp"]
