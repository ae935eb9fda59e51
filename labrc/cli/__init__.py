"""The ``labrc`` command: run protocols, list and show runs, plot them.

Bad input (a parameter out of range, an unknown preset or key, an invalid ``labrc.toml``) ends with
one message naming the parameter and the allowed range, exit code 2, no instrument command sent
and no run file created.

One module per job: :mod:`.common` holds the click group ``main`` and the helpers every command
shares (it is a module of its own so that the command modules import it without a cycle through this
package); each ``*_cmds``/``*_cmd`` module registers its commands on ``main`` when imported here.
"""

from __future__ import annotations

from . import (  # noqa: F401 - register
    analysis_cmds,
    inspect_cmds,
    run_cmds,
    serve_cmd,
    setup_cmds,
    sim_cmds,
    watch_cmd,
)
from .common import main
from .watch_cmd import RateMeter

__all__ = ["RateMeter", "main"]
