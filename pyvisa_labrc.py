"""pyvisa backend ``@labrc``: the simulated Keithley 4200A-SCS of labrc.

``pyvisa.ResourceManager("@labrc")`` (or ``PYVISA_LIBRARY=@labrc``) opens the default simulated die;
``ResourceManager("path/to/labrc.toml@labrc")`` uses that configuration's die, wiring and seed;
``ResourceManager("path/transcript.jsonl@labrc")`` (or a ``run.h5`` recorded with ``instrument.transcript =
true``) serves that recorded session back and fails on the first command that differs
(:mod:`sim_backend.transcript_replay`).
"""

from sim_backend.library import LabrcSimLibrary as WRAPPER_CLASS

__all__ = ["WRAPPER_CLASS"]
