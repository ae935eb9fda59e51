"""User mode (``US``): immediate source and measure — ``DV``, ``DI``, ``DS``, ``TI``, ``TV`` (KXCI-E
p. 5-31 … 5-36, reference §2.5) — on the same circuit and virtual clock as system-mode tests.

The outputs stay applied between commands: every command lets one command latency of instrument
time pass with them on the device, a reading one integration time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .circuit import Source, solve
from .errors import KxciFault
from .replies import E_ARGUMENT, E_NO_SMU, E_NOT_MAPPED, E_SETUP, args, eng

MAX_V, MAX_VS_V = 210.0, 200.0
DV_FULL_SCALE_V = {1: 21.0, 2: 210.0, 3: 210.0, 4: 0.21, 5: 2.1}   # 20 V, 200 V, 200 mV*, 2 V* (*preamp)
DI_FULL_SCALE_A = {1: 1e-9, 2: 10e-9, 3: 100e-9, 4: 1e-6, 5: 10e-6, 6: 100e-6, 7: 1e-3, 8: 10e-3, 9: 0.1,
                   10: 1.0, 11: 1e-12, 12: 10e-12, 13: 100e-12}
PREAMP_DV, PREAMP_DI, HP_DI = {4, 5}, {1, 2, 11, 12, 13}, {10}
VM_NOT_MAPPED = 9.0e37      # an unmapped voltmeter reads 9.000E+37 (KXCI-E p. 5-8)


@dataclass
class SmuState:
    on: bool = False
    mode: str = "V"          # V or I source
    value: float = 0.0       # programmed V (V-source) or I (I-source)
    comp: float = 105e-6     # compliance (A for V-source, V for I-source); power-on default 105 µA
    last_v: float = 0.0
    last_i: float = 0.0
    last_status: str = "N"


class UserMode:
    """The user-mode commands of :class:`sim_backend.kxci.Kxci4200` (a mixin)."""

    def _program(self, n: int, state: SmuState) -> None:
        """Apply a new output state; a combination the circuit cannot emulate is refused and undone."""
        old = self.smus[n]
        self.smus[n] = state
        try:
            self._settle()
        except KxciFault:
            self.smus[n] = old
            raise

    def _cmd_DV(self, rest: str) -> None:
        self._user()
        a = args(rest)
        n = self._smu_as(a[0], "SMU")
        if len(a) == 1:
            self._program(n, SmuState(comp=self.smus[n].comp))
            return
        if len(a) != 4:
            raise KxciFault(E_ARGUMENT)
        rng, v, comp = int(a[1]), float(a[2]), float(a[3])
        card = self.cards[n]
        if rng not in range(6) or abs(v) > MAX_V or comp == 0 or abs(comp) > card.i_max_a:
            raise KxciFault(E_ARGUMENT)
        if rng in PREAMP_DV and not card.preamp:
            raise KxciFault(E_SETUP, "range needs a preamp")
        if rng and abs(v) > DV_FULL_SCALE_V[rng]:
            raise KxciFault(E_ARGUMENT, "value above the fixed range")
        self._program(n, SmuState(on=True, mode="V", value=v, comp=max(abs(comp), card.comp_min_a)))

    def _cmd_DI(self, rest: str) -> None:
        self._user()
        a = args(rest)
        n = self._smu_as(a[0], "SMU")
        if len(a) == 1:
            self._program(n, SmuState())
            return
        if len(a) != 4:
            raise KxciFault(E_ARGUMENT)
        rng, i, vcomp = int(a[1]), float(a[2]), float(a[3])
        card = self.cards[n]
        if rng not in range(14) or abs(i) > card.i_max_a or abs(vcomp) > MAX_V:
            raise KxciFault(E_ARGUMENT)
        if (rng in PREAMP_DI and not card.preamp) or (rng in HP_DI and card.i_max_a < 1.0):
            raise KxciFault(E_SETUP, f"range {rng} needs a preamp / a 4210-SMU")
        if rng and abs(i) > 1.05 * DI_FULL_SCALE_A[rng]:
            raise KxciFault(E_ARGUMENT, "value above the fixed range")
        self._program(n, SmuState(on=True, mode="I", value=i, comp=abs(vcomp)))

    def _cmd_DS(self, rest: str) -> None:
        """``DS A, V``: voltage-source-only channel VS A (an SMU mapped to it with ``MP``), ±200 V."""
        self._user()
        a = args(rest)
        n = self._physical(("VS", self._mapped("VS", a[0])))
        if len(a) == 1:
            self._program(n, SmuState())
            return
        if len(a) != 2:
            raise KxciFault(E_ARGUMENT)
        v = float(a[1])
        if abs(v) > MAX_VS_V:
            raise KxciFault(E_ARGUMENT)
        self._program(n, SmuState(on=True, mode="V", value=v, comp=self.cards[n].i_max_a))

    # --- the circuit in user mode -------------------------------------------------------------------
    def _user_sources(self) -> dict[int, Source]:
        out = {}
        for n, s in self.smus.items():
            if self.mapping.get(n, "SMU").startswith("VM"):
                out[n] = Source("M", np.zeros(1), np.zeros(1))
            elif s.on:
                out[n] = Source(s.mode, np.array([s.value]), np.array([s.comp]))
        return out

    def _settle(self, duration_s: float | None = None) -> None:
        """Apply the present outputs to the DUT for one command latency (or ``duration_s``)."""
        dt = np.array([self.config.command_latency_s if duration_s is None else duration_s])
        readings = solve(self._user_sources(), *self._wiring(), dt, self._apply, self._noise)
        self.clock_s += float(dt[0])
        for n, s in self.smus.items():
            r = readings.get(n)
            if r is None:
                s.last_v, s.last_i, s.last_status = 0.0, 0.0, "N"
            else:
                s.last_v, s.last_i, s.last_status = float(r.v[0]), float(r.i[0]), str(r.status[0])

    def advance(self, dt_s: float) -> None:
        """Let ``dt_s`` of instrument time pass with the present outputs applied (the device relaxes,
        drifts or stays programmed). The simulator's clock interface for waits that a real run spends
        in host time (retention); it is not a KXCI command."""
        if dt_s > 0:
            self._settle(float(dt_s))

    def _reading(self, n: int | None, qty: str, letter: str) -> str:
        self._settle(self._t_int())
        self._data_ready()
        if n is None:   # an unmapped voltmeter
            return f"N{letter}V {eng(np.array([VM_NOT_MAPPED]), self.resolution)[0]}"
        s = self.smus[n]
        val = s.last_i if qty == "I" else s.last_v
        text = eng(np.array([val]), self.resolution)[0]
        return f"{s.last_status}{letter}{qty}{'' if text.startswith('-') else ' '}{text}"

    def _cmd_TI(self, rest: str) -> str:
        """``TIn``: current of SMU n (1…8); the channel letter is A…H (KXCI-E p. 3-2)."""
        self._user()
        n = self._smu_as(rest, "SMU")
        return self._reading(n, "I", "ABCDEFGH"[n - 1])

    def _cmd_TV(self, rest: str) -> str:
        """``TVn``: n 1–4 SMU1–4, 5/6 VM1/VM2, 7–10 SMU5–8, 11–16 VM3–8; letter A…P (KXCI-E p. 3-2, 5-35)."""
        self._user()
        k = int(rest)
        if not 1 <= k <= 16:
            raise KxciFault(E_ARGUMENT)
        letter = "ABCDEFGHIJKLMNOP"[k - 1]
        if k in (5, 6) or k >= 11:
            m = k - 4 if k in (5, 6) else k - 8
            phys = [n for n, f in self.mapping.items() if f == f"VM{m}"]
            return self._reading(phys[0] if phys else None, "V", letter)
        n = k if k <= 4 else k - 2
        if n not in self.smus:
            raise KxciFault(E_NO_SMU)
        return self._reading(n, "V", letter)

    def _smu_as(self, text: str, function: str) -> int:
        """SMU ``text`` (installed, −979) in the given KCon function (−988 if mapped otherwise)."""
        n = self._smu(text)
        if self.mapping.get(n, "SMU") != function:
            raise KxciFault(E_NOT_MAPPED, f"SMU{n} is mapped to {self.mapping[n]}")
        return n
