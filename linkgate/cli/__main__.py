"""``python -m linkgate.cli``: the same as the ``linkgate`` command."""

from linkgate.cli import main

main()
