"""``python -m labrc.cli``: the click group without labrc.entry's early stop handlers (as ``cli.py`` was)."""

from . import main

main()
