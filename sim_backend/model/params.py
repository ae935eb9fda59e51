"""Parameters of the device families (presets), their device-to-device sampling and the random streams.

Tags: [B] the paper (John, Demirağ et al., Nat. Commun. 13, 2074 (2022)), [R] reference/device-models.md
(section), [L] literature cited by author/year, [D] chosen here to meet a [B] target (the target is named).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

G0_S = 7.748e-5      # conductance quantum 2e²/h
FAILURES = ("stuck_on", "stuck_off", "short", "open")


@dataclass(frozen=True)
class Preset:
    """Nominal parameters of one device family (ligand / top electrode) and their spreads."""

    name: str
    has_ag: bool = True                # Au top electrode: no Ag source, no switching [B Suppl. Fig. 14]
    # --- insulator (HRS) leakage: I = g_off·v_nl·sinh(V/v_nl)
    g_off_s: float = 10e-9             # I(0.1 V) ≈ 1 nA: endurance floor, volatile ON/OFF ≈ 1e3 at 1 µA [B, R §3]
    v_nl_v: float = 1.0                # I(5 V) ≈ 0.7 µA ≪ 1 mA: an Au device never "sets" [B Suppl. Fig. 14]
    # --- diffusive regime: Ag⁺ injected into the NC matrix builds a thin cluster bridge g_v
    v_th_v: float = 0.35               # growth (and hold) threshold, 0.3–0.6 V [R §2.2 step 3, §3]
    v_k_v: float = 0.4                 # e-fold of the hopping rate per 0.4 V [D]: 1 V 20 ms spike partial, 2 V 5 ms write sets in ≈ 2 ms
    tau_g1_s: float = 0.4              # growth time at 1 V: one 1 V 20 ms spike gives ≈ 0.4 µS (below 1 µA) [D]
    g_b_s: float = 8e-6                # saturated cluster bridge; DC set < 1 V at 3.75 V/s [B: sub-1 V set]
    tau_v_s: float = 8e-3              # bridge relaxation at V < v_th: 5–20 ms, < 23 ms memory, ON/OFF ≈ 1e3 [B]
    # --- drift regime: thermal runaway of the bridge above i_lat thickens it into a metallic filament
    i_lat_a: float = 1.15e-6           # above the volatile 1 µA Icc, below the bridge current of a sub-1 V set [B, D]
    v_c_v: float = 0.29                # growth stops at V_dev = v_c: G = Icc/v_c (universal relation) [R §2.4, §3; L Ielmini 2011]
    g_max_s: float = 5e-3              # thickest filament (no compliance, PMU): ≈ 5 mA at 1 V [D]
    g_crit_s: float = 50e-6            # Gibbs–Thomson/atomic-contact stability ≈ 0.65 G0 [L Ohno 2011; D: 29 µA level ≥ 2×]
    t_sub_s: float = 7e-3              # sub-critical filament lifetime at 1 µS, T ∝ g² (φ⁴) [L Wang 2019, R §2.4]
    nu_1ms: float = 0.003              # power-law drift G ∝ (1 + t/t0)^-ν of a stable filament at 1 mS [R §2.7.3, L Boybat 2018]
    t0_drift_s: float = 1.0
    v_reset_v: float = 0.8             # RESET threshold magnitude (negative bias) [D: RESET < -0.3 V on a -7 V sweep]
    tau_r0_s: float = 1e-3             # dissolution time at -v_reset [D]
    v_rs_v: float = 0.1                # dissolution acceleration per volt [D]
    # --- device-to-device spreads (lognormal σ of a multiplicative factor) [R §2.9]
    sd_v_th: float = 0.10
    sd_tau_g: float = 0.15
    sd_tau_v: float = 0.25
    sd_i_lat: float = 0.03
    sd_g_set: float = 0.07
    sd_g_off: float = 0.70             # σ_log10 ≈ 0.3 decade [R §2.9]
    sd_v_reset: float = 0.15
    sd_nu: float = 0.30
    # --- cycle-to-cycle spreads, drawn at each switching event [R §2.9; L Ambrogio 2014 for the HRS]
    cc_g_set: float = 0.07             # programmed LRS σ_p 5–15 % [R §2.9]
    cc_tau_g: float = 0.15             # growth speed of the next SET
    cc_tau_v: float = 0.10             # relaxation time; 0.2 [R §2.9] gives OFF-read tails (the read sits at ≈ 5τ) the paper's flat endurance plot lacks [D]
    cc_hrs: float = 0.25               # HRS after relaxation/reset, lognormal (σ_log10 ≈ 0.11) [R §2.9; L Ambrogio 2014]
    # --- read noise [R §2.9: ~1 % short-term]
    noise_i_rel: float = 0.01
    noise_i_abs_a: float = 5e-12
    noise_v_rel: float = 1e-4
    # --- wear-out: Weibull failure cycle per mode [R §2.9], gradual degradation before it [D]
    median_fail_vol: float = 2e6       # OGB volatile endurance [B]
    median_fail_nv: float = 5655.0     # OGB non-volatile endurance [B]
    weibull_k: float = 2.0
    fail_vol: str = "stuck_off"        # [D] threshold switching ceases (paper silent for OGB)
    fail_nv: str = "stuck_on"          # non-erasable LRS, typical for Ag CBRAM [R §2.9]
    wear_p: float = 3.0                # degradation ∝ (n / n_fail)^p
    wear_hrs: float = 2.0              # HRS leakage ×(1 + 2 w^p): ×3 at end of life (window narrowing)
    wear_grow: float = 0.3             # Ag supply: growth ×(1 − 0.3 w^p)
    wear_lrs: float = 0.3              # non-volatile LRS ×(1 − 0.3 w^p) (falling LRS)


PRESETS: dict[str, Preset] = {
    "OGB-Ag": Preset("OGB-Ag"),
    # DDAB: ON/OFF ≈ 10 (leaky HRS, I(0.1 V) ≈ 70 nA), ≈ 10 volatile cycles then a permanent filament,
    # ≈ 50 non-volatile cycles then non-erasable [B Results, Suppl. Figs. 3, 7]
    "DDAB-Ag": Preset("DDAB-Ag", g_off_s=0.7e-6, sd_g_off=0.25, median_fail_vol=10.0, median_fail_nv=50.0,
                      fail_vol="stuck_on", fail_nv="stuck_on"),
    # Au top electrode: leaky insulator, never reaches 1 mA, no abrupt current increase [B Suppl. Fig. 14]
    "OGB-Au": Preset("OGB-Au", has_ag=False),
    "DDAB-Au": Preset("DDAB-Au", has_ag=False, g_off_s=0.7e-6, sd_g_off=0.25),
}


@dataclass(frozen=True)
class DeviceParams:
    """One device after device-to-device sampling (JSON-able via ``asdict``)."""

    preset: str
    index: int
    has_ag: bool
    g_off_s: float
    v_nl_v: float
    v_th_v: float
    v_k_v: float
    tau_g1_s: float
    g_b_s: float
    tau_v_s: float
    i_lat_a: float
    v_c_v: float
    g_set_factor: float   # multiplies Icc/v_c (d2d LRS slope)
    g_max_s: float
    g_crit_s: float
    t_sub_s: float
    nu_1ms: float
    t0_drift_s: float
    v_reset_v: float
    tau_r0_s: float
    v_rs_v: float
    n_fail_vol: int
    n_fail_nv: int


def streams(preset: str, seed: int, index: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(parameter stream, noise stream) of one device: keyed by seed, preset and index, so two presets of
    one seed never share draws (a DDAB and an OGB die had the same failure ranking in model v1)."""
    key = zlib.crc32(preset.encode())
    prm, noise = np.random.SeedSequence([int(seed), key, int(index)]).spawn(2)
    return prm, noise


