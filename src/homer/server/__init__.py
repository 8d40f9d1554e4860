"""The server: sessions, the op router, transports at the edge, and `homer serve`."""
