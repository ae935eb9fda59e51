"""Modeless commands, valid in system and user mode: ``BC``, ``IT``, ``RS``, ``EM``, ``DR``, ``EC``,
``RG``, ``SR`` (KXCI-E p. 5-36 … 5-44, reference §2.6). ``DO``/``RD`` are in :mod:`.smu_test`.
"""

from __future__ import annotations

from .errors import KxciFault
from .replies import E_ARGUMENT, E_UNSUPPORTED, args, numbers
from .smu_test import PLC, TestBuffer


class Modeless:
    """The modeless commands of :class:`sim_backend.kxci.Kxci4200` (a mixin)."""

    def _cmd_BC(self, rest: str) -> None:
        self._require_idle()
        self.buffer = TestBuffer()
        self.status &= ~1

    def _cmd_IT(self, rest: str) -> None:
        """``IT1``/``IT2``/``IT3`` 0.1/1/10 PLC; ``IT4, delay, filter, AD_PLC`` custom (KXCI-E p. 5-40)."""
        a = args(rest)
        code = int(a[0])
        if code in PLC and len(a) == 1:
            self.integration_plc = PLC[code]
            return
        if code != 4 or len(a) != 4:
            raise KxciFault(E_ARGUMENT)
        delay, filt, plc = numbers(rest, 4)[1:]
        if not (0 <= delay <= 100 and 0 <= filt <= 100 and 0.01 <= plc <= 10):
            raise KxciFault(E_ARGUMENT)
        self.integration_plc = plc

    def _cmd_RS(self, rest: str) -> None:
        d = int(rest)
        if not 3 <= d <= 7:
            raise KxciFault(E_ARGUMENT)
        self.resolution = d

    def _cmd_EM(self, rest: str) -> None:
        if [int(x) for x in args(rest)] not in ([1, 0], [1, 1]):
            raise KxciFault(E_UNSUPPORTED, "4145 emulation is not simulated")

    def _cmd_DR(self, rest: str) -> None:
        """``DR1``: data ready also requests service (B6 with B0); ``DR0`` off (KXCI-E p. 3-5, 4-1)."""
        v = int(rest)
        if v not in (0, 1):
            raise KxciFault(E_ARGUMENT)
        self.srq_on_data = v == 1

    def _cmd_EC(self, rest: str) -> None:
        v = int(rest)
        if v not in (0, 1):
            raise KxciFault(E_ARGUMENT)
        self.exit_on_compliance = v == 1

    def _cmd_RG(self, rest: str) -> None:
        n, i = numbers(rest, 2)
        self._smu(str(int(n)))
        if not 0 < i <= 1.0:
            raise KxciFault(E_ARGUMENT)

    def _cmd_SR(self, rest: str) -> None:
        n, b = numbers(rest, 2)
        self._smu(str(int(n)))
        if b < 0 or b > 200:
            raise KxciFault(E_ARGUMENT)
