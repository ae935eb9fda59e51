"""Simulated Ag / CsPbBr3-NC / polyTPD / PEDOT:PSS / ITO memristor (John, Demirağ et al., Nat. Commun. 2022).

One mechanism, both modes chosen by the compliance (DESIGN §5, reference/device-models.md §2.4, §2.7):

* State: the Ag filament conductance ``g`` (S). The device current is the ohmic filament plus a leaky,
  weakly nonlinear insulator: ``I = g·V + g_off·v_nl·sinh(V/v_nl)``.
* Growth (SET) only for a positive device voltage ``V ≥ v_th`` (Ag⁺ comes from the top electrode only, so
  nothing grows under reverse bias). Growth is a runaway (hyperbolic) process, which gives the abrupt
  "sudden increase in current" of filamentary devices and finite-time SET below 1 V:
  ``d(1/(g+g_seed))/dt = -1/(g_seed·τ_g(V))``, ``τ_g(V) = τ_g1·exp(-(V-1 V)/v_s)``.
* Compliance: once the SMU limits the current, the filament keeps growing until its voltage drops to
  ``v_c``, so ``g → (Icc - I_off(v_c))/v_c`` ≈ Icc/v_c: linear in Icc (multi-level LRS, 0.1–3.5 mS for
  29 µA–1 mA). Without compliance (``icc=np.inf``, PMU) growth stops at the physical ceiling ``g_max``
  (5 mS: ≈5 mA at 1 V), i.e. a hard, non-volatile SET.
* Relaxation (surface-diffusion-limited lifetime, Wang et al. Nat. Commun. 10, 81 (2019)): the filament
  lifetime grows steeply with its size, ``T(g) = t_life_ref·(g/g_ref)^n``, ``g_ref = 1 µA/v_c``,
  equivalently ``d(g/g_ref)^n/dt = -1/t_life_ref`` (closed form). n = 2.6: 1 µA → ~10 ms,
  1 mA → ~6e5 s. Growth and relaxation are not summed: a segment either grows, holds or relaxes.
* RESET: for ``V ≤ -v_reset`` the filament dissolves, ``g ← g·exp(-∫dt/τ_r(V))``. A 1 mA compliance
  also applied to the negative branch clamps the device voltage at ≈ -Icc/g ≈ -v_c and prevents the RESET,
  as in the paper, where Icc = 1 mA is used "during SET operation" only: give the negative segments a
  larger compliance (≥ 10 mA) or none.
* Variability: device-to-device parameters from ``SeedSequence([seed, index])``; cycle-to-cycle factors
  (LRS level, lifetime, growth speed) drawn at each SET operation; read noise on every measurement.
* Wear-out: a Weibull failure cycle per device and mode (median from the paper); volatile and
  non-volatile cycles are counted at SET events (OFF → compliance/ceiling), classified by the size of the
  filament (volatile if its lifetime < 1 s).

Everything is closed form between piecewise-constant segments; ``apply_segments`` loops only over runs of
segments of the same kind (grow / quiet / reset) and compliance, and ``apply_cycles`` evaluates a
periodic pattern (e.g. read / write / read) vectorized over all its cycles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

_LN2 = math.log(2.0)
_EXP_CAP = 60.0  # cap of exponents in the kinetic rates (rates beyond e^60 are "instantaneous")
_R_SHORT_OHM = 10.0  # injected "short" fault: a 10 Ω metallic bridge


@dataclass(frozen=True)
class Preset:
    """Nominal parameters of one device type (ligand / top electrode) and their spreads.

    Sources: [B] the paper (John, Demirağ et al. 2022), [R] reference/device-models.md, [D] chosen here to meet
    the [B] targets.
    """

    name: str
    has_ag: bool = True                # Au top electrode: no Ag source, no switching [B Suppl. Fig. 14]
    g_off_s: float = 10e-9             # HRS small-signal conductance: I(0.1 V) ≈ 1 nA [R §3, endurance floor]
    v_nl_v: float = 1.0                # HRS sinh nonlinearity: I(5 V) ≈ 0.7 µA ≪ 1 mA (Au never sets) [D]
    v_th_v: float = 0.45               # growth threshold; SET < 1 V [B], ≈0.5 V [R §3]
    v_c_v: float = 0.29                # critical filament voltage, G_LRS = Icc/v_c [R §2.4, §3]
    g_seed_s: float = 1e-6             # runaway growth scale [D]
    tau_g1_s: float = 15e-3            # growth time at 1 V: SET < 1 V up to ~5 V/s sweeps; 1 V spikes < 7 ms are partial [D]
    v_s_v: float = 0.15                # growth acceleration per volt: τ_g(2 V) ≈ 40 µs [D]
    g_max_s: float = 5e-3              # ceiling without compliance (PMU): ≈5 mA at 1 V [D]
    # facilitation: an Ag⁺ cloud c∈[0,1] builds up while V ≥ v_th and fades otherwise; it speeds growth by
    # (1 + facil_gain·c). Gives paired-pulse facilitation (nonlinear in pulse number) with a 5–20 ms memory [B]
    facil_gain: float = 2.0
    tau_c_build_s: float = 5e-3
    tau_c_decay_s: float = 15e-3
    t_life_ref_s: float = 10e-3        # lifetime of the 1 µA filament; relaxation 5–20 ms [B]
    # T ∝ Icc^n, n ≈ 2–2.5 [R §2.4], raised to 2.6 [D]: 1 mA → ~6e5 s, so that with the lifetime spreads
    # (σ_ln ≈ 0.45 d2d + c2c) every device of a die keeps a 1 mA state to 1e5 s [B]; at 2.5 (~3e5 s)
    # about 1 device in 300 lost it before 1e5 s
    n_life: float = 2.6
    v_reset_v: float = 0.8             # RESET threshold magnitude (negative bias) [D]
    tau_r0_s: float = 1e-3             # dissolution time at -v_reset [D]
    v_rs_v: float = 0.1                # dissolution acceleration per volt [D]
    # device-to-device spreads (lognormal sigma of a multiplicative factor) [R §2.9]
    sd_v_th: float = 0.10
    sd_t_life: float = 0.30
    sd_tau_g: float = 0.30
    sd_g_set: float = 0.07
    sd_g_off: float = 0.50
    sd_v_reset: float = 0.15
    # cycle-to-cycle spreads, drawn at each SET operation [R §2.9]
    cc_g_set: float = 0.07
    cc_t_life: float = 0.20
    cc_tau_g: float = 0.30
    # read noise [R §2.9: ~1 % short-term]
    noise_i_rel: float = 0.01
    noise_i_abs_a: float = 5e-12
    noise_v_rel: float = 1e-4
    # wear-out: Weibull median cycles and shape, and how the device fails [B, R §2.9]
    median_fail_vol: float = 2e6       # OGB volatile endurance 2 × 10^6 [B]
    median_fail_nv: float = 5655.0     # OGB non-volatile endurance [B]
    weibull_k: float = 2.0
    fail_vol: str = "stuck_off"        # [D] assumption: threshold switching ceases (paper silent for OGB)
    fail_nv: str = "stuck_on"          # non-erasable LRS, typical for Ag CBRAM [R §2.9]


PRESETS: dict[str, Preset] = {
    "OGB-Ag": Preset("OGB-Ag"),
    # DDAB: ON/OFF ≈ 10 (leaky HRS, I(0.1 V) ≈ 0.1 µA), ≈10 volatile cycles then a permanent filament,
    # ≈50 non-volatile cycles then non-erasable [B Results, Suppl. Figs. 3, 7]
    "DDAB-Ag": Preset("DDAB-Ag", g_off_s=0.7e-6, sd_g_off=0.25, median_fail_vol=10.0, median_fail_nv=50.0,
                      fail_vol="stuck_on", fail_nv="stuck_on"),
    # Au top electrode: leaky insulator, never reaches 1 mA, no abrupt current increase [B Suppl. Fig. 14]
    "OGB-Au": Preset("OGB-Au", has_ag=False),
    "DDAB-Au": Preset("DDAB-Au", has_ag=False, g_off_s=0.7e-6, sd_g_off=0.25),
}

FAILURES = ("stuck_on", "stuck_off", "short", "open")


@dataclass(frozen=True)
class DeviceParams:
    """Parameters of one device after device-to-device sampling (JSON-able via ``asdict``)."""

    preset: str
    index: int
    has_ag: bool
    g_off_s: float
    v_nl_v: float
    v_th_v: float
    v_c_v: float
    g_set_factor: float   # multiplies Icc/v_c (d2d LRS slope)
    g_seed_s: float
    tau_g1_s: float
    v_s_v: float
    g_max_s: float
    t_life_ref_s: float
    n_life: float
    g_ref_s: float        # 1 µA / v_c
    v_reset_v: float
    tau_r0_s: float
    v_rs_v: float
    n_fail_vol: int
    n_fail_nv: int


@dataclass
class SegmentResult:
    """Measured values at the end of each segment (read noise applied)."""

    i_a: np.ndarray          # current through the device (A)
    v_dev_v: np.ndarray      # voltage across the device (V); differs from the programmed one in compliance
    compliance: np.ndarray   # bool: the SMU was current-limited


def _sample_params(p: Preset, seed: int, index: int) -> tuple[DeviceParams, np.random.Generator]:
    """Draw one device's parameters (d2d) and its own noise generator, both from (seed, index)."""
    prm_ss, noise_ss = np.random.SeedSequence([int(seed), int(index)]).spawn(2)
    r = np.random.default_rng(prm_ss)
    z = r.standard_normal(6)
    u = r.random(2)
    k = p.weibull_k
    n_vol, n_nv = (max(1, math.ceil(med / _LN2 ** (1 / k) * (-math.log1p(-uu)) ** (1 / k)))
                   for med, uu in ((p.median_fail_vol, u[0]), (p.median_fail_nv, u[1])))
    return DeviceParams(
        preset=p.name, index=int(index), has_ag=p.has_ag,
        g_off_s=p.g_off_s * math.exp(p.sd_g_off * z[0]), v_nl_v=p.v_nl_v,
        v_th_v=p.v_th_v * math.exp(p.sd_v_th * z[1]), v_c_v=p.v_c_v,
        g_set_factor=math.exp(p.sd_g_set * z[2]), g_seed_s=p.g_seed_s,
        tau_g1_s=p.tau_g1_s * math.exp(p.sd_tau_g * z[3]), v_s_v=p.v_s_v, g_max_s=p.g_max_s,
        t_life_ref_s=p.t_life_ref_s * math.exp(p.sd_t_life * z[4]), n_life=p.n_life,
        g_ref_s=1e-6 / p.v_c_v, v_reset_v=p.v_reset_v * math.exp(p.sd_v_reset * z[5]),
        tau_r0_s=p.tau_r0_s, v_rs_v=p.v_rs_v, n_fail_vol=n_vol, n_fail_nv=n_nv,
    ), np.random.default_rng(noise_ss)


