"""Legacy two-letter PGU commands on the simulated PMU (KXCI-E p. 7-59 … 7-71, reference §4.6).

Pulse output only, no measurement: ``PS`` reset, ``PD`` load, ``PT`` timing, ``PV`` levels, ``PN`` all of
it at once, ``TS`` trigger source, ``TO`` trigger out, ``PO`` output, ``PG`` trigger, ``PE`` wait, ``PH``
halt, ``PA`` abort, ``VF`` float relay, ``RP`` RPM routing. ``PG ch, 0, n`` (burst) plays ``n`` pulses of
the channel on the device in virtual time (same drive as ``:PMU:``). Continuous output (``PG`` mode 1)
and external triggers (``TS`` 1 … 4) have no end and no trigger source in virtual time: ``PG`` refuses
them with −986 rather than pretend. The legacy set cannot be mixed with ``:PMU:`` commands (p. 7-2):
a legacy command after ``:PMU:INIT`` is −965, as is a ``:PMU:`` command after ``PS`` (until
``:PMU:INIT`` or ``*RST``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import KxciFault
from .pmu_errors import E_MODE, E_PMU_ARG, E_UNSUPPORTED
from .pmu_pulse import PulseSettings, check_times, passes
from .pmu_wave import play
from .replies import args

COUNT_MAX = 2 ** 32 - 1


@dataclass
class PguChannel:
    load_ohm: float = 50.0              # PD default 50 Ω (KXCI-E p. 7-64)
    period_s: float = 1e-6
    pulse: PulseSettings = None         # width/rise/fall/delay; levels as base / amplitude
    high_v: float = 0.0
    low_v: float = 0.0
    range_v: float = 5.0                # PV range 5 | 20 (the 10 V / 40 V card ranges)
    trigger: int = 0
    output: bool = False

    def __post_init__(self) -> None:
        self.pulse = self.pulse or PulseSettings()


def _ch(text: str) -> int:
    n = int(text)
    if n not in (1, 2):
        raise KxciFault(E_PMU_ARG, "channel 1 | 2")
    return n


class LegacyPgu:
    """The legacy command set of one pulse card, playing on the chassis of ``card`` (a SimPmu)."""

    def __init__(self, card) -> None:
        self.card = card
        self.ch = {1: PguChannel(), 2: PguChannel()}

    def handle(self, mnem: str, rest: str) -> None:
        card = self.card
        if card.family == "pmu":
            raise KxciFault(E_MODE, "legacy PGU commands cannot be mixed with :PMU: commands")
        card._require_idle()
        a = args(rest)
        if mnem == "PE":
            return None                 # bursts finish as they are triggered (virtual time)
        if mnem == "RP":
            card._rpm_configure(a)
            return None
        c = self.ch[_ch(a[0])]
        if mnem == "PS":
            card.family = "pgu"
            self.ch[_ch(a[0])] = PguChannel()
        elif mnem == "PD":
            r = float(a[1])
            if not 1.0 <= r <= 10e6:
                raise KxciFault(E_PMU_ARG, "load 1 … 10e6 Ω")
            c.load_ohm = r
        elif mnem == "PT":
            self._times(c, *(float(x) for x in a[1:5]))
        elif mnem == "PV":
            self._levels(c, float(a[1]), float(a[2]), float(a[3]))
        elif mnem == "PN":
            base, ampl = float(a[1]), float(a[2])
            self._levels(c, base + ampl, base, c.range_v)
            self._times(c, *(float(x) for x in a[4:8]), float(a[8]) if len(a) > 8 else 0.0)
            self._trigger(a[0], 0, int(a[3]))
        elif mnem == "TS":
            src = int(a[1])
            if src not in range(5):
                raise KxciFault(E_PMU_ARG)
            c.trigger = src
        elif mnem == "PO":
            if int(a[1]) not in (0, 1) or (len(a) > 2 and int(a[2]) not in (0, 1)):
                raise KxciFault(E_PMU_ARG)
            c.output = int(a[1]) == 1
        elif mnem == "PG":
            self._trigger(a[0], int(a[1]), int(float(a[2])))
        elif mnem in ("PH", "PA"):
            c.output = c.output if mnem == "PH" else False
        elif mnem in ("TO", "VF"):
            int(a[1])
        return None

    @staticmethod
    def _times(c: PguChannel, period: float, width: float, rise: float, fall: float, delay: float = 0.0) -> None:
        c.period_s = period
        c.pulse.width_s, c.pulse.rise_s, c.pulse.fall_s, c.pulse.delay_s = width, rise, fall, delay
        check_times(period, c.pulse, 10.0 if c.range_v == 5.0 else 40.0)

    @staticmethod
    def _levels(c: PguChannel, high: float, low: float, rng: float) -> None:
        if rng not in (5.0, 20.0):
            raise KxciFault(E_PMU_ARG, "range 5 | 20")
        limit = 2 * rng * c.load_ohm / (c.load_ohm + 50.0)   # ±5/±20 V into 50 Ω, ≈ ±10/±40 V into 1 MΩ
        if max(abs(high), abs(low)) > limit + 1e-9:
            raise KxciFault(E_PMU_ARG, "level beyond the range into the programmed load")
        c.high_v, c.low_v, c.range_v = high, low, rng

    def _trigger(self, ch_text: str, mode: int, count: int) -> None:
        """``PG ch, mode, count``: a burst of ``count`` pulses on the device, in virtual time."""
        n = _ch(ch_text)
        c = self.ch[n]
        if mode not in (0, 1, 2) or not 1 <= count <= COUNT_MAX:
            raise KxciFault(E_PMU_ARG)
        if mode == 1 or c.trigger != 0:
            raise KxciFault(E_UNSUPPORTED, "continuous output / external trigger are not simulated")
        if not c.output:
            return
        k = self.card.k
        wired = n == int(getattr(k.config, "pmu_top_channel", 1))
        plan = passes(c.period_s, c.pulse, 0, count, np.array([c.low_v]), np.array([c.high_v]), False, 1.0)
        plan = [(p, loops, False) for p, loops, _ in plan]
        _, duration = play(plan, self.card._drive if wired else None, self.card._noise, k.clock_s)
        k.clock_s += duration
