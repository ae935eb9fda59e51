"""Simulated Ag / CsPbBr3-NC / polyTPD / PEDOT:PSS / ITO memristor, model v2 (John, Demirağ et al. 2022).

Two filament populations, one for each regime the paper describes (DESIGN §5; reference/device-models.md
§2.4, §2.7.3 "two filament variables"); the equations are in :mod:`.kinetics`, parameters with sources in
:mod:`.params`:

* **Diffusive (volatile) regime — a thin Ag cluster bridge ``g_v``.** Ag⁺ from the top electrode only hops into
  the NC matrix for V ≥ v_th (nothing grows under reverse bias: "no switching under reverse bias" [B]); the
  bridge saturates toward g_b at a rate rising e-fold per 0.4 V; the field holds it while V ≥ v_th (hold
  region, Patni/Kvatinsky V-VTEAM [R §2.3]) and it back-diffuses exponentially with τ_v ≈ 8 ms (5–20 ms [B];
  Wang et al., Nat. Mater. 2017, diffusive Ag dynamics [R §2.1]) below it. A 1 V 20 ms spike therefore
  grows it only partly (≈ 0.4 µS, 0.4 µA at 1 V): spikes 5 ms apart *accumulate* and saturate gradually
  (also by the compliance: once g·V → Icc the device voltage falls and growth slows), a 70 ms Tonic train
  does not ("accumulative behaviour within each high-frequency group … Tonic … no observable
  accumulation" [B]). A slow DC sweep (3.75 V/s) integrates ≈ 3× a spike's growth and sets below 1 V [B].
  In compliance the bridge creeps while V_dev > v_th, so G_on(1 µA) ≈ 0.7–1.5 µS: a −0.5 V read of a
  volatile state stays below 1 µA.
* **Drift (non-volatile) regime — a thick filament ``g_d``.** A bridge carrying more than i_lat ≈ 1.15 µA
  runs away (Joule-assisted Ag⁺ reduction, lateral growth) until the device voltage falls to v_c: G ≈
  Icc/v_c, linear in Icc (29 µA → 0.1 mS … 1 mA → 3.5 mS [B]; universal R_LRS = V_c/I_C, Ielmini IEEE TED
  2011 [R §3]). At 1 µA the SMU never lets it carry i_lat: the volatile mode *is* the compliance [B: "≤ 1 V
  and ≤ 1 µA"]. A filament above g_crit = 50 µS (≈ 0.65 G0: an atomic Ag contact; Ohno et al., Nat. Mater.
  2011, Ag₂S atomic switch: short-term below ~G0, long-term above) is stable and only drifts as a power law
  (ν ≈ 0.003·(1 mS/G)^½ → at 10⁵ s −10 % at 0.1 mS, −2 % at 3.5 mS; ν ≲ 0.01 [R §2.7.3], Boybat et al. 2018);
  below it it dissolves by surface diffusion, t ∝ G² (Wang et al., Nat. Commun. 2019 [R §2.4]). RESET at
  negative bias (V ≤ −v_reset ≈ −0.8 V) dissolves it — if the erase compliance lets the device reach −v_reset
  (1 mA on the erase clamps it near −v_c: the paper applies 1 mA "during SET operation" [B]). Without
  compliance (PMU) the filament grows to the ceiling g_max (a hard SET). After RESET the device is volatile
  again (reconfigurable [B]).
* **Variability** [R §2.9]: device-to-device lognormal factors (HRS σ_log10 0.3, v_th 0.1, τ_v 0.3, growth 0.15,
  LRS slope 0.07, ν 0.3) from ``SeedSequence([seed, crc32(preset), index])`` — every preset has its own
  streams; cycle-to-cycle factors drawn at each switching event (LRS σ_p 7 %, HRS lognormal σ_ln 0.25 as in
  Ambrogio et al., IEEE TED 2014, growth 0.15, τ_v 0.1); read noise 1 % + 5 pA.
* **Wear-out** [R §2.9]: a Weibull (k = 2) failure cycle per device and mode, medians from the paper (OGB 2×10⁶
  volatile, 5655 non-volatile; DDAB 10 / 50). Before it the device degrades with w = (n/n_fail)³: HRS leakage
  ×(1 + 2w) (window narrowing, ON/OFF ÷3 at end of life), bridge growth ×(1 − 0.3w), non-volatile LRS
  ×(1 − 0.3w). Then it fails the way the paper describes: OGB volatile stuck OFF (no more growth: threshold
  switching ceases [D]); DDAB volatile falls into a non-volatile state (the filament of the failing cycle is
  kept, stuck ON); non-volatile stuck ON (non-erasable [B DDAB, R §2.9]). Au top electrode: no Ag, no
  switching [B Suppl. Fig. 14].

Cycles are counted at switching events: a volatile cycle when a write brings an OFF bridge to compliance
(or makes a sub-critical filament), a non-volatile one when a runaway makes a stable filament. Everything is
closed form between piecewise-constant segments (growth, creep and relaxation in runs; the runs between
switching events of a device without a drift filament all at once, :mod:`.runs`), periodic blocks are
vectorized over cycles (:mod:`.cycles`) and :meth:`Die.apply_cycles_all` drives several devices at once.
Tags: [B] paper, [R] reference/device-models.md, [D] chosen here to meet a [B] target.

Modules, one job each: :mod:`.params` (presets, d2d sampling, random streams), :mod:`.kinetics` (the
closed-form laws), :mod:`.device` (a device's state, its snapshot, the entry points), :mod:`.bridge` (the
diffusive bridge), :mod:`.filament` (the drift filament), :mod:`.wear` (switching events, counters, wear),
:mod:`.measure` (compliance clamp, read noise, input checks), :mod:`.chain` (the segment-chain solver),
:mod:`.cycles` (periodic patterns vectorized over cycles), :mod:`.runs` (the runs of a list between switching
events at once: spike trains), :mod:`.die` (a die of devices).
"""

from .device import Memristor
from .die import Die
from .measure import SegmentResult, validate
from .params import FAILURES, G0_S, PRESETS, DeviceParams, Preset, sample_params, streams

__all__ = ["Die", "Memristor", "SegmentResult", "PRESETS", "Preset", "DeviceParams", "FAILURES", "G0_S",
           "sample_params", "streams", "validate"]
