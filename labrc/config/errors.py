"""The configuration's errors: :class:`ConfigError` (a key and what it allows) and :class:`ConnectError`
with :func:`connect_error`, the one line for an instrument that could not be opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sections import InstrumentSection


class ConfigError(ValueError):
    """An invalid configuration; the message names the key and what is allowed."""


class ConnectError(ConfigError):
    """The configured instrument could not be opened; the message names the ``instrument.*`` key to fix."""


def connect_error(exc: BaseException, inst: InstrumentSection) -> ConnectError:
    """One line for an exception raised while opening ``inst`` (nothing was sourced yet)."""
    from pyvisa import constants
    from pyvisa.errors import LibraryError, VisaIOError

    res, lib = inst.resource, inst.visa_library
    text = " ".join((str(exc) or type(exc).__name__).split())   # one line, whatever the library printed
    if isinstance(exc, ConfigError):
        return ConnectError(text)
    if type(exc).__name__ == "TranscriptError":   # visa_library = "path.jsonl@labrc" (sim_backend.transcript_replay)
        return ConnectError(f"instrument.visa_library={lib!r}: {text}")
    if isinstance(exc, LibraryError) or "VISA implementation" in text or "Wrapper not found" in text \
            or "Could not open VISA library" in text:
        return ConnectError(f"instrument.visa_library={lib!r}: no VISA implementation could be loaded ({text.strip()}); "
                            "install NI-VISA or Keysight IO Libraries, or pyvisa-py and set "
                            'instrument.visa_library = "@py"')
    if getattr(exc, "command", None) and isinstance(exc, VisaIOError) and exc.error_code == constants.VI_ERROR_TMO:
        return ConnectError(f"instrument.resource={res!r}: {text}; is this the 4200's address, and is KXCI "
                            "running there?")
    if isinstance(exc, VisaIOError) and exc.error_code == constants.VI_ERROR_INV_RSRC_NAME:
        return ConnectError(f"instrument.resource={res!r} is not a VISA resource name; use "
                            "TCPIP0::<ip>::1225::SOCKET (KXCI over Ethernet) or GPIB0::<address>::INSTR")
    if isinstance(exc, VisaIOError) and exc.error_code == constants.VI_ERROR_RSRC_NFOUND:
        return ConnectError(f"instrument.resource={res!r}: no such instrument (VISA: resource not found); "
                            "check the address, and that the instrument is on and connected")
    return ConnectError(f"instrument.resource={res!r}: cannot connect ({type(exc).__name__}: {text.strip()}); "
                        "check that the 4200 is on and reachable and that KXCI is running and listening "
                        "on this port (KCon, KXCI settings; default 1225)")
