"""The HTTP header names of Homer's protocol, one definition for the server and the SDK."""

__all__ = ["SESSION_HEADER"]

#: Names the live session (an SSE stream or a long-poll queue) an operation over
#: HTTP acts on: ``typing``, ``presence``, ``resume`` and ``refresh`` need one.
SESSION_HEADER = "Homer-Session"
