"""Rows of the main die (OGB-Ag by default) from its stored runs: both modes, the Icc ladder, reconfiguration.

Every number is read from a run of a real protocol — its summary (what ``labrc show`` prints for the same
run) or its stored stream — never computed from the device model. The Icc → G rows are measured, but
G ≈ Icc / v_c follows from the model's critical filament voltage (a model parameter), so they check the
instrument path and the compliance physics rather than an independent property of the device; the note
says so.
"""

from __future__ import annotations

import numpy as np

from protocols.icc_set import IccSetParams, icc_fit
from protocols.reconfigure import ReconfigureParams

from .jobs import runs_note, stream, tagged, value
from .report import Row, pct, spread_text

__all__ = ["icc_rows", "nonvolatile_rows", "reconfigure_rows", "spread_rows", "volatile_rows"]

CIRCULAR = "; G ≈ Icc / v_c follows from the model's v_c (a model parameter): this checks the instrument path"


def _values(rr: list[dict], key: str) -> np.ndarray:
    return np.array([value(r, key) for r in rr], dtype=np.float64)


def _set_voltage_row(iv: list[dict], v_set: np.ndarray, target: str, how: str) -> Row:
    """The paper's "SET below 1 V" on the p90 of the die, from the iv-sweep runs ``iv`` (both modes)."""
    _, _, hi = pct(v_set)
    return Row(target, "< 1 V", hi, "V", "< 1 V", bool(hi < 1.0 and np.isfinite(v_set).all()),
               f"{how}; {len(iv)} devices: {spread_text(v_set, 'V')}; {runs_note(iv)}", tolerance_source="paper")


def volatile_rows(results: list[dict]) -> list[Row]:
    """SET voltage, ON/OFF, relaxation, memory and reverse bias of the volatile (1 µA) mode."""
    rows = []
    iv = tagged(results, "iv_vol")
    v_set = _values(iv, "set_v")
    rows.append(_set_voltage_row(iv, v_set, "volatile SET voltage, p90 of die (Icc 1 µA)",
                                 "iv-sweep preset volatile (0→2→0 V at 1 µA); SET = its summary's set_v (first point "
                                 "of the up branch at ≥ half the peak current)"))
    ev = tagged(results, "end_vol")
    cyc = [stream(r, "cycles") for r in ev]
    onoff = np.concatenate([c["on_off"] for c in cyc]) if cyc else np.empty(0)
    no_cc = int(sum(int(np.sum(c["compliance"] == 0)) for c in cyc))
    m_on = float(np.nanmedian(onoff)) if onoff.size else float("nan")
    rows.append(Row("volatile ON/OFF (I@2 V write / I@0.1 V read), median", "≈ 1e3", m_on, "",
                    "1e2 … 1e4 (within a decade)", bool(1e2 <= m_on <= 1e4),
                    f"volatile-endurance (Methods pattern: read 0.1 V / write 2 V 5 ms at 1 µA / 30 ms at 0 V), "
                    f"{onoff.size} cycles over {len(ev)} devices; median over cycles, p10 "
                    f"{np.nanpercentile(onoff, 10) if onoff.size else float('nan'):.3g}, p90 "
                    f"{np.nanpercentile(onoff, 90) if onoff.size else float('nan'):.3g}; writes without compliance: "
                    f"{no_cc}; {runs_note(ev)}", tolerance_source="chosen (paper: '~10^3', an order of magnitude)"))
    rx = tagged(results, "relaxation")
    s = rx[0]["summary"] if rx else {}
    tau = np.asarray(s.get("tau_s", []), dtype=np.float64) * 1e3
    m, lo, hi = pct(tau)
    rows.append(Row("volatile relaxation time (1/e), median", "5–20 ms (≥ 5 ms)", m, "ms", "5 … 20 ms",
                    bool(5 <= m <= 20 and np.isfinite(tau).all() and tau.size),
                    f"volatile-relaxation (1 V {1e3 * s.get('spike_s_median', float('nan')):.3g} ms spike at 1 µA, "
                    f"then 0.1 V reads on the list grid, same list); filament G (I/V_meas − G_off) relative to the "
                    f"spike's end; {tau.size} devices: p10 {lo:.3g} ms, p90 {hi:.3g} ms; "
                    f"not relaxed to 1/e: {int(np.sum(~np.isfinite(tau)))}; {runs_note(rx)}",
                    tolerance_source="paper ('short-term memory between 5 and 20 ms')"))
    left = np.asarray(s.get("left", []), dtype=np.float64) * 100
    m, lo, hi = pct(left)
    rows.append(Row("state reflects the last < 23 ms: G left 23 ms after a spike", "memory < 23 ms", m, "%",
                    "≤ 10 % (median)", bool(m <= 10), f"volatile-relaxation, fraction of the filament G left at its t_memory_s (23 ms); {left.size} devices: p10 "
                    f"{lo:.3g} %, p90 {hi:.3g} %; {runs_note(rx)}",
                    tolerance_source="chosen (paper: '< 23 ms', no level given)"))
    rev = tagged(results, "reverse")
    n_sw, i_max = 0, 0.0
    for r in rev:
        p = stream(r, "points")
        neg = p["v_set"] < 0
        icc = float(p["icc"][neg][0]) if neg.any() else float("nan")
        i_neg = float(np.max(np.abs(p["i_meas"][neg]))) if neg.any() else float("nan")
        i_max = max(i_max, i_neg)
        n_sw += int(bool(p["compliance"].any()) or not i_neg <= 0.5 * icc)
    rows.append(Row("no switching under reverse bias (volatile)", "none", n_sw, "devices", "0 devices switch",
                    n_sw == 0 and bool(rev),
                    f"iv-sweep volatile preset mirrored: 0→−2→0 V at 1 µA; switched = any point in compliance or "
                    f"|I| > Icc/2; {len(rev)} devices; largest |I| {i_max * 1e9:.3g} nA; {runs_note(rev)}",
                    tolerance_source="paper"))
    return rows