class Memristor:
    """One simulated device: its parameters, filament state, virtual clock, counters and noise generator."""

    def __init__(self, preset: Preset, params: DeviceParams, rng: np.random.Generator):
        self._pre = preset
        self.p = params
        self._rng = rng
        self.g_s = 0.0             # filament conductance
        self.on = False            # a SET completed and the filament has not relaxed/reset since
        self.t_s = 0.0             # virtual time of this device
        self.c = 0.0               # Ag⁺ cloud (facilitation), 0..1
        self._k_life = 1.0         # c2c lifetime factor of the present filament
        self._k_grow = 1.0         # c2c growth-speed factor (applies to the next SET)
        self._n_vol = 0
        self._n_nv = 0
        self._wear: str | None = None
        self._forced: str | None = None
        # filaments bigger than this live > 1 s: a SET that makes one counts as a non-volatile cycle
        self._g_nv = params.g_ref_s * (1.0 / params.t_life_ref_s) ** (1.0 / params.n_life)

    # ---------------------------------------------------------------- public helpers
    @property
    def params(self) -> dict[str, Any]:
        return asdict(self.p)

    @property
    def failed(self) -> str | None:
        return self._forced or self._wear

    @property
    def cycle_counts(self) -> dict[str, int]:
        return {"volatile": self._n_vol, "nonvolatile": self._n_nv}

    def force_fault(self, kind: str | None) -> None:
        """Inject "short"/"open"/"stuck_on"/"stuck_off" (simulator drills); None clears the injected fault."""
        if kind is not None and kind not in FAILURES:
            raise ValueError(f"fault must be one of {FAILURES} or None, got {kind!r}")
        self._forced = kind

    def conductance_s(self, v_read: float = 0.1) -> float:
        """Noiseless chord conductance I(v_read)/v_read in the present state (no compliance, no state change)."""
        if v_read == 0:
            raise ValueError("v_read must be non-zero")
        if self.failed == "short":
            return 1.0 / _R_SHORT_OHM
        if self.failed == "open":
            return 0.0
        return float(self.g_s + self._i_off(np.float64(v_read)) / v_read)

    def get_state(self) -> dict[str, Any]:
        """JSON-able full mutable state, including the noise generator, for a bit-exact resume."""
        return {"g_s": self.g_s, "on": self.on, "t_s": self.t_s, "c": self.c, "k_life": self._k_life,
                "k_grow": self._k_grow, "n_vol": self._n_vol, "n_nv": self._n_nv, "wear": self._wear,
                "forced": self._forced, "rng": _jsonable(self._rng.bit_generator.state)}

    def set_state(self, d: dict[str, Any]) -> None:
        self.g_s, self.on, self.t_s, self.c = float(d["g_s"]), bool(d["on"]), float(d["t_s"]), float(d["c"])
        self._k_life, self._k_grow = float(d["k_life"]), float(d["k_grow"])
        self._n_vol, self._n_nv = int(d["n_vol"]), int(d["n_nv"])
        self._wear, self._forced = d["wear"], d["forced"]
        self._rng.bit_generator.state = d["rng"]

    def idle(self, dt_s: float) -> None:
        """The device sits at 0 V for dt_s: the filament relaxes, nothing is measured, no noise is drawn."""
        if not dt_s > 0 or not math.isfinite(dt_s):
            raise ValueError(f"dt_s must be finite and > 0, got {dt_s}")
        if self.failed not in ("short", "open"):
            self.g_s = float(self._decay(np.array([dt_s]))[-1])
            self.c *= math.exp(-dt_s / self._pre.tau_c_decay_s)
            self._check_off(self.g_s)
        self.t_s += float(dt_s)

    # ---------------------------------------------------------------- main entry points
    def apply_segments(self, v_v, dt_s, icc_a=np.inf) -> SegmentResult:
        """Apply piecewise-constant source-voltage segments one after another; measure at each segment end."""
        v, dt, icc = _validate(v_v, dt_s, icc_a)
        if self.failed in ("short", "open"):
            g = np.full(v.size, 1.0 / _R_SHORT_OHM if self.failed == "short" else 0.0)
            i_free = g * v
        else:
            g = self._evolve(v, dt, icc)
            i_free = g * v + self._i_off(v)
        self.t_s += float(dt.sum())
        return self._measure(v, icc, g, i_free)

    def apply_cycles(self, v_v, dt_s, icc_a, n_cycles: int) -> SegmentResult:
        """Apply a periodic pattern (k segments) n_cycles times; results have shape (n_cycles, k).

        Fast path, vectorized over cycles, when the pattern has exactly one write (V ≥ v_th, finite icc)
        that always reaches compliance and all other segments are reads/idles (-v_reset < V < v_c): then each
        write resets the filament to its compliance-limited size and cycles are independent but for the
        relaxation carried over. Statistically identical to ``apply_segments`` on the tiled pattern (same
        physics and noise model), not bit-identical (random numbers are drawn in a different order).
        Falls back to ``apply_segments`` otherwise, and for the cycles after a wear-out failure.
        """
        v, dt, icc = _validate(v_v, dt_s, icc_a)
        n_cycles = int(n_cycles)
        if n_cycles < 1:
            raise ValueError("n_cycles must be >= 1")
        k = v.size
        res = self._fast_cycles(v, dt, icc, n_cycles)
        if res is None:
            done, parts = 0, []
        else:
            done, parts = res[0], [res[1]]
        if done < n_cycles:
            parts.append(self.apply_segments(np.tile(v, n_cycles - done), np.tile(dt, n_cycles - done),
                                             np.tile(icc, n_cycles - done)))
        return SegmentResult(*(np.concatenate([getattr(r, f.name) for r in parts]).reshape(n_cycles, k)
                               for f in fields(SegmentResult)))

    # ---------------------------------------------------------------- physics
    def _i_off(self, v: np.ndarray) -> np.ndarray:
        """Leaky insulator (HRS) current: linear at small V, sinh at large V."""
        return self.p.g_off_s * self.p.v_nl_v * np.sinh(v / self.p.v_nl_v)

    def _g_cc(self, icc: float) -> float:
        """Compliance-limited filament conductance (nominal, before the c2c factor)."""
        return max(icc - float(self._i_off(np.float64(self.p.v_c_v))), 0.0) / self.p.v_c_v * self.p.g_set_factor

    def _decay(self, dt: np.ndarray) -> np.ndarray:
        """Relaxation at |V| small, closed form: (g/g_ref)^n falls linearly at 1/(t_life·k_life)."""
        if self.g_s <= 0.0:
            return np.zeros(dt.size)
        if self.failed == "stuck_on":
            return np.full(dt.size, self.g_s)
        p, n = self.p, self.p.n_life
        x = (self.g_s / p.g_ref_s) ** n - np.cumsum(dt) / (p.t_life_ref_s * self._k_life)
        return p.g_ref_s * np.maximum(x, 0.0) ** (1.0 / n)

    def _grow_rate(self, v: np.ndarray) -> np.ndarray:
        """d(1/(g+g_seed))/dt magnitude at device voltage v."""
        p = self.p
        return np.exp(np.minimum((v - 1.0) / p.v_s_v, _EXP_CAP)) / (p.g_seed_s * p.tau_g1_s * self._k_grow)

    def _set_event(self, icc: float) -> float:
        """A SET operation reached compliance (or the ceiling): draw c2c factors, count, maybe wear out."""
        z = self._rng.standard_normal(3, dtype=np.float32).astype(np.float64)
        pre = self._pre
        g_new = (self._g_cc(icc) if math.isfinite(icc) else self.p.g_max_s) * math.exp(pre.cc_g_set * z[0])
        g_new = min(g_new, self.p.g_max_s)
        self._k_life = math.exp(pre.cc_t_life * z[1])
        self._k_grow = math.exp(pre.cc_tau_g * z[2])
        nv = g_new >= self._g_nv
        if not (self.on and nv):      # every volatile SET stresses the cell; a non-volatile one only from OFF
            self._count(nv)
        self.on = True
        return g_new

    def _count(self, nonvolatile: bool, n: int = 1) -> None:
        if nonvolatile:
            self._n_nv += n
            if self._n_nv >= self.p.n_fail_nv and self._wear is None:
                self._wear = self._pre.fail_nv
        else:
            self._n_vol += n
            if self._n_vol >= self.p.n_fail_vol and self._wear is None:
                self._wear = self._pre.fail_vol

    def _check_off(self, g_min: float) -> None:
        if self.on and g_min < 0.05 * self.p.g_ref_s:
            self.on = False

    def _evolve(self, v: np.ndarray, dt: np.ndarray, icc: np.ndarray) -> np.ndarray:
        """Filament conductance at the end of every segment; loops over runs of same-kind segments."""
        p = self.p
        can_grow = p.has_ag and self.failed != "stuck_off"
        kind = np.where(v <= -p.v_reset_v, -1, np.where((v >= p.v_th_v) & can_grow, 1, 0))
        edge = np.flatnonzero((kind[1:] != kind[:-1]) | (icc[1:] != icc[:-1])) + 1
        starts = np.concatenate(([0], edge))
        ends = np.concatenate((edge, [v.size]))
        g_out = np.empty(v.size)
        for a, b, kd in zip(starts.tolist(), ends.tolist(), kind[starts].tolist()):
            c = float(icc[a])
            if kd == 1:
                g_run = self._run_grow(v[a:b], dt[a:b], c)
            elif kd == -1:
                g_run = self._run_reset(v[a:b], dt[a:b], c)
            else:
                g_run = self._run_quiet(v[a:b], dt[a:b], c)
            g_out[a:b] = g_run
            self.g_s = float(g_run[-1])
            if kd == 1:
                self.c = 1.0 - (1.0 - self.c) * math.exp(-float(dt[a:b].sum()) / self._pre.tau_c_build_s)
            else:
                self.c *= math.exp(-float(dt[a:b].sum()) / self._pre.tau_c_decay_s)
            self._check_off(float(g_run.min()))
        return g_out

    def _run_grow(self, v: np.ndarray, dt: np.ndarray, c: float) -> np.ndarray:
        p, g0, pre = self.p, self.g_s, self._pre
        tb = pre.tau_c_build_s
        c_prev = 1.0 - (1.0 - self.c) * np.exp(-(np.cumsum(dt) - dt) / tb)   # cloud at each segment start
        eff_dt = dt + pre.facil_gain * (dt - (1.0 - c_prev) * tb * -np.expm1(-dt / tb))  # ∫(1 + a·c)dt
        u = 1.0 / (g0 + p.g_seed_s) - np.cumsum(eff_dt * self._grow_rate(v))
        u_max = 1.0 / (p.g_max_s + p.g_seed_s)
        g = np.where(u > u_max, 1.0 / np.maximum(u, u_max) - p.g_seed_s, p.g_max_s)
        g = np.maximum(g, g0)
        hit = (g * v + self._i_off(v) >= c) if math.isfinite(c) else (u <= u_max)
        if hit.any():
            j = int(hit.argmax())
            limit = self._g_cc(c) if math.isfinite(c) else p.g_max_s
            # a filament up to 2× the compliance size re-equilibrates at the new (noisy) size; a much
            # bigger one (an LRS written again at low Icc) is left as it is
            g[j:] = self._set_event(c) if g0 < 2.0 * limit else g0
        return g

    def _run_reset(self, v: np.ndarray, dt: np.ndarray, c: float) -> np.ndarray:
        p = self.p
        if self.failed == "stuck_on" or self.g_s <= 0.0:
            return self._run_quiet(v, dt, c)
        # the SMU lets the device voltage reach -v_reset only if the filament current there is below Icc
        if math.isfinite(c) and self.g_s * p.v_reset_v + float(self._i_off(np.float64(p.v_reset_v))) > c:
            return self._run_quiet(v, dt, c)
        rate = np.exp(np.minimum((-v - p.v_reset_v) / p.v_rs_v, _EXP_CAP)) / p.tau_r0_s
        g = self.g_s * np.exp(-np.cumsum(dt * rate))
        return np.where(g < 1e-15, 0.0, g)

    def _run_quiet(self, v: np.ndarray, dt: np.ndarray, c: float) -> np.ndarray:
        """Relaxation, except where the SMU holds an ON filament in compliance above v_c (it then stays at Icc/v_c)."""
        p = self.p
        g_out = np.empty(v.size)
        g_cc = self._g_cc(c) if (math.isfinite(c) and p.has_ag and self.failed != "stuck_off") else 0.0
        pos = 0
        while pos < v.size:
            g = self._decay(dt[pos:])
            if g_cc > 0.0:
                vv = v[pos:]
                g_prev = np.concatenate(([self.g_s], g[:-1]))
                hold = (vv > p.v_c_v) & (g_prev * vv + self._i_off(vv) > c) & (g_prev < g_cc)
                if hold.any():
                    j = int(hold.argmax())
                    g_out[pos:pos + j] = g[:j]
                    above = vv[j:] > p.v_c_v
                    m = int(above.argmin()) if not above.all() else above.size
                    g_out[pos + j:pos + j + m] = g_cc
                    self.g_s = g_cc
                    pos += j + m
                    continue
            g_out[pos:] = g
            break
        return g_out

    # ---------------------------------------------------------------- measurement
    def _measure(self, v: np.ndarray, icc: np.ndarray, g: np.ndarray, i_free: np.ndarray) -> SegmentResult:
        """Apply the SMU compliance and the read noise (σ = 1 %·|I| + 5 pA on I; 1e-4 on V where V is computed)."""
        comp = np.abs(i_free) > icc
        i = np.where(comp, np.sign(v) * icc, i_free)
        v_dev = v.copy()
        if comp.any():
            v_dev[comp] = self._v_at_current(g[comp], icc[comp], v[comp])
        return SegmentResult(self._noisy_i(i), self._noisy_v(v_dev, comp), comp)

    def _noisy_i(self, i: np.ndarray) -> np.ndarray:
        pre = self._pre
        z = self._rng.standard_normal(i.size, dtype=np.float32).reshape(i.shape)
        return i + (pre.noise_i_rel * np.abs(i) + pre.noise_i_abs_a) * z

    def _noisy_v(self, v_dev: np.ndarray, comp: np.ndarray) -> np.ndarray:
        """The SMU reads back its programmed voltage; in compliance the measured device voltage is noisy."""
        n = int(comp.sum())
        if n:
            v_dev[comp] *= 1.0 + self._pre.noise_v_rel * self._rng.standard_normal(n, dtype=np.float32)
        return v_dev

    def _v_at_current(self, g: np.ndarray, i: np.ndarray, v_prog: np.ndarray) -> np.ndarray:
        """Device voltage where g·V + I_off(V) = |i| (SMU in compliance); Newton from above (f convex, rising)."""
        if self.failed in ("short", "open"):
            return np.sign(v_prog) * np.minimum(np.abs(v_prog), i * _R_SHORT_OHM)
        p = self.p
        x = np.minimum(np.abs(v_prog), i / (g + p.g_off_s))
        h = 0.5 * p.g_off_s
        for it in range(30):
            e = np.exp(x / p.v_nl_v)
            ie = 1.0 / e
            f = g * x + h * p.v_nl_v * (e - ie) - i
            x = np.maximum(x - f / (g + h * (e + ie)), 0.0)
            if it % 2 and np.all(f <= 1e-9 * i):
                break
        return np.sign(v_prog) * x

    # ---------------------------------------------------------------- periodic fast path
    def _fast_cycles(self, v, dt, icc, n_cyc: int):
        """Vectorized read/write/read-type pattern; returns (cycles done, SegmentResult) or None if not applicable."""
        p, pre = self.p, self._pre
        if self.failed is not None or not p.has_ag:
            return None
        wr = np.flatnonzero(v >= p.v_th_v)
        if wr.size != 1:
            return None
        w, k = int(wr[0]), v.size
        c = float(icc[w])
        others = np.delete(np.arange(k), w)
        if not math.isfinite(c) or np.any((v[others] >= p.v_c_v) | (v[others] <= -p.v_reset_v)):
            return None
        g_cc = self._g_cc(c)
        if not 0.0 < g_cc < p.g_max_s / 2:
            return None
        n, g_ref = p.n_life, p.g_ref_s
        state = self._rng.bit_generator.state
        z = self._rng.standard_normal((n_cyc, 3), dtype=np.float32).astype(np.float64)
        # the write must reach compliance from g = 0 within its duration with every growth factor in play
        k_grow = np.exp(pre.cc_tau_g * z[:, 2])
        k_slow = max(self._k_grow, float(k_grow.max()))
        u_end = 1.0 / p.g_seed_s - dt[w] * float(self._grow_rate(v[w:w + 1])[0]) * self._k_grow / k_slow
        g_free = 1.0 / u_end - p.g_seed_s if u_end > 1.0 / (p.g_max_s + p.g_seed_s) else p.g_max_s
        if g_free * v[w] + float(self._i_off(v[w])) < c or g_cc * math.exp(pre.cc_g_set * z[:, 0].max()) > p.g_max_s:
            self._rng.bit_generator.state = state
            return None
        # decay in x = (g/g_ref)^n, which falls linearly in time (closed form)
        x_set = (g_cc / g_ref) ** n * np.exp((n * pre.cc_g_set) * z[:, 0])
        k_life = np.exp(pre.cc_t_life * z[:, 1])
        tl = p.t_life_ref_s
        t_gap, t_w0 = float(dt[w + 1:].sum()), float(dt[:w].sum())
        x_src = np.empty(n_cyc)                 # the pre-write segments of cycle i decay from write i-1
        x_src[0], x_src[1:] = (self.g_s / g_ref) ** n, x_set[:-1]
        r_src = np.empty(n_cyc)                 # decay rate of x
        r_src[0], r_src[1:] = 1.0 / (tl * self._k_life), 1.0 / (tl * k_life[:-1])
        off_src = np.full(n_cyc, t_gap)
        off_src[0] = 0.0
        x_before = x_src - (off_src + t_w0) * r_src
        if np.any(x_before >= (2.0 * g_cc / g_ref) ** n):                # a big filament survives: not this path
            self._rng.bit_generator.state = state
            return None
        thr = 0.05 * g_ref
        was_on = x_before >= (thr / g_ref) ** n
        was_on[0] &= self.on
        nv = x_set >= (self._g_nv / g_ref) ** n
        event = ~(was_on & nv)
        # wear-out: stop the fast path at the failing cycle (it is still done here; the rest falls back),
        # except a "stuck_on" failure, whose filament must not relax after the failing write: that cycle
        # falls back too (the fast path's relaxation knows nothing of the failure)
        m = n_cyc
        for is_nv, cnt, lim in ((True, self._n_nv, p.n_fail_nv), (False, self._n_vol, p.n_fail_vol)):
            sel = event & nv if is_nv else event & ~nv
            if cnt + int(sel.sum()) >= lim:
                mode = pre.fail_nv if is_nv else pre.fail_vol
                m = min(m, int(np.argmax(cnt + np.cumsum(sel) >= lim)) + (mode != "stuck_on"))
        if m == 0:
            self._rng.bit_generator.state = state
            return None
        if m < n_cyc:
            self._rng.bit_generator.state = state
            self._rng.standard_normal((m, 3), dtype=np.float32)
        x_mat = np.zeros((m, k))
        x_mat[:, :w] = x_src[:m, None] - (off_src[:m, None] + np.cumsum(dt[:w])) * r_src[:m, None]
        x_mat[:, w + 1:] = x_set[:m, None] - np.cumsum(dt[w + 1:]) / (tl * k_life[:m, None])
        np.maximum(x_mat, 0.0, out=x_mat)
        g_mat = (x_mat.astype(np.float32) ** np.float32(1.0 / n)).astype(np.float64)
        g_mat *= g_ref
        g_mat[:, w] = g_ref * x_set[:m] ** (1.0 / n)
        i_free = g_mat * v + self._i_off(v)
        comp = np.abs(i_free) > icc
        if comp[:, others].any():                                         # a read in compliance: not this path
            self._rng.bit_generator.state = state
            return None
        # commit the state
        self._n_nv += int(np.sum(event[:m] & nv[:m]))
        self._n_vol += int(np.sum(event[:m] & ~nv[:m]))
        if self._n_nv >= p.n_fail_nv and self._wear is None:
            self._wear = pre.fail_nv
        if self._n_vol >= p.n_fail_vol and self._wear is None:
            self._wear = pre.fail_vol
        self._k_life, self._k_grow = float(k_life[m - 1]), float(k_grow[m - 1])
        self.g_s = float(g_mat[-1, -1])
        self.on = bool(g_mat[-1, w:].min() >= thr)
        self.t_s += float(dt.sum()) * m
        td, tb = pre.tau_c_decay_s, pre.tau_c_build_s
        e_pre, e_w, e_post = math.exp(-t_w0 / td), math.exp(-float(dt[w]) / tb), math.exp(-t_gap / td)
        a_c, b_c = e_post * e_w * e_pre, e_post * (1.0 - e_w)          # c_next = a_c·c + b_c per cycle
        self.c = a_c ** m * self.c + b_c * (1.0 - a_c ** m) / (1.0 - a_c)
        cw = comp[:, w]
        i = np.where(comp, np.sign(v) * icc, i_free)
        v_dev = np.repeat(v[None, :], m, axis=0)
        if cw.any():
            v_dev[cw, w] = self._v_at_current(g_mat[cw, w], np.full(int(cw.sum()), c), np.full(int(cw.sum()), v[w]))
        return m, SegmentResult(self._noisy_i(i).ravel(), self._noisy_v(v_dev, comp).ravel(), comp.ravel())


