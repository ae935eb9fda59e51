"""labrc: Keithley 4200-SCS memristor protocols, a simulated instrument, HDF5 streaming, reservoir readout."""

__version__ = "0.1.0"
