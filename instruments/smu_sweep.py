"""System-mode ``VL`` list sweeps that send only what changed since the last sweep, plus their planner.

A mixin of :class:`instruments.keithley4200.Keithley4200`. The first sweep (and every sweep after the
held state ended, :mod:`instruments.held`) sends the full setup of the reference's worked sequence
(§2.8): ``BC``, ``:ERROR:LAST:CLEAR``, ``IT``, ``DE`` + ``CH``…, ``SS`` + ``VL``/``VC``/``HT``/``DT``,
``SM`` + ``DM2``/``LI``, one command per message. A later sweep whose channels are unchanged sends
only what differs of ``IT``, the ``SS`` entries (the ``VL`` list, ``VC``, ``HT``, ``DT``) and ``SM``, a
page selection in one message with the page's first command (``SS VL1, …``; :func:`_with_pages`).
Every sweep then sends ``MD ME1``, the completion poll and the ``DO`` data requests, so a burst whose
list changed is five messages (``SS VL…``, ``SP``, ``MD ME1``, ``SP``, ``DO 'I1'``) and a burst that
repeats the list held — every full burst of an endurance run — three: ``MD ME1``, ``SP``, ``DO 'I1'``.

The error check before ``ME1`` (one ``SP`` on Ethernet, a serial poll on GPIB) follows every sweep
that sent a set command, on purpose: a list the instrument refused sets B1 (§1.6) but leaves the
list it holds from the previous burst, and ``ME1`` would run that one — an unrecorded burst on the
device under test. The poll after ``ME1`` would see the error too, but only after that burst. A sweep
that sends nothing before ``ME1`` has nothing that could be refused, and needs no check.

One code path serves the instrument, :meth:`plan_list_sweep` and :meth:`dry_run`: the stream is built
by :meth:`_sweep_steps` and executed step by step, so the plan is the wire by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np

from .held import PAGES, DryRun, HeldSetup, list_digest
from .kxci_data import (
    InstrumentAborted,
    KXCIError,
    StatusByte,
    SweepResult,
    parse_readings,
)
from .limits import (
    DELAY_MAX_S,
    HOLD_MAX_S,
    INTEGRATION_PLC,
    LIST_POINTS_MAX,
    LimitError,
    check_range,
    fmt_list,
    fmt_num,
    integration_time_s,
)

__all__ = ["FETCH_ALL", "ListSweep"]

FETCH_ALL = ("I", "V", "T")




def _with_pages(cmds: list[str]) -> list[str]:
    """Each page selection sent in one message with the page's first command: ``SS VL1, …``, ``SM DM2``
    (:data:`instruments.held.PAGES`; :class:`~instruments.held.DryRun` reads such a message back).

    The manual's own form (``SS VR1,0,1,0.05,50E-3``, KXCI-E p. 5-44/45; reference §1.5): one message,
    the page then its command, answered by one ``ACK`` (PyMeasure's hardware-tested driver sends
    ``US;DV1,…`` and checks one ``ACK``). The instrument executes the same commands in the same order
    as when they come one per message; only the round trips are fewer (a list-only burst: 5, not 7).
    """
    out: list[str] = []
    i = 0
    while i < len(cmds):
        c = cmds[i]
        if c in PAGES and i + 1 < len(cmds) and cmds[i + 1] not in PAGES:
            out.append(f"{c} {cmds[i + 1]}")
            i += 2
        else:
            out.append(c)
            i += 1
    return out


@dataclass(frozen=True)
class _Sweep:
    """One validated list sweep."""

    smu: int
    v: np.ndarray
    icc_a: float
    delay_s: float
    hold_s: float
    integration: int
    ground_smu: int | None
    fetch: tuple[str, ...]


class ListSweep:
    """``plan_list_sweep``, ``list_sweep``, ``wait_for_test`` and ``dry_run`` (a mixin of the driver)."""

    _held: HeldSetup | None = None
    _sweeping: bool = False
    _dry: DryRun | None = None
    _vl_cache: tuple[str, np.ndarray, str] | None = None

    # --- held state ---------------------------------------------------------------------------------
    @property
    def held(self) -> HeldSetup | None:
        """The setup the instrument holds from the last list sweep, or None (the next sends it all)."""
        if self._held is not None and self._held.link != self._link():
            self._held = None                # a new VISA session: a reconnect, or another program
        return self._held

    def invalidate_held(self) -> None:
        """Forget the held setup: the next list sweep sends the full setup (as after an error)."""
        self._held = None

    def held_snapshot(self) -> dict | None:
        """The held setup as plain data (JSON-able, without the session), for a station's checkpoint."""
        h = self.held
        if h is None:
            return None
        snap = {f.name: getattr(h, f.name) for f in fields(h) if f.name not in ("link", "vl")}
        if h.vl is not None:                 # the list by its digest: a checkpoint is not 40 kB bigger
            snap["vl_sha256"] = list_digest(h.vl)
        return snap

    def adopt_held(self, snap: dict | None) -> None:
        """Take ``snap`` (from :meth:`held_snapshot`) as the setup the instrument holds, on this session.

        Only for a station that has restored the instrument's pages exactly as they were when the
        snapshot was taken — the simulator (``Kxci4200.pages_restore``) — so a resumed run sends what
        the uninterrupted run sent. Never on hardware: after a reconnect what a real 4200 holds is
        not known (``instruments.held``), and the full setup must be sent.
        """
        if snap is None:
            self._held = None
            return
        self._held = HeldSetup(self._link(), str(snap["integration"]), tuple(snap["channels"]),
                               snap["ground"], str(snap["hold"]), str(snap["delay"]), tuple(snap["measure"]),
                               None, snap.get("vl_sha256"))    # an older checkpoint: no digest, the list is sent
        self._page = "MD"

    def _link(self) -> tuple:
        conn = getattr(self.adapter, "connection", None)
        try:
            session = getattr(conn, "session", None)
        except Exception:  # noqa: BLE001 - a closed pyvisa resource raises on .session
            session = None
        return (id(self.adapter), id(conn), session)

    # --- planning -----------------------------------------------------------------------------------
    def plan_list_sweep(self, smu: int, voltages_v: np.ndarray, icc_a: float, delay_s: float,
                        hold_s: float = 0.0, integration: int = 2, ground_smu: int | None = None,
                        fetch: tuple[str, ...] = FETCH_ALL) -> list[str]:
        """Validate a list sweep and return exactly the commands :meth:`list_sweep` sends next.

        Nothing is sent and the held state is not changed. The stream depends on that state (the
        full setup, or only what changed). It includes the error check, ``ME1``, the status poll and
        the ``DO`` requests, with the test done at the first poll — what the simulator answers; on
        hardware a test that is still busy is polled again (``SP`` repeated on Ethernet), so a real
        transcript may hold more ``SP`` lines. On GPIB the status byte is a serial poll, not a
        command, and no ``SP`` appears. ``smu`` drives the top electrode with compliance ``icc_a``;
        ``ground_smu`` (None: the ground unit) holds the bottom electrode at 0 V with a compliance
        that never limits.
        """
        steps, _ = self._sweep_steps(self._validate_sweep(smu, voltages_v, icc_a, delay_s, hold_s,
                                                          integration, ground_smu, fetch))
        return [text for kind, text in steps if self.framing == "ethernet" or kind not in ("check", "poll")]

    def _validate_sweep(self, smu, voltages_v, icc_a, delay_s, hold_s, integration, ground_smu,
                        fetch) -> _Sweep:
        if smu not in self.smu_limits:
            raise LimitError(f"smu={smu} is not installed (installed SMUs: {sorted(self.smu_limits)})")
        if ground_smu is not None and (ground_smu not in self.smu_limits or ground_smu == smu):
            raise LimitError(f"ground_smu={ground_smu} must be another installed SMU {sorted(self.smu_limits)}")
        v = np.asarray(voltages_v, dtype=np.float64)
        if v.ndim != 1 or not 1 <= v.size <= LIST_POINTS_MAX:
            raise LimitError(f"voltages_v has {v.size} points; a VL list sweep holds 1 to {LIST_POINTS_MAX}")
        self.smu_limits[smu].check_voltage_source(v, icc_a, "voltages_v")
        check_range(delay_s, 0.0, DELAY_MAX_S, "delay_s", "s")
        check_range(hold_s, 0.0, HOLD_MAX_S, "hold_s", "s")
        if integration not in INTEGRATION_PLC:
            raise LimitError(f"integration={integration} must be one of {sorted(INTEGRATION_PLC)} (IT1/IT2/IT3)")
        fetch = tuple(fetch)
        if not set(fetch) <= set(FETCH_ALL):
            raise LimitError(f"fetch={fetch!r} may hold only {FETCH_ALL} (current I is always fetched)")
        return _Sweep(smu, v, float(icc_a), float(delay_s), float(hold_s), int(integration), ground_smu, fetch)

    def _wanted(self, s: _Sweep, vl: str) -> HeldSetup:
        """The setup this sweep needs, as the commands that make it."""
        chans = [f"CH{s.smu}, 'V{s.smu}', 'I{s.smu}', 1, 1"]
        if s.ground_smu is not None:
            chans.append(f"CH{s.ground_smu}, 'V{s.ground_smu}', 'I{s.ground_smu}', 1, 3")
        chans += [f"CH{n}" for n in sorted(self.smu_limits) if n not in (s.smu, s.ground_smu)]
        chans += self.other_channels
        ground = None
        if s.ground_smu is not None:
            ground = f"VC{s.ground_smu}, 0, {fmt_num(self.smu_limits[s.ground_smu].current_max_a(0.0))}"
        return HeldSetup(self._link(), f"IT{s.integration}", tuple(chans), ground,
                         f"HT {fmt_num(s.hold_s, 'hold_s')}", f"DT {fmt_num(s.delay_s, 'delay_s')}",
                         ("DM2", f"LI 'V{s.smu}','I{s.smu}'"), vl)

    def _sweep_steps(self, s: _Sweep) -> tuple[list[tuple[str, str]], HeldSetup]:
        """(kind, text) of every step of the sweep, and the setup held after it.

        Kinds: ``set`` a set command, ``check`` the error check, ``run`` ``ME1``, ``poll`` the
        completion poll, ``data`` a ``DO`` query.
        """
        vl = self._list_command(s)
        want, held = self._wanted(s, vl), self.held
        if held is None or held.channels != want.channels:
            # the reference's worked sequence (§2.8), one command per message: sent once per held state
            cmds = ["BC", ":ERROR:LAST:CLEAR", want.integration, "DE", *want.channels, "SS", vl]
            cmds += [want.ground] if want.ground else []
            cmds += [want.hold, want.delay, "SM", *want.measure]
        else:
            cmds = [want.integration] if held.integration != want.integration else []
            source = [] if held.holds_list(vl) else [vl]   # the SS page entries that differ (instruments.held)
            source += [want.ground] if want.ground and held.ground != want.ground else []
            source += [c for c, h in ((want.hold, held.hold), (want.delay, held.delay)) if c != h]
            cmds += ["SS", *source] if source else []
            cmds += ["SM", *want.measure] if held.measure != want.measure else []
            cmds = _with_pages(cmds)
        steps = [("set", c) for c in cmds]
        steps += [("check", "SP")] if cmds else []         # nothing sent, nothing that could be refused
        steps += [("run", "MD ME1"), ("poll", "SP"), ("data", f"DO 'I{s.smu}'")]
        steps += [("data", f"DO 'V{s.smu}'")] if "V" in s.fetch else []
        steps += [("data", f"DO 'CH{s.smu}T'")] if "T" in s.fetch else []
        return steps, want

    def _list_command(self, s: _Sweep) -> str:
        """The whole ``VL`` command of the sweep, reused while channel, compliance and list are the same
        (an endurance run tiles one cycle into every burst: 77 µs of formatting per 4096-point two-level
        list saved, 550 µs for 4096 distinct values (review, 2026-12-02); the text is identical). The
        same object comes back, so comparing it with the held list costs nothing."""
        head = f"VL{s.smu}, 1, {fmt_num(s.icc_a, 'icc_a')}, "
        cached = self._vl_cache
        v = s.v
        if cached is not None and cached[0] == head and cached[1].shape == v.shape and np.array_equal(cached[1], v):
            return cached[2]
        text = head + fmt_list(v, "voltages_v")
        self._vl_cache = (head, v.copy(), text)
        return text

    # --- running ------------------------------------------------------------------------------------
    def list_sweep(self, smu: int, voltages_v: np.ndarray, icc_a: float, delay_s: float,
                   hold_s: float = 0.0, integration: int = 2, ground_smu: int | None = None,
                   should_stop: Callable[[], bool] | None = None, timeout_s: float | None = None,
                   fetch: tuple[str, ...] = FETCH_ALL) -> SweepResult:
        """Run a system-mode ``VL`` list sweep (≤ 4096 points) and return every point with its status letter.

        Sends what :meth:`plan_list_sweep` returns (only what changed since the last sweep).
        Completion is detected by polling the status byte; ``should_stop`` is checked while polling
        and aborts the test with ``ME4``. ``fetch`` chooses the ``DO`` transfers: current (always,
        it carries the status letters), measured voltage ``V`` and timestamps ``T``; what is not
        fetched is NaN (long endurance bursts fetch only the current). Any exception leaves no setup
        held, so the next sweep sends the full setup.
        """
        try:
            s = self._validate_sweep(smu, voltages_v, icc_a, delay_s, hold_s, integration, ground_smu, fetch)
            steps, after = self._sweep_steps(s)
        finally:
            self._held = None              # held again only once this sweep's data are read
        if timeout_s is None:
            timeout_s = 10.0 + 3.0 * (s.hold_s + s.v.size * (s.delay_s + integration_time_s(s.integration)))
        replies: dict[str, str] = {}
        self._page, self._sweeping = None, True
        try:
            for kind, text in steps:
                if kind == "set" or kind == "run":
                    self.command(text)
                elif kind == "check":
                    self.check_errors("list sweep setup")
                elif kind == "poll":
                    self.wait_for_test(timeout_s, should_stop)
                else:
                    replies[text] = self.query(text)
        finally:
            self._sweeping = False
        result = self._sweep_result(s, replies)
        self._held, self._page = after, "MD"
        return result

    @staticmethod
    def _sweep_result(s: _Sweep, replies: dict[str, str]) -> SweepResult:
        nan = np.full(s.v.size, np.nan)
        i_a, status = parse_readings(replies[f"DO 'I{s.smu}'"])
        v_meas = parse_readings(replies[f"DO 'V{s.smu}'"])[0] if "V" in s.fetch else nan
        t_s = parse_readings(replies[f"DO 'CH{s.smu}T'"])[0] if "T" in s.fetch else nan
        if not (i_a.size == v_meas.size == t_s.size == s.v.size):
            raise KXCIError(-991, f"sweep returned {i_a.size}/{v_meas.size}/{t_s.size} points, expected {s.v.size}")
        return SweepResult(s.v, v_meas, i_a, t_s, status)

    def wait_for_test(self, timeout_s: float, should_stop: Callable[[], bool] | None = None) -> None:
        """Poll the status byte until the test is done (``SP`` 0/1 on Ethernet; KXCI-E p. 3-3)."""
        deadline = time.monotonic() + timeout_s
        pause = 0.001
        while True:
            st = self.status
            if st & StatusByte.SYNTAX_ERROR:
                self._raise_last_error("test execution")
            if not st & StatusByte.BUSY:
                return
            if should_stop is not None and should_stop():
                self.command("ME4")
                raise InstrumentAborted("test aborted on request (ME4)")
            if time.monotonic() > deadline:
                self.command("ME4")
                raise TimeoutError(f"test still busy after {timeout_s:.1f} s; aborted with ME4")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    # --- dry run ------------------------------------------------------------------------------------
    @contextmanager
    def dry_run(self) -> Iterator[DryRun]:
        """Send nothing; count what would be sent. ``with k.dry_run() as rec: k.list_sweep(...)``.

        Inside the block every command goes through the same code as on the instrument (validation
        against the cards ``*OPT?`` reported, the held state, the stream) but is appended to
        ``rec.commands`` instead of the wire, and replies are synthesized (:class:`held.DryRun`).
        The held state evolves as if sent, from the one the instrument holds now (a held list known only
        by its digest is forgotten: the dry run could not answer ``DO`` with its length, so it plans the
        full setup); at exit it is forgotten, so the next real sweep sends the full setup. Nothing is
        written to the transcript.
        """
        if self._dry is not None:
            raise RuntimeError("dry_run() is already active on this driver")
        rec = DryRun(self.framing)
        held = self.held
        if held is not None and held.vl is None:
            self._held = None
        elif held is not None:
            rec.holding(held.vl)
        self._dry = rec
        try:
            yield rec
        finally:
            self._dry, self._held, self._page = None, None, None