def nonvolatile_rows(results: list[dict]) -> list[Row]:
    """SET and RESET voltages of the non-volatile sweep, ON/OFF of the Methods' non-volatile pattern."""
    rows = []
    iv = tagged(results, "iv_nv")
    per = f"{len(iv)} devices"
    v_nv = _values(iv, "set_v")
    rows.append(_set_voltage_row(iv, v_nv, "non-volatile SET voltage, p90 of die (Icc 1 mA)",
                                 "iv-sweep preset nonvolatile (0→5→0 V at 1 mA, 0→−7→0 V at 10 mA); SET = set_v of "
                                 "its summary"))
    v_rs = _values(iv, "reset_v")
    m, lo, hi = pct(v_rs)
    rows.append(Row("non-volatile RESET voltage, median", "negative (sweep to −7 V)", m, "V",
                    "every device resets, at −7 V < V < 0", bool(np.isfinite(v_rs).all() and np.all(v_rs < 0)),
                    f"same runs; RESET = reset_v of the summary (first point of the negative ramp where |I| falls "
                    f"below half the previous point); {per}: p10 {lo:.3g} V, p90 {hi:.3g} V; {runs_note(iv)}",
                    tolerance_source="paper"))
    en = tagged(results, "end_nv")
    on_nv = _values(en, "on_off_median")
    m, lo, hi = pct(on_nv)
    low = float(np.min(on_nv)) if on_nv.size else float("nan")
    rows.append(Row("non-volatile ON/OFF at 0.1 V, min of die", "≥ 1e3", low, "", "≥ 1e3",
                    bool(low >= 1e3 and np.isfinite(on_nv).all()),
                    f"nonvolatile-endurance (Methods: read 0.1 V / +5 V 1 mA / read / −7 V erase), "
                    f"{value(en[0], 'cycles') if en else 0:.0f} cycles per device; per-device median ON/OFF, "
                    f"{len(en)} devices: median {m:.3g}; {runs_note(en)}", tolerance_source="paper"))
    return rows


