"""The core: the op registry, the one request pipeline, the built-in operations,
sessions and per-connection delivery. It knows services, never a transport."""