class Die:
    """A die of n seeded devices of one preset; same (preset, seed) → the same die, bit for bit."""

    def __init__(self, n_devices: int = 25, preset: str = "OGB-Ag", seed: int = 0):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; allowed: {sorted(PRESETS)}")
        if int(n_devices) < 1:
            raise ValueError("n_devices must be >= 1")
        self.preset, self.seed, self.n_devices = preset, int(seed), int(n_devices)
        pre = PRESETS[preset]
        self._devices = [Memristor(pre, *_sample_params(pre, self.seed, k)) for k in range(self.n_devices)]

    def device(self, k: int) -> Memristor:
        if not 0 <= int(k) < self.n_devices:
            raise ValueError(f"device index {k} outside 0..{self.n_devices - 1}")
        return self._devices[int(k)]

    def describe(self) -> dict[str, Any]:
        return {"preset": self.preset, "seed": self.seed, "n_devices": self.n_devices,
                "preset_params": asdict(PRESETS[self.preset]),
                "devices": [d.params for d in self._devices]}


# -------------------------------------------------------------------- helpers
def _validate(v_v, dt_s, icc_a) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.asarray(v_v, dtype=np.float64)
    dt = np.asarray(dt_s, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or dt.shape != v.shape:
        raise ValueError(f"v_v and dt_s must be non-empty 1-D arrays of equal length, got {v.shape} and {dt.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("v_v must be finite")
    if not np.all(np.isfinite(dt) & (dt > 0)):
        raise ValueError("dt_s must be finite and > 0")
    icc = np.broadcast_to(np.asarray(icc_a, dtype=np.float64), v.shape) if np.ndim(icc_a) == 0 \
        else np.asarray(icc_a, dtype=np.float64)
    if icc.shape != v.shape:
        raise ValueError(f"icc_a must be a scalar or have shape {v.shape}, got {icc.shape}")
    if np.any(np.isnan(icc) | (icc <= 0)):
        raise ValueError("icc_a must be > 0 (np.inf for no compliance)")
    return v, dt, icc


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(val) for k, val in x.items()}
    if isinstance(x, np.integer):
        return int(x)
    return x
