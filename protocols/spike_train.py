"""Spike-train stimulation of a volatile device: the virtual-reservoir input of the paper (Fig. 4).

Paper (Results "Classification of neural firing patterns", Fig. 4b, Methods): the four firing-pattern
classes (:mod:`protocols.patterns`) as 1 V / 20 ms spikes on one diffusive device; a −0.5 V / 5 ms read
every 35 ms samples its state → 30 virtual nodes over 1050 ms per pattern. A **campaign** repeats
P classes × C cycles on D devices (paper: 4 × 199 × 25 = 19,900 patterns) with a :class:`SelectDevice` message per device.

Engine — SMU list sweeps on a fixed time grid, every point measured:

* the volatile (fading-memory) mode *is* the 1 µA compliance (``sim_backend.model``: without it a 1 V
  spike grows a non-volatile filament); only the SMU has a compliance, the PMU has none;
* a list point lasts ``delay + 0.1 PLC`` (IT1), so the finest grid is 1/600 s at 60 Hz (2 ms at 50 Hz), not
  1 ms. The default ``dt_s = 1/600 s`` divides every paper duration exactly (spike 12 points, read 3,
  period 21, pattern 630), so each pattern is ``rest_s`` at 0 V (the device returns to OFF; a 35 ms gap
  suffices) followed by its 630-point window, and ⌊4096 / 660⌋ = 6 patterns share one list;
* one list = one block = one stream append (≈ 4 s of instrument time), so a killed campaign resumes at
  the next list with the same stimulus: each pattern's train is drawn from its own generator seeded by
  (seed, device, cycle, class), independent of the blocking and of the engine settings (the generators
  are made in bulk by :mod:`protocols.seeding`).

Node value — what a read measures (decision, parameter ``node_g_from``, default ``"measured_v"``): the
mean over the read slot of I/V with V the SMU's *measured* terminal voltage, stored with the current
(``node_i``), that voltage (``node_v``) and the compliance flag (``node_comp``). Why: a list sweep has one
compliance (``VL ch, master, Icc, …``, reference §2.3), and the spikes need 1 µA (the volatile mode). An
ON filament holds I = Icc at |V| ≈ v_c ≈ 0.3 V, so a −0.5 V read of it at the same 1 µA is clamped
(|I| ≤ 1 µA) and I/(−0.5 V) under-reads the conductance — the first model clipped 27 % of the reads so.
Two compliances need two lists: each list costs its setup (≈ 20 commands; 1 ms each on the simulator,
more on the instrument) between the spike and the read, i.e. the 35 ms grid cannot hold a second list per
node. Two SMUs in series share one current, so a second SMU with a larger compliance cannot lift the
clamp either. What the SMU does give: in compliance it is a current source at Icc and *measures* the
voltage it needed; I/V_meas is then the device's conductance at |V| ≤ 0.5 V (an Ag filament is ohmic at
these biases; the HRS, read unclamped at −0.5 V, keeps the exact read voltage). So the read stays a
measurement of the state, never a ceiling at 2 µS, and ``node_comp`` still says which reads were limited.
``"programmed_v"`` (I/read_v, the earlier reading) stays available for comparison.

Phase (``random_phase`` True, ``phase_span_s`` = one read period by default): see
:mod:`protocols.patterns` — the Methods do not place the pattern on the read grid; a stimulus locked to
the sampling clock lets a memoryless readout classify from the t = 0 convention alone.

A spike that covers a read slot (``overlap``): ``"clip"`` (default) — the grid wins: the read interrupts
the spike, which resumes after the slot, so the 30 nodes stay uniformly spaced as the virtual-node concept
needs; ``"defer"`` — the spike wins: the read moves to the first spike-free slot after its nominal time
(its time is stored); where none is left before the window ends, the read takes the window's last slot
and interrupts the spike there, as with ``"clip"`` (the window does not grow). Every such choice is a
parameter and lands in the run file's metadata.

``--campaign`` without ``cycles`` is the paper's size: 25 devices × 199 cycles × 4 classes = 19,900
patterns (:meth:`SpikeTrain.from_options`). Presets: ``paper`` (that campaign) and ``paper-onset`` (the same
with ``isi_mode="onset"``, the literal reading of the Methods' ISI — see :mod:`protocols.patterns`).

One module over ~400 lines (a fifth of it this text): one protocol's parameters, grid, stimulus chunks and
plan, which share the grid; the trains are :mod:`protocols.patterns`, their seeding :mod:`protocols.seeding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from instruments.limits import (
    LIST_POINTS_MAX,
    SMU_COMPLIANCE_MIN_A,
    SMU_ICC_MAX_A,
    SMU_PULSE_V_MAX_V,
    integration_time_s,
)
from labrc.engine.messages import BlockPlan, Emit, ListSweep, SelectDevice
from labrc.store import Column, Stream

from .base import ParameterError, Plan, Protocol, check_point_time, check_smu_source, param
from .patterns import CLASSES, MAX_SPIKES, PHASE_SPAN_S, WIDTH_S, generate, generate_each, spike_mask
from .seeding import WORD_MAX, Reseeded, entropy_words, pcg64_states


@dataclass
class SpikeTrainParams:
    pattern_class: str = param("all", "", help="firing-pattern class, or all four",
                               choices=("all", *CLASSES))
    cycles: int = param(1, "", 1, 1_000_000, "patterns per class (per device in a campaign); paper 199")
    campaign: bool = param(False, "", help="run classes × cycles × devices, moving between devices")
    devices: int = param(25, "", 1, 10_000, "devices of a campaign (0 … devices-1); paper 25")
    seed: int = param(0, "", 0, 2**63 - 1, "seed of the spike trains")
    spike_v: float = param(1.0, "V", 0.0, SMU_PULSE_V_MAX_V, "spike amplitude")
    spike_width_s: float = param(WIDTH_S, "s", 0.0, 1.0, "spike width (Fig. 4 caption 20 ms; Methods 25 ms)")
    isi_mode: str = param("gap", "", help="ISI = spike end → next onset (gap) or onset → onset",
                          choices=("gap", "onset"))
    random_phase: bool = param(True, "", help="shift each train by U(0, phase_span_s): the read clock is not locked "
                               "to the stimulus (Methods silent; see protocols.patterns)")
    phase_span_s: float = param(PHASE_SPAN_S, "s", 0.0, 1.0,
                                "span of the random onset offset (default one read period)")
    read_v: float = param(-0.5, "V", -SMU_PULSE_V_MAX_V, SMU_PULSE_V_MAX_V, "read amplitude (non-destructive, opposite polarity)")
    read_width_s: float = param(0.005, "s", 0.0, 1.0, "read slot width")
    read_period_s: float = param(0.035, "s", 0.0, 10.0, "node sampling period; the slot ends each period")
    n_nodes: int = param(30, "", 1, 1000, "virtual nodes per pattern (window = n_nodes × read_period_s)")
    overlap: str = param("clip", "", help="spike over a read slot: clip the spike, or defer the read",
                         choices=("clip", "defer"))
    dt_s: float = param(1 / 600, "s", 1e-4, 1.0, "time step of the list (≥ 0.1 PLC; every point measured)")
    line_frequency_hz: int = param(60, "Hz", help="mains frequency of the instrument (sets 0.1 PLC)",
                                   choices=(50, 60))
    icc_a: float = param(1e-6, "A", SMU_COMPLIANCE_MIN_A, SMU_ICC_MAX_A, "SMU compliance: 1 µA = volatile mode")
    rest_s: float = param(0.05, "s", 0.0, 10.0, "0 V before each pattern (device back to OFF)")
    node_g_from: str = param("measured_v", "", help="node conductance I/V with the SMU's measured V (a read in "
                             "compliance still measures G) or with the programmed read_v", choices=("measured_v", "programmed_v"))

PAPER_CYCLES = 199      # Methods: 199 cycles on each of 25 devices per class
CHUNK_PATTERNS = 1024   # stimuli made at once: one paper device (796 patterns); ≈ 5 MiB of list voltages
CHUNKS_KEPT = 2         # chunks kept (labrc.planning's pre-flight runs the first and the last block)


def slot_mean(x: np.ndarray) -> np.ndarray:
    """(k, nodes) mean over the last axis of (k, nodes, points): ``x.mean(axis=2)`` to the bit (numpy's
    ``_methods._mean`` is this sum divided by the count) without its per-call bookkeeping."""
    return np.add.reduce(x, axis=2) / x.shape[2]


def node_conductance(i_a: np.ndarray, v_v: np.ndarray, read_v: float, how: str) -> np.ndarray:
    """(k, nodes) conductance from the (k, nodes, points) currents and measured voltages of the read slots.

    ``measured_v``: mean of I/V_meas over the slot (a point whose measured |V| is below 1 mV, i.e. a
    metallic short at 1 µA, falls back to read_v); ``programmed_v``: mean I / read_v."""
    if how == "programmed_v":
        return slot_mean(i_a) / read_v
    v = np.where(np.abs(v_v) >= 1e-3, v_v, read_v)
    return slot_mean(i_a / v)


def _n(t_s: float, dt_s: float, name: str) -> int:
    """Grid points of a duration; refuse durations that are not whole multiples of dt_s."""
    k = round(t_s / dt_s)
    if abs(k * dt_s - t_s) > 1e-6 * max(t_s, dt_s):
        raise ParameterError(f"{name}={t_s:g} s is not a multiple of dt_s={dt_s:g} s")
    return int(k)


class _Grid(NamedTuple):
    """What every block of a run shares, derived once from the parameters (:meth:`SpikeTrain.grid`)."""

    rest: int                   # points at 0 V before each pattern
    window: int                 # points of a pattern's window
    read_points: int            # points of a read slot
    delay_s: float              # list step delay: dt_s less the 0.1-PLC measurement
    cls_index: np.ndarray       # CLASSES index of the run's classes, in their order in a device's patterns
    per_device: int             # patterns per device (classes × cycles)
    read_cols: np.ndarray       # (n_nodes · read_points,) window index of every read point ("clip": fixed)
    node_t: np.ndarray          # (per_list, n_nodes) float32 end of each nominal read slot, one row per pattern
    gen_kw: dict                # the generator settings of every train (window, width, ISI mode, phase)
    chunk: int                  # patterns whose stimuli are made at once (whole lists, ≤ CHUNK_PATTERNS)


class _Chunk(NamedTuple):
    """The stimuli of consecutive patterns of one device slot, made at once (:meth:`SpikeTrain.chunk`)."""

    first: int                  # device-relative index of its first pattern
    onsets: np.ndarray          # (m, MAX_SPIKES)
    wave: np.ndarray            # (m, rest + window) list voltages, read-only
    slots: np.ndarray | None    # (m, n_nodes) read slots moved by overlap="defer", else None
    n_spikes: np.ndarray        # (m,) int16 spikes of each train


class SpikeTrain(Protocol):
    name = "spike-train"
    run_type = "spike"
    progress_unit = "patterns"

    def live_figure(self, block: dict[str, dict]) -> str:
        """Device of the block and the share of node reads in compliance."""
        s = block["patterns"]
        return f"device {int(s['device'][-1])}, reads in compliance {float(np.mean(s['node_comp'])):.0%}"
    Params = SpikeTrainParams
    description = "firing-pattern spike trains, 30 virtual nodes per pattern; --campaign: classes x cycles x devices (Fig. 4)"
    # "paper-onset": the literal reading of the Methods' ISI (onset to onset; protocols.patterns, isi_mode) —
    # issue 12: it alone moves the float64 readout from ≈ 97 % (gap, the default) to ≈ 92 % (paper 91.8 %)
    presets = {"paper": {"pattern_class": "all", "campaign": True, "cycles": PAPER_CYCLES, "devices": 25},
               "paper-onset": {"pattern_class": "all", "campaign": True, "cycles": PAPER_CYCLES, "devices": 25,
                               "isi_mode": "onset"}}

    @classmethod
    def from_options(cls, preset=None, values=None) -> SpikeTrain:
        """As :meth:`Protocol.from_options`; a campaign whose ``cycles`` nobody set runs the paper's 199."""
        proto = super().from_options(preset, values)
        given = "cycles" in (values or {}) or (preset is not None and "cycles" in cls.presets.get(preset, {}))
        if proto.params.campaign and not given:
            proto.params.cycles = PAPER_CYCLES
        return proto

    # ----------------------------------------------------------------- geometry
    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES if self.params.pattern_class == "all" else (self.params.pattern_class,)

    @property
    def n_dev(self) -> int:
        return self.params.devices if self.params.campaign else 1

    @property
    def per_device(self) -> int:
        return len(self.classes) * self.params.cycles

    @property
    def points(self) -> tuple[int, int]:
        """(rest points, window points) of one pattern."""
        p = self.params
        return _n(p.rest_s, p.dt_s, "rest_s"), p.n_nodes * _n(p.read_period_s, p.dt_s, "read_period_s")

    @property
    def per_list(self) -> int:
        return max(LIST_POINTS_MAX // sum(self.points), 0)

    def blocks(self) -> list[tuple[int, int, int]]:
        """(device slot, first pattern, end pattern) of every block; patterns never span devices."""
        k, m = self.per_list, self.per_device
        return [(d, d * m + a, d * m + min(a + k, m)) for d in range(self.n_dev) for a in range(0, m, k)]

    def read_slots(self) -> np.ndarray:
        """Nominal first grid index of each read slot (the slot ends its period)."""
        p = self.params
        per, w = _n(p.read_period_s, p.dt_s, "read_period_s"), _n(p.read_width_s, p.dt_s, "read_width_s")
        return np.arange(p.n_nodes) * per + per - w

    # ----------------------------------------------------------------- checks and plan
    def validate(self, limits) -> None:
        super().validate(limits)
        p = self.params
        check_point_time(p.dt_s, p.line_frequency_hz)
        for name in ("spike_width_s", "read_width_s"):
            if getattr(p, name) < p.dt_s - 1e-12:
                raise ParameterError(f"{name}={getattr(p, name):g} s is below the engine's minimum dt_s={p.dt_s:g} s")
        for name in ("spike_width_s", "read_width_s", "read_period_s", "rest_s"):
            _n(getattr(p, name), p.dt_s, name)
        if p.read_width_s >= p.read_period_s:
            raise ParameterError(f"read_width_s={p.read_width_s:g} s must be below read_period_s={p.read_period_s:g} s")
        if p.read_v == 0:
            raise ParameterError("read_v must be non-zero (the node conductance is I/read_v)")
        if self.per_list < 1:
            raise ParameterError(f"one pattern has {sum(self.points)} points; a list sweep holds at most "
                                 f"{LIST_POINTS_MAX} (raise dt_s or lower n_nodes/rest_s)")
        check_smu_source(limits, self.card, "icc_a", p.icc_a, {"spike_v": p.spike_v, "read_v": p.read_v})
        if len(self.classes) * p.cycles * self.n_dev > limits.cycles_max:
            raise ParameterError(f"{len(self.classes) * p.cycles * self.n_dev} patterns exceed limits.cycles_max="
                                 f"{limits.cycles_max}")

    def schema(self) -> dict[str, Stream]:
        p, (_, w) = self.params, self.points
        nn = (p.n_nodes,)
        return {"patterns": Stream(columns=(
            Column("seq", "i8"), Column("device", "i4"), Column("cycle", "i4"), Column("cls", "i1"),
            Column("n_spikes", "i2"), Column("onsets", "f8", "s", (MAX_SPIKES,)),
            Column("node_i", "f8", "A", nn), Column("node_v", "f8", "V", nn), Column("node_g", "f8", "S", nn),
            Column("node_t", "f4", "s", nn),
            Column("node_comp", "u1", "", nn), Column("trace", "f4", "A", (w,)), Column("t", "f8", "s")),
            chunk_rows=64, signal="node_g")}

    def plan(self) -> Plan:
        p = self.params
        blocks = self.blocks()
        n = self.n_dev * self.per_device
        return Plan(n_blocks=len(blocks), n_points=n,
                    eta_s=n * sum(self.points) * p.dt_s, engine=f"SMU list sweeps at Icc = {p.icc_a:g} A on a {p.dt_s:g} s grid",
                    notes=[f"{len(self.classes)} classes × {p.cycles} cycles × {self.n_dev} devices = {n} patterns "
                           f"(rows); {sum(self.points)} points each, {self.per_list} per list",
                           f"{p.n_nodes} nodes: {p.read_v:g} V / {p.read_width_s:g} s every {p.read_period_s:g} s"])

    # ----------------------------------------------------------------- per-run constants
    def grid(self) -> _Grid:
        """The constants every block shares, derived from the parameters once per run instead of per block
        (keyed by the parameter values, so a protocol whose parameters change is derived again)."""
        key = tuple(vars(self.params).values())
        cached = self.__dict__.get("_grid_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        p = self.params
        rest, w = self.points
        nr = _n(p.read_width_s, p.dt_s, "read_width_s")
        read_cols = (self.read_slots()[:, None] + np.arange(nr)).ravel()
        node_t = np.tile(((self.read_slots() + nr) * p.dt_s).astype(np.float32), (self.per_list, 1))
        for a in (read_cols, node_t):
            a.setflags(write=False)             # shared by every block
        g = _Grid(rest=rest, window=w, read_points=nr,
                  delay_s=max(p.dt_s - integration_time_s(1, p.line_frequency_hz), 0.0),
                  cls_index=np.array([CLASSES.index(c) for c in self.classes]), per_device=self.per_device,
                  read_cols=read_cols, node_t=node_t,
                  gen_kw={"window_s": w * p.dt_s, "width_s": p.spike_width_s, "isi_mode": p.isi_mode,
                          "random_phase": p.random_phase, "phase_span_s": p.phase_span_s},
                  chunk=self.per_list * max(1, min(-(-self.per_device // self.per_list),
                                                   CHUNK_PATTERNS // self.per_list)))
        self._grid_cache = (key, g)
        return g

    # ----------------------------------------------------------------- stimulus
    def _rng(self, device: int, cycle: int, cls_index: int) -> np.random.Generator:
        """The generator of one pattern, seeded by (seed, device, cycle, class) alone (see module doc)."""
        return np.random.default_rng(np.random.SeedSequence([self.params.seed, device + 1, cycle, cls_index]))

    def stimulus(self, device: int, cycle: int, cls_index: int) -> np.ndarray:
        """Spike onsets (MAX_SPIKES,) of one pattern, from its own seeded generator."""
        return generate(CLASSES[cls_index], self._rng(device, cycle, cls_index), 1, **self.grid().gen_kw)[0]

    def stimuli(self, device: int, cycles: np.ndarray, cls_index: np.ndarray) -> np.ndarray:
        """(k, MAX_SPIKES) onsets of k patterns: row j is ``stimulus(device, cycles[j], cls_index[j])`` bit for
        bit — the generators' states computed together (:func:`protocols.seeding.pcg64_states`), their arithmetic vectorized
        over the rows (:func:`protocols.patterns.generate_each`)."""
        cycles, cls_index = np.asarray(cycles, np.int64), np.asarray(cls_index, np.int64)
        if cycles.size and not (0 <= cycles.min() and cycles.max() <= WORD_MAX and 0 <= device + 1 <= WORD_MAX):
            raise ValueError("pattern entropy words must be 32-bit")   # one word each, as below
        head = entropy_words(self.params.seed) + [device + 1]
        entropy = np.column_stack([np.broadcast_to(np.array(head, np.uint32), (cycles.size, len(head))),
                                   cycles.astype(np.uint32), cls_index.astype(np.uint32)])
        return generate_each(cls_index, Reseeded(pcg64_states(entropy)), **self.grid().gen_kw)

    def chunk(self, slot: int, index: int) -> _Chunk:
        """The stimuli and list voltages of the ``grid().chunk`` patterns around device-relative pattern
        ``index`` of device slot ``slot``, made once for the blocks they span (the last CHUNKS_KEPT are kept:
        the pre-flight's first and last blocks, then the run's current chunk)."""
        g, p = self.grid(), self.params
        first = index // g.chunk * g.chunk
        key = (self._grid_cache[0], slot, first)
        kept = self.__dict__.setdefault("_chunks", {})
        if key in kept:
            return kept[key]
        r = np.arange(first, min(first + g.chunk, g.per_device))
        cyc, cl = r // g.cls_index.size, g.cls_index[r % g.cls_index.size]
        onsets = self.stimuli(slot if p.campaign else -1, cyc, cl)
        wave = np.zeros((r.size, g.rest + g.window))
        slots = self._fill_window(onsets, wave[:, g.rest:])
        n_spikes = np.sum(~np.isnan(onsets), axis=1).astype(np.int16)
        for a in (onsets, wave, n_spikes) + (() if slots is None else (slots,)):
            a.setflags(write=False)             # handed to every block of the chunk as views
        kept[key] = _Chunk(first, onsets, wave, slots, n_spikes)
        while len(kept) > CHUNKS_KEPT:
            kept.pop(next(iter(kept)))
        return kept[key]

    def _fill_window(self, onsets: np.ndarray, v: np.ndarray) -> np.ndarray | None:
        """Write the spikes and reads of each pattern into ``v`` ((k, window), zeros; a view is fine);
        return the first index of each read slot (k, n_nodes) when ``overlap="defer"`` moved them, None for
        the fixed slots of ``"clip"`` (``grid().read_cols``)."""
        p, g = self.params, self.grid()
        spikes = spike_mask(onsets, g.window, p.dt_s, p.spike_width_s)
        v[spikes] = p.spike_v
        if p.overlap != "defer":
            v[:, g.read_cols] = p.read_v
            return None
        nr, w = g.read_points, g.window
        slots = np.broadcast_to(self.read_slots(), (len(onsets), p.n_nodes)).copy()
        for i in range(len(onsets)):
            busy = np.convolve(spikes[i].astype(int), np.ones(nr, int))[nr - 1:]   # spike points in [j, j+nr)
            free = np.flatnonzero(busy[: w - nr + 1] == 0)
            nxt = 0
            for j, s in enumerate(slots[i]):
                c = free[np.searchsorted(free, max(s, nxt)):]
                slots[i, j] = c[0] if c.size else min(max(s, nxt), w - nr)
                nxt = slots[i, j] + nr
        np.put_along_axis(v, self._slot_index(slots), p.read_v, axis=1)
        return slots

    def _slot_index(self, slots: np.ndarray) -> np.ndarray:
        """(k, n_nodes · read points) window index of every read point from the slots' first indices."""
        return (slots[:, :, None] + np.arange(self.grid().read_points)).reshape(len(slots), -1)

    def waveforms(self, onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k, window) source voltages and (k, n_nodes) first index of each read slot."""
        v = np.zeros((len(onsets), self.grid().window))
        slots = self._fill_window(onsets, v)
        if slots is None:
            slots = np.broadcast_to(self.read_slots(), (len(onsets), self.params.n_nodes)).copy()
        return v, slots

    # ----------------------------------------------------------------- run
    def devices_needed(self) -> int:
        return self.n_dev

    def block(self, spec: tuple[int, int, int], carry: dict) -> BlockPlan:
        """Patterns ``a`` … ``e`` − 1 of device slot ``d`` as one list (rest at 0 V, then the window)."""
        p, g = self.params, self.grid()
        d, a, e = spec
        rest, w, nr = g.rest, g.window, g.read_points
        if p.campaign:
            yield SelectDevice(d)
        r = np.arange(a, e) - d * g.per_device
        cyc, cl = r // g.cls_index.size, g.cls_index[r % g.cls_index.size]
        dev = d if p.campaign else -1
        ch = self.chunk(d, int(r[0]))
        rows = slice(int(r[0]) - ch.first, int(r[-1]) + 1 - ch.first)
        if rows.stop > len(ch.onsets):          # chunks are whole lists of blocks(): never for its blocks
            raise ValueError(f"block {spec} crosses a stimulus chunk of {g.chunk} patterns")
        onsets, wave = ch.onsets[rows], ch.wave[rows]
        slots = None if ch.slots is None else ch.slots[rows]
        k = len(r)
        # the instrument's timestamps are fetched once per device, to check that its point time is dt_s (the
        # mains frequency sets 0.1 PLC); the stored time axis is a function of the pattern index, so later
        # lists skip the DO of the timestamps (one 4000-value transfer per list)
        first_of_device = a == d * g.per_device
        res = yield ListSweep(wave.ravel(), p.icc_a, g.delay_s, 0.0, 1,
                              ("I", "V", "T") if first_of_device else ("I", "V"))
        if first_of_device and len(res) > 1 and np.isfinite(res.t_s[1]) and res.t_s[1] != res.t_s[0]:
            step = float(res.t_s[1] - res.t_s[0])
            if abs(step - p.dt_s) > 1e-3 * p.dt_s:
                raise RuntimeError(f"the instrument's point time is {step:g} s, not dt_s={p.dt_s:g} s: "
                                   "set line_frequency_hz to the instrument's mains frequency")
        i = res.i_meas_a.reshape(k, rest + w)[:, rest:]
        # only the read points of the voltages and status letters are needed
        if slots is None:
            def at_reads(x: np.ndarray) -> np.ndarray:
                return x.reshape(k, rest + w)[:, rest + g.read_cols].reshape(k, p.n_nodes, nr)
            node_t = g.node_t[:k]
        else:
            idx = self._slot_index(slots) + rest

            def at_reads(x: np.ndarray) -> np.ndarray:
                return np.take_along_axis(x.reshape(k, rest + w), idx, axis=1).reshape(k, p.n_nodes, nr)
            node_t = ((slots + nr) * p.dt_s).astype(np.float32)
        i_r, v_r, c_r = at_reads(res.i_meas_a), at_reads(res.v_meas_v), at_reads(res.status) == "C"
        node_i, node_v, node_c = slot_mean(i_r), slot_mean(v_r), c_r.any(axis=2)
        node_g = node_conductance(i_r, v_r, p.read_v, p.node_g_from)
        # t = start of each pattern's window on the list grid, a function of the pattern index (not a
        # sum of list times), so a resumed campaign continues the same time axis bit for bit
        starts = (np.arange(a, e, dtype=np.int64) * (rest + w) + rest) * p.dt_s
        yield Emit("patterns", {
            "device": np.full(k, dev, np.int32), "cycle": cyc.astype(np.int32), "cls": cl.astype(np.int8),
            "n_spikes": ch.n_spikes[rows], "onsets": onsets,
            "node_i": node_i, "node_v": node_v, "node_g": node_g, "node_t": node_t,
            "node_comp": node_c.astype(np.uint8), "trace": i.astype(np.float32), "t": starts})
        return carry

    @classmethod
    def summary(cls, reader) -> dict:
        s = reader.stream("patterns")
        out: dict = {"patterns": int(s["seq"].size), "devices": int(np.unique(s["device"]).size),
                     "cycles": int(s["cycle"].max() + 1) if s["seq"].size else 0,
                     "reads_in_compliance": float(s["node_comp"].mean()) if s["seq"].size else 0.0}
        for k, name in enumerate(CLASSES):
            m = s["cls"] == k
            if m.any():
                out[name] = {"patterns": int(m.sum()), "spikes_mean": float(s["n_spikes"][m].mean()),
                             "node_g_mean_s": float(s["node_g"][m].mean())}
        return out
