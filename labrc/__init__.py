"""labrc: Keithley 4200-SCS memristor protocols, a simulated instrument, HDF5 streaming, reservoir readout.

The Python API (``labrc.run``, ``labrc.open_run``, ``labrc.RunResult``; see :mod:`labrc.api`) is loaded on
first use: ``import labrc`` itself imports nothing heavy, so the console entry (labrc.entry) installs its
stop handlers before numpy, h5py or pymeasure are imported.
"""

__version__ = "0.1.0"

_LAZY = {"run": "labrc.api", "open_run": "labrc.api", "RunResult": "labrc.api", "RunReader": "labrc.store"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labrc' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
