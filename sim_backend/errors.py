"""The simulated instrument's one error type: a KXCI error code, stored for ``:ERROR:LAST:GET``."""


class KxciFault(Exception):
    """An instrument error: becomes a stored error + status bit, never a Python exception to the client."""

    def __init__(self, code: int, detail: str = ""):
        super().__init__(detail)
        self.code = code


class ConnectionDropped(Exception):
    """The (simulated) link to the instrument is gone; the VISA layer reports VI_ERROR_CONN_LOST."""
