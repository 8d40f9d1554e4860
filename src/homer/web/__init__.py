"""The web client, served at ``/``."""