def icc_rows(results: list[dict]) -> list[Row]:
    """Icc → G slope, intercept, linearity and the readout's range, one pooled fit over the die."""
    ic = tagged(results, "icc")
    lv = [stream(r, "levels") for r in ic]
    icc = np.concatenate([x["icc"] for x in lv]) if lv else np.empty(0)
    g = np.concatenate([x["g_lrs"] for x in lv]) if lv else np.empty(0)
    fit = icc_fit({"icc": icc, "g_lrs": g})      # the icc-set protocol's own fit, over the whole die
    a = fit.get("slope_s_per_a", float("nan"))
    b = fit.get("intercept_s", float("nan"))
    r2 = fit.get("r2", float("nan"))
    levels = np.unique(icc)
    q = IccSetParams()
    note = (f"icc-set (SET 0→{q.v_set_v:g}→0 V at Icc, read {q.v_read_v:g} V, RESET to {q.v_reset_v:g} V at "
            f"{q.icc_reset_a * 1e3:g} mA, read) with {levels.size} levels "
            f"{levels[0] * 1e6:.3g} … {levels[-1] * 1e6:.3g} µA" if levels.size else "icc-set: no levels")
    note += (f"; one pooled fit over {len(ic)} devices × {icc.size // max(len(ic), 1)} programmings (d2d + c2c "
             f"scatter included){CIRCULAR}; {runs_note(ic)}")
    rows = [Row("Icc → G slope (29 µA–1 mA)", "linear; ≈ 3.5 S/A (0.1–3.5 mS)", a, "S/A", "2.8 … 4.2 S/A (±20 %)",
                bool(2.8 <= a <= 4.2), note, tolerance_source="chosen (±20 % of the paper's range / Icc span)"),
            Row("Icc → G intercept", "≈ 0", b * 1e3, "mS", "|b| ≤ 0.1 mS", bool(abs(b) <= 1e-4),
                f"the slope's fit; {runs_note(ic)}", tolerance_source="chosen (the lowest readout level, 0.1 mS)"),
            Row("Icc → G linearity R²", "linear", r2, "", "R² ≥ 0.95", bool(r2 >= 0.95), f"the slope's fit; {runs_note(ic)}",
                tolerance_source="chosen")]
    g_lo = float(np.median(g[icc == levels[0]])) * 1e3 if levels.size else float("nan")
    g_hi = float(np.median(g[icc == levels[-1]])) * 1e3 if levels.size else float("nan")
    rows.append(Row("readout range G(29 µA) … G(1 mA)", "0.1–3.5 mS", g_hi, "mS",
                    "G(29 µA) 0.07–0.13 mS and G(1 mA) 2.45–4.55 mS (±30 %)",
                    bool(0.07 <= g_lo <= 0.13 and 2.45 <= g_hi <= 4.55),
                    f"medians over the die of the ladder's ends: G(29 µA) = {g_lo:.3g} mS, G(1 mA) = {g_hi:.3g} mS "
                    f"(measured column){CIRCULAR}; {runs_note(ic)}", tolerance_source="chosen (±30 % of the paper's ends)"))
    return rows


def reconfigure_rows(results: list[dict]) -> list[Row]:
    rc = tagged(results, "reconfigure")
    n_rc = int(sum(bool(r["summary"].get("returned_to_volatile")) for r in rc))
    frac = [r["summary"].get("volatile-after_volatile_fraction", float("nan")) for r in rc]
    q = ReconfigureParams()
    return [Row("reconfigures back to volatile after NV programming + RESET", "yes", n_rc, "devices",
                f"all {len(rc)} devices", n_rc == len(rc) and bool(rc),
                f"reconfigure ({q.n_volatile} volatile sweeps at {q.icc_volatile_a * 1e6:g} µA → {q.n_levels} "
                f"non-volatile levels {q.nv_icc_min_a * 1e6:g} … {q.nv_icc_max_a * 1e6:g} µA, each RESET → "
                f"{q.n_volatile} volatile sweeps); reconfigured = its summary's returned_to_volatile (≥ 90 % of the "
                f"later sweeps switch and read below {q.g_volatile_max_s * 1e6:g} µS after {q.rest_s * 1e3:g} ms at "
                f"0 V); relaxed fraction per device "
                f"{', '.join(f'{x:.2f}' for x in frac)}; {runs_note(rc)}", tolerance_source="paper")]


def spread_rows(results: list[dict], n_die: int) -> list[Row]:
    """Device-to-device spread of the volatile SET voltage and of the LRS conductance at 1 mA."""
    rows = []
    vol, nv = tagged(results, "iv_vol"), tagged(results, "iv_nv")
    v_set = _values(vol, "set_v")
    g_lrs = _values(nv, "i_read_down_a") / 0.1 * 1e3   # iv_summary reads at 0.1 V
    for label, x, unit, how in (("SET voltage (volatile)", v_set, "V", f"iv-sweep volatile set_v; {runs_note(vol)}"),
                                ("LRS conductance at 1 mA", g_lrs, "mS", (
                                    f"iv-sweep nonvolatile: 0.1 V on the way down from +5 V at 1 mA; {runs_note(nv)}"))):
        x = x[np.isfinite(x)]
        cv = float(np.std(x) / np.mean(x)) * 100 if x.size > 1 else float("nan")
        m, lo, hi = pct(x)
        rows.append(Row(f"d2d spread: CV of {label}", f"{n_die} devices, d2d variation", cv, "%",
                        "1–30 % (present, bounded)", bool(1 <= cv <= 30),
                        f"coefficient of variation over {x.size} devices ({how}): median {m:.3g} {unit}, p10 {lo:.3g}, "
                        f"p90 {hi:.3g}", tolerance_source="chosen (paper: variability captured, no figure)"))
    return rows
