"""The safe state at the end of every run: every SMU at 0 V, read back, switched off; PMU outputs off.

A mixin of :class:`instruments.keithley4200.Keithley4200` (it uses the driver's ``command``/``query``/
``status``/``ask``). User-mode commands (``US``, ``DV``, ``TV``) end the system-mode setup the list
sweep holds (:mod:`instruments.held` invalidates it on the first of them).
"""

from __future__ import annotations

from collections.abc import Callable

from .kxci_data import ERROR_RE, KXCIError, StatusByte, parse_user_reading
from .limits import fmt_num

__all__ = ["SAFE_V_MAX_V", "SafeState"]

SAFE_V_MAX_V = 0.01      # a SMU reads back within 10 mV of 0 V to count as at 0 V in the safe state


class SafeState:
    """``shutdown()`` and its checked steps (a mixin of the driver)."""

    # What "safe" is verified against (reference §8 and §1.6): every SMU driven to 0 V (DV n,0,0,Icc) and
    # read back with TV n (|V| < SAFE_V_MAX_V; TV exists for SMU1-4 only, KXCI-E p. 5-35), then switched
    # off (DV n with no arguments, KXCI-E p. 5-32); PMU tests aborted and outputs off (p. 7-4, 7-16).
    # A failed command may still be answered ACK (reference §1.6, uncertain point 3), so an ACK proves
    # nothing: after *each* command the status byte (B1, cleared by the poll) and :ERROR:LAST:GET (cleared
    # once read) are checked. The reply :ERROR:LAST:GET gives when nothing is stored is not documented
    # (§10): only "<text> (0)" counts as "no error"; any other reply leaves the step unverified.

    def shutdown(self) -> dict:
        """Drive every SMU to 0 V, read it back, switch every output off; PMU outputs off.

        Never raises: each step's failure is recorded and the remaining steps still run. Returns the
        record of what was verified: per SMU ``v_readback_v`` (None where TV cannot read it), ``ok_0v``,
        ``off``, ``errors`` and ``ok``; per PMU channel ``"off"`` or ``"not verified"``; ``errors``
        (every problem, prefixed by its terminal); and ``ok``, True only when every step was accepted with
        no error stored, every readback was within ``SAFE_V_MAX_V``, and at least one SMU was known.
        """
        record: dict = {"smu": {}, "pmu": {}, "errors": [], "ok": False}
        try:
            self._shutdown_steps(record)
        except Exception as exc:  # noqa: BLE001 - the safe path reports, it never raises
            record["errors"].append(f"shutdown stopped early: {type(exc).__name__}: {exc}")
        smus, pmus = record["smu"].values(), record["pmu"].values()
        record["ok"] = bool(not record["errors"] and smus and all(e.get("ok") for e in smus)
                            and all(v in ("off", "idle") for v in pmus))
        self.isShutdown = True
        return record

    def _shutdown_steps(self, record: dict) -> None:
        errors: list[str] = record["errors"]
        self._page = None
        # a clean error state first, so that each later check sees only its own command's error;
        # the status poll discards a syntax-error bit the run itself left (its error was already raised)
        errors += self._safe_step(":ERROR:LAST:CLEAR", lambda: self.command(":ERROR:LAST:CLEAR"), check=False)[1]
        errors += self._safe_step("SP", lambda: self.status, check=False)[1]
        if not self.smu_limits:
            errors.append("no SMU is known (*OPT? was not read): no output could be verified")
        errors += [f"US: {e}" for e in self._safe_step("US", lambda: self.command("US"))[1]]
        for n in sorted(self.smu_limits):
            entry = self._shutdown_smu(n)
            record["smu"][n] = entry
            errors += [f"SMU{n}: {e}" for e in entry["errors"]]
        for p in self.pmu_ids:
            if p in self._pmus and self._pmus[p].used:
                # stop a Segment-Arb test this session started, outputs off (KXCI-E p. 7-4), then ask
                # whether a test still runs (:PMU:TEST:STATUS? 0 = idle; reference §3)
                probs = self._safe_step(":PMU:ABORT", lambda: self.command(":PMU:ABORT"))[1]
                busy, more = self._safe_step(":PMU:TEST:STATUS?",
                                             lambda: int(float(self.query(":PMU:TEST:STATUS?"))))
                probs += more
                if busy:
                    probs.append(f":PMU:TEST:STATUS? answered {busy}: a test still runs")
                record["pmu"][f"PMU{p}-test"] = "idle" if not probs else "not verified"
                errors += [f"PMU{p}: {e}" for e in probs]
            for ch in (1, 2):
                cmd = f":PMU:OUTPUT:STATE {ch}, 0"
                probs = self._safe_step(cmd, lambda c=cmd: self.command(c))[1]
                record["pmu"][f"PMU{p}-{ch}"] = "off" if not probs else "not verified"
                errors += [f"PMU{p} ch{ch}: {e}" for e in probs]

    def _shutdown_smu(self, n: int) -> dict:
        """SMU ``n`` to 0 V, read back, off; each step checked (see the comment above :meth:`shutdown`)."""
        icc = fmt_num(self.smu_limits[n].compliance_min_a * 10)
        entry: dict = {"v_readback_v": None, "ok_0v": False, "off": False, "errors": []}
        probs = self._safe_step(f"DV{n},0,0,{icc}", lambda: self.command(f"DV{n},0,0,{icc}"))[1]
        if n <= 4:
            reading, more = self._safe_step(f"TV{n}", lambda: parse_user_reading(self.query(f"TV{n}")))
            probs += more
            if reading is not None:
                entry["v_readback_v"] = reading.value
                if not abs(reading.value) < SAFE_V_MAX_V:   # NaN (overflow) is not 0 V either
                    probs.append(f"TV{n} read back {reading.value:g} V, not within {SAFE_V_MAX_V:g} V of 0 V")
        else:
            entry["readback"] = "not available: TV reads SMU1-4 only (KXCI-E p. 5-35)"
        entry["ok_0v"] = not probs
        off = self._safe_step(f"DV{n}", lambda: self.command(f"DV{n}"))[1]
        entry["off"] = not off
        entry["errors"] = probs + off
        entry["ok"] = entry["ok_0v"] and entry["off"]
        return entry

    def _safe_step(self, cmd: str, action: Callable[[], object], check: bool = True) -> tuple[object, list[str]]:
        """Run one shutdown step, then (``check``) read the instrument's error state.

        Returns (the action's result or None, the problems seen); no problems = the step is verified.
        """
        problems: list[str] = []
        result, raised_code = None, None
        try:
            result = action()
        except KXCIError as exc:
            problems.append(f"{cmd}: {exc}")
            raised_code = exc.code
        except Exception as exc:  # noqa: BLE001 - record and keep going: this is the safe path
            problems.append(f"{cmd}: {type(exc).__name__}: {exc}")
        if check:
            problems += self._error_state(cmd, raised_code)
        return result, problems

    def _error_state(self, cmd: str, raised_code: int | None) -> list[str]:
        """Status byte B1 and ``:ERROR:LAST:GET`` after ``cmd``; a stored error is cleared once read.

        ``raised_code``: the error the step itself already raised (not reported twice).
        """
        try:
            st = self.status
            if self.framing == "ethernet":
                reply = self.ask(":ERROR:LAST:GET").strip()
            else:                      # not query(): its serial poll would re-enter this check
                self.write(":ERROR:LAST:GET")
                reply = self.read().strip()
        except Exception as exc:  # noqa: BLE001
            return [f"{cmd}: error state not readable: {type(exc).__name__}: {exc}"]
        problems = []
        m = ERROR_RE.match(reply)
        code = int(m.group("code")) if m else None
        if m is None:
            problems.append(f"{cmd}: error state unknown: :ERROR:LAST:GET answered {reply!r}")
        elif code != 0 and code != raised_code:
            problems.append(f"{cmd}: 4200 error {code}: {m.group('msg')}")
        elif code == 0 and raised_code is None and st & StatusByte.SYNTAX_ERROR:
            problems.append(f"{cmd}: status byte {int(st)} has the syntax-error bit (B1) set, no error stored")
        if code != 0:
            try:
                self.command(":ERROR:LAST:CLEAR")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{cmd}: :ERROR:LAST:CLEAR failed: {type(exc).__name__}: {exc}")
        return problems
