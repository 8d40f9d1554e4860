"""Transports at the edge: they pump bytes through the sans-I/O protocols and
hand decoded requests to the application; nothing above them knows a socket."""
