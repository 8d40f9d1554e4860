"""The messaging services: rooms, messages, presence, and local fan-out."""