def sample_params(p: Preset, seed: int, index: int) -> tuple[DeviceParams, np.random.Generator]:
    """Draw one device's parameters (d2d) and its own noise/c2c generator."""
    prm_ss, noise_ss = streams(p.name, seed, index)
    r = np.random.default_rng(prm_ss)
    z = r.standard_normal(8)
    u = r.random(2)
    k = p.weibull_k
    n_vol, n_nv = (max(1, math.ceil(med / math.log(2.0) ** (1 / k) * (-math.log1p(-uu)) ** (1 / k)))
                   for med, uu in ((p.median_fail_vol, u[0]), (p.median_fail_nv, u[1])))
    e = np.exp
    return DeviceParams(
        preset=p.name, index=int(index), has_ag=p.has_ag,
        g_off_s=p.g_off_s * float(e(p.sd_g_off * z[0])), v_nl_v=p.v_nl_v,
        v_th_v=p.v_th_v * float(e(p.sd_v_th * z[1])), v_k_v=p.v_k_v,
        tau_g1_s=p.tau_g1_s * float(e(p.sd_tau_g * z[2])), g_b_s=p.g_b_s,
        tau_v_s=p.tau_v_s * float(e(p.sd_tau_v * z[3])),
        # the runaway threshold stays above the volatile 1 µA compliance on every device (≥ 1.05 µA)
        i_lat_a=max(p.i_lat_a * float(e(p.sd_i_lat * z[4])), 1.05e-6),
        v_c_v=p.v_c_v, g_set_factor=float(e(p.sd_g_set * z[5])), g_max_s=p.g_max_s, g_crit_s=p.g_crit_s,
        t_sub_s=p.t_sub_s, nu_1ms=p.nu_1ms * float(e(p.sd_nu * z[6])), t0_drift_s=p.t0_drift_s,
        v_reset_v=p.v_reset_v * float(e(p.sd_v_reset * z[7])), tau_r0_s=p.tau_r0_s, v_rs_v=p.v_rs_v,
        n_fail_vol=n_vol, n_fail_nv=n_nv,
    ), np.random.default_rng(noise_ss)
