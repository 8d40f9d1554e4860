"""``python -m homer`` is the ``homer`` command."""

from homer.cli import main

main()
